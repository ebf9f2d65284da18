// The serving engine: many requests share one model step per iteration (continuous batching
// over a paged KV cache). Thread-safe: submit/cancel/stats may be called from any thread;
// model code runs only on the engine's worker thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/runtime/runner.h"
#include "core/sampling/sampling_params.h"

namespace mlxr {

struct GenerateRequest {
  std::vector<int32_t> prompt;        // token ids, BOS included when the model wants it
  SamplingParams sampling;
  int max_tokens = -1;                // -1: until the context is full
  std::vector<std::string> stop;      // stop strings (matched on detokenized text, across tokens)
  bool ignore_eos = false;
  int priority = 0;                   // higher first; FCFS within a priority
  std::string cache_namespace;        // prefix-cache key namespace (e.g. adapter id)
};

struct TokenOutput {
  int32_t id = -1;
  std::string text;                   // complete UTF-8 only; may be empty (held back)
  float logprob = 0.0f;               // when sampling.logprobs
  std::vector<std::pair<int32_t, float>> top_logprobs;  // when sampling.top_logprobs > 0
};

enum class FinishReason { kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct RequestResult {
  FinishReason reason = FinishReason::kStop;
  std::string error;                  // set when reason == kError
  std::string trailing_text;          // text held back until the end (flushed detokenizer)
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;       // prompt tokens served from the prefix cache
  double queue_ms = 0;                // submit -> first scheduled
  double ttft_ms = 0;                 // submit -> first token
  double prefill_ms = 0;              // first scheduled -> first token
  double decode_ms = 0;               // first token -> last token
};

struct RequestCallbacks {
  // Called on the worker thread for each generated token. Return false to cancel.
  std::function<bool(const TokenOutput&)> on_token;
  // Called exactly once, on the worker thread, for every request submit() accepted.
  std::function<void(const RequestResult&)> on_done;
};

struct EngineOptions {
  RunnerOptions runner;
  int max_batch_tokens = 512;   // token budget per step (decode tokens + prefill chunks)
  int max_running = 64;         // max sequences decoding at once
  bool prefix_cache = true;
};

struct EngineStats {
  int waiting = 0, running = 0, preempted = 0;
  int kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_cached = 0, kv_blocks_free = 0;
  uint64_t prefix_hit_tokens = 0, prefix_query_tokens = 0;
  uint64_t steps = 0, tokens_generated = 0, prompt_tokens_processed = 0;
  uint64_t preemptions = 0;     // sequences whose blocks were freed to make room (recomputed later)
  int last_batch_tokens = 0, last_batch_seqs = 0;
  // Worker time so far, in seconds: running the model (including the wait for the GPU);
  // sampling (top-k on the backend, candidates or whole rows to the host, the sampler chains);
  // the rest of each step (planning, KV bookkeeping, streaming tokens).
  double forward_s = 0, sample_s = 0, schedule_s = 0;
};

class Engine {
 public:
  static Expected<std::unique_ptr<Engine>> create(const std::string& model_path, const EngineOptions& opts);
  ~Engine();

  // Admission errors (empty prompt, prompt longer than the context, bad parameters) are
  // returned here and on_done is not called.
  Expected<uint64_t> submit(GenerateRequest req, RequestCallbacks cb);
  void cancel(uint64_t id);
  EngineStats stats() const;

  // Embedding of a token sequence: final hidden states pooled (mean or last) and L2-normalised.
  enum class Pooling { kMean, kLast };
  Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens, Pooling pooling);

  const Tokenizer& tokenizer() const;
  const ModelHParams& hparams() const;
  const ModelFile& file() const;
  int n_ctx() const;
  void shutdown();  // cancels everything, joins the worker

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxr
