// The per-request side of the engine, on the worker thread: sampler state, incremental
// detokenizer, stop-string matching across tokens, callbacks and timings. The policy knows
// only token ids; this turns ids into the streamed text and the final RequestResult.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/sampling/sampler.h"
#include "core/tokenizer/tokenizer.h"
#include "daemon/scheduler/engine.h"

namespace mlxr {

class RequestStream {
 public:
  using Clock = std::chrono::steady_clock;
  RequestStream(GenerateRequest req, RequestCallbacks cb, const Tokenizer& tok, Clock::time_point submitted);

  const GenerateRequest& request() const { return req_; }
  Sampler& sampler() { return sampler_; }

  void on_scheduled(Clock::time_point t, int cached_prompt_tokens);
  // A generated token (not an end-of-generation token). Streams it; returns the reason to end
  // the request now (stop string matched, or the callback asked to cancel), if any.
  std::optional<FinishReason> on_token(const SampleResult& r, Clock::time_point t);
  // Ends the request: flushes held-back text into trailing_text (unless a stop string ended
  // it) and calls on_done exactly once.
  void finish(FinishReason reason, std::string error = "");
  bool done() const { return done_; }

 private:
  double ms(Clock::time_point a, Clock::time_point b) const {
    return std::chrono::duration<double, std::milli>(b - a).count();
  }

  GenerateRequest req_;
  RequestCallbacks cb_;
  Sampler sampler_;
  IncrementalDetokenizer detok_;
  StopStringMatcher stops_;
  Clock::time_point submitted_;
  std::optional<Clock::time_point> scheduled_, first_token_, last_token_;
  int completion_tokens_ = 0;
  int cached_prompt_tokens_ = 0;
  bool done_ = false;
};

}  // namespace mlxr
