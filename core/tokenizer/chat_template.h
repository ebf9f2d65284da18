// Chat prompts from messages with the model's own template (GGUF tokenizer.chat_template or
// tokenizer_config.json), rendered by MLXR's Jinja-subset interpreter exactly as
// transformers/@huggingface/jinja render them.
#pragma once
#include <string>
#include <vector>

#include "core/base/json.h"
#include "core/base/status.h"

namespace mlxr {

class Tokenizer;

struct ChatMessage {
  std::string role, content;
  // Optional fields, as the OpenAI / HF message JSON has them (null when absent).
  Json tool_calls = Json();  // [{"type": "function", "function": {"name", "arguments"}}, ...]
  std::string name = {};     // tool name on tool messages
  std::string tool_call_id = {};
  // When set (an object), the message exactly as received: it is what templates see, so fields
  // like content: null, multimodal content lists or reasoning_content survive unchanged.
  Json raw = Json();

  Json to_json() const;
  static Expected<ChatMessage> from_json(const Json& j);
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  std::string bos_token, eos_token;
  Json tools;  // null: no `tools` variable at all (templates test `tools is defined` / `if tools`)
  Json extra;  // object of further variables (enable_thinking, date_string, ...)
};

Expected<std::string> render_chat(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                                  const ChatTemplateOptions& opts);
// The interface of the brief: BOS/EOS texts given directly.
Expected<std::string> render_chat(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                                  bool add_generation_prompt, const std::string& bos,
                                  const std::string& eos, const Json& tools = Json(),
                                  const Json& extra = Json());
// Messages given as a JSON array (the request body's "messages").
Expected<std::string> render_chat_json(const std::string& tmpl, const Json& messages,
                                       const ChatTemplateOptions& opts);

// The template a model ships, or a family default chosen from its special tokens when it ships
// none (ChatML, Llama 2 [INST], Llama 3 headers, Gemma turns).
std::string chat_template_or_default(const Tokenizer& tok);

}  // namespace mlxr
