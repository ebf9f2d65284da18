// What the server needs from a loaded model, as an interface: the real implementation wraps
// mlxr::Engine (engine_model.cpp); tests use a fake. Mirrors daemon/scheduler/engine.h so the
// adapter is a field-by-field copy.
//
// Threading: submit/cancel/stats are thread-safe and cheap (admission only). on_token/on_done run
// on the engine worker; they must only hand work to the connection (post), never block.
// tokenize/render_chat/embed may be slow: call them from the daemon's worker pool, not I/O threads.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"
#include "core/sampling/sampling_params.h"

namespace mlxr::server {

struct ChatMessage {
  std::string role;     // system, user, assistant, tool
  std::string content;
  nlohmann::json extra = nlohmann::json::object();  // name, tool_calls, tool_call_id (passed to templates)
};

struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int max_tokens = -1;  // -1: until the context is full
  std::vector<std::string> stop;
  bool ignore_eos = false;
  int priority = 0;
};

struct GenToken {
  int32_t id = -1;
  std::string text;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top_logprobs;
};

enum class GenFinish { kStop, kLength, kCancelled, kError };

struct GenResult {
  GenFinish reason = GenFinish::kStop;
  std::string error;
  std::string trailing_text;
  int prompt_tokens = 0, completion_tokens = 0, cached_prompt_tokens = 0;
  double queue_ms = 0, ttft_ms = 0, prefill_ms = 0, decode_ms = 0;
};

struct GenCallbacks {
  std::function<bool(const GenToken&)> on_token;  // false: cancel
  std::function<void(const GenResult&)> on_done;  // exactly once, unless submit() failed
};

struct ModelStats {
  int waiting = 0, running = 0;
  int kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_cached = 0, kv_blocks_free = 0;
  uint64_t tokens_generated = 0, prompt_tokens_processed = 0, steps = 0;
  int last_batch_tokens = 0, last_batch_seqs = 0;
};

class ModelInstance {
 public:
  virtual ~ModelInstance() = default;
  virtual Expected<uint64_t> submit(GenRequest req, GenCallbacks cb) = 0;
  virtual void cancel(uint64_t id) = 0;
  virtual ModelStats stats() const = 0;

  // add_special: prepend BOS when the model wants it.
  virtual Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special) const = 0;
  virtual std::string token_text(int32_t id) const = 0;  // one token's piece (for logprobs)
  virtual std::string detokenize(const std::vector<int32_t>& ids) const = 0;
  // Renders the model's chat template (or template_override when non-empty, Jinja syntax) with a
  // trailing assistant prompt when add_generation_prompt.
  virtual Expected<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                            const std::string& template_override,
                                            bool add_generation_prompt) const = 0;
  virtual bool has_chat_template() const = 0;
  // Pooled, L2-normalised hidden state. Blocking (runs the model).
  virtual Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens) = 0;
  virtual int n_ctx() const = 0;
  virtual uint64_t memory_bytes() const = 0;  // weights + KV arena, for /api/ps
  virtual bool on_gpu() const = 0;
  virtual void shutdown() = 0;  // cancels everything; on_done is still called for each request
};

struct LoadSpec {
  std::string name;
  std::string path;
  std::string device = "auto";
  int threads = 0, n_ctx = 0, kv_blocks = 0, max_batch_tokens = 512, max_running = 64;
};

using ModelLoader = std::function<Expected<std::shared_ptr<ModelInstance>>(const LoadSpec&)>;

// The engine-backed loader (available when the engine is built: MLXR_HAVE_ENGINE).
ModelLoader engine_loader();
bool engine_available();

}  // namespace mlxr::server
