// One generation job shared by all four text endpoints (OpenAI chat/completions, Ollama
// generate/chat): acquire the model (pool), render + tokenise (pool), submit n sequences to the
// engine, and hand every token and completion to an API-specific Sink on the connection's strand.
// A client that disconnects cancels the job's sequences (freeing their KV).
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/server/context.h"
#include "daemon/server/json_util.h"
#include "daemon/server/model_api.h"

namespace mlxr::server {

struct PromptSpec {
  enum Kind { kText, kChat, kTokens } kind = kText;
  std::string text;                 // kText
  std::vector<ChatMessage> messages;  // kChat
  std::vector<int32_t> tokens;      // kTokens
  bool raw = false;                 // kText: no template at all (Ollama raw, OpenAI completions)
  std::string template_override;    // Ollama "template" (Go {{ .Prompt }} style or Jinja)
  std::string system_override;      // Ollama "system"
  std::vector<int32_t> context;     // Ollama "context": tokens of the previous exchange
};

struct JobSpec {
  std::string model;                // as requested ("" = default)
  std::optional<double> keep_alive_s;
  json options = json::object();    // Ollama option names; merged over the model's PARAMETERs
  PromptSpec prompt;
  int n = 1;
  bool logprobs = false;
  int top_logprobs = 0;
};

struct Choice {
  uint64_t id = 0;
  bool done = false;
  std::string text;
  std::vector<GenToken> tokens;
  std::vector<int32_t> ids;
  GenResult result;
};

class Job;

class Sink {
 public:
  virtual ~Sink() = default;
  // All on the strand, in order: ready, then tokens/dones of each choice, then finished; or error.
  virtual void on_ready(Job&) {}
  virtual void on_token(Job&, int index, const GenToken& t) = 0;
  virtual void on_done(Job&, int index) {}
  virtual void on_finished(Job&) = 0;
  virtual void on_error(Job&, int status, const std::string& message) = 0;
};

class Job : public std::enable_shared_from_this<Job> {
 public:
  Job(ServerContext& ctx, std::shared_ptr<Responder> r, std::unique_ptr<Sink> sink, JobSpec spec);
  void start();  // on the strand

  // Filled before on_ready (read-only afterwards).
  const JobSpec& spec() const { return spec_; }
  const registry::ModelRecord& record() const { return record_; }
  const std::vector<int32_t>& prompt_tokens() const { return prompt_; }
  double load_ms() const { return load_ms_; }
  std::chrono::steady_clock::time_point started() const { return t0_; }
  std::vector<Choice>& choices() { return choices_; }
  Responder& responder() { return *resp_; }
  std::shared_ptr<ModelInstance> model() const { return model_; }
  ServerContext& ctx() { return ctx_; }

 private:
  void on_lease(Expected<std::shared_ptr<Lease>> lease);
  void fail(int status, const std::string& msg);
  void cancel_all();

  ServerContext& ctx_;
  std::shared_ptr<Responder> resp_;
  std::unique_ptr<Sink> sink_;
  JobSpec spec_;
  registry::ModelRecord record_;
  std::shared_ptr<Lease> lease_;
  std::shared_ptr<ModelInstance> model_;
  std::vector<int32_t> prompt_;
  std::vector<Choice> choices_;
  double load_ms_ = 0;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::atomic<bool> cancelled_{false};
  std::mutex ids_mu_;
  std::vector<uint64_t> ids_;
  int remaining_ = 0;
  bool finished_ = false;
};

// Ollama-style options -> sampling/limits. Unknown keys are ignored (as Ollama does); known keys
// of the wrong type are errors naming the key.
Status apply_options(const json& options, GenRequest* g, int* num_ctx);
const char* finish_name(GenFinish f);  // "stop", "length", "cancelled", "error"

}  // namespace mlxr::server
