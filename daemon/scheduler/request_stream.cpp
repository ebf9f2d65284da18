#include "daemon/scheduler/request_stream.h"

namespace mlxr {

RequestStream::RequestStream(GenerateRequest req, RequestCallbacks cb, const Tokenizer& tok,
                             Clock::time_point submitted)
    : req_(std::move(req)),
      cb_(std::move(cb)),
      sampler_(req_.sampling),
      // Text right after BOS drops the SentencePiece dummy-prefix space (llama2.c, HF).
      detok_(tok, !req_.prompt.empty() && req_.prompt.back() == tok.bos_id()),
      stops_(req_.stop),
      submitted_(submitted) {}

void RequestStream::on_scheduled(Clock::time_point t, int cached_prompt_tokens) {
  if (scheduled_) return;  // recompute after preemption is not a new schedule
  scheduled_ = t;
  cached_prompt_tokens_ = cached_prompt_tokens;
}

std::optional<FinishReason> RequestStream::on_token(const SampleResult& r, Clock::time_point t) {
  if (!first_token_) first_token_ = t;
  last_token_ = t;
  ++completion_tokens_;
  TokenOutput out;
  out.id = r.token;
  out.text = stops_.push(detok_.push(r.token));
  if (req_.sampling.logprobs || req_.sampling.top_logprobs > 0) out.logprob = r.logprob;
  if (req_.sampling.top_logprobs > 0) out.top_logprobs = r.top_logprobs;
  const bool keep_going = cb_.on_token ? cb_.on_token(out) : true;
  if (stops_.stopped()) return FinishReason::kStop;
  if (!keep_going) return FinishReason::kCancelled;
  return std::nullopt;
}

void RequestStream::finish(FinishReason reason, std::string error) {
  if (done_) return;
  done_ = true;
  RequestResult res;
  res.reason = reason;
  res.error = std::move(error);
  if (!stops_.stopped()) {
    std::string tail = stops_.push(detok_.flush());
    if (stops_.stopped()) {
      if (reason == FinishReason::kLength) res.reason = FinishReason::kStop;
    } else {
      tail += stops_.flush();
    }
    res.trailing_text = std::move(tail);
  }
  res.prompt_tokens = static_cast<int>(req_.prompt.size());
  res.completion_tokens = completion_tokens_;
  res.cached_prompt_tokens = cached_prompt_tokens_;
  if (scheduled_) res.queue_ms = ms(submitted_, *scheduled_);
  if (first_token_) {
    res.ttft_ms = ms(submitted_, *first_token_);
    res.prefill_ms = scheduled_ ? ms(*scheduled_, *first_token_) : 0;
    res.decode_ms = ms(*first_token_, *last_token_);
  }
  if (cb_.on_done) cb_.on_done(res);
}

}  // namespace mlxr
