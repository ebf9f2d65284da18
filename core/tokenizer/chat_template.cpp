#include "core/tokenizer/chat_template.h"

#include "core/tokenizer/jinja.h"
#include "core/tokenizer/tokenizer.h"

namespace mlxr {

Json ChatMessage::to_json() const {
  if (raw.is_object()) return raw;
  Json::Object o;
  o.emplace_back("role", role);
  o.emplace_back("content", content);
  if (!tool_calls.is_null()) o.emplace_back("tool_calls", tool_calls);
  if (!name.empty()) o.emplace_back("name", name);
  if (!tool_call_id.empty()) o.emplace_back("tool_call_id", tool_call_id);
  return Json(std::move(o));
}

Expected<ChatMessage> ChatMessage::from_json(const Json& j) {
  if (!j.is_object()) return make_error("chat: a message must be an object with \"role\" and \"content\"");
  const Json* role = j.find("role");
  if (!role || !role->is_string()) return make_error("chat: message without a string \"role\"");
  ChatMessage m;
  m.role = role->as_string();
  if (const Json* c = j.find("content"); c && c->is_string()) m.content = c->as_string();
  if (const Json* t = j.find("tool_calls")) m.tool_calls = *t;
  m.name = j.get_string("name");
  m.tool_call_id = j.get_string("tool_call_id");
  m.raw = j;
  return m;
}

Expected<std::string> render_chat_json(const std::string& tmpl, const Json& messages,
                                       const ChatTemplateOptions& opts) {
  if (tmpl.empty()) return make_error("chat template: the model has no chat template (pass one explicitly)");
  MLXR_ASSIGN_OR_RETURN(auto t, jinja::Template::parse(tmpl));
  Json::Object ctx;
  ctx.emplace_back("messages", messages);
  ctx.emplace_back("add_generation_prompt", opts.add_generation_prompt);
  ctx.emplace_back("bos_token", opts.bos_token);
  ctx.emplace_back("eos_token", opts.eos_token);
  if (!opts.tools.is_null()) ctx.emplace_back("tools", opts.tools);
  if (opts.extra.is_object())
    for (auto& kv : opts.extra.as_object()) ctx.push_back(kv);
  return t->render(Json(std::move(ctx)));
}

Expected<std::string> render_chat(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                                  const ChatTemplateOptions& opts) {
  Json::Array arr;
  for (auto& m : msgs) arr.push_back(m.to_json());
  return render_chat_json(tmpl, Json(std::move(arr)), opts);
}

Expected<std::string> render_chat(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                                  bool add_generation_prompt, const std::string& bos,
                                  const std::string& eos, const Json& tools, const Json& extra) {
  ChatTemplateOptions o;
  o.add_generation_prompt = add_generation_prompt;
  o.bos_token = bos;
  o.eos_token = eos;
  o.tools = tools;
  o.extra = extra;
  return render_chat(tmpl, msgs, o);
}

namespace {

const char* kChatml =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const char* kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
const char* kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
    "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
const char* kGemma =
    "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
    "else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
    "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

}  // namespace

std::string chat_template_or_default(const Tokenizer& tok) {
  std::string t = tok.chat_template();
  if (!t.empty()) return t;
  if (tok.token_id("<|start_header_id|>") >= 0) return kLlama3;
  if (tok.token_id("<start_of_turn>") >= 0) return kGemma;
  if (tok.token_id("<|im_start|>") >= 0) return kChatml;
  if (tok.vocab().kind == VocabKind::kSpm && tok.bos_text() == "<s>") return kLlama2;
  return kChatml;
}

}  // namespace mlxr
