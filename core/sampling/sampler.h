// The sampler chain, in llama.cpp's order: penalties -> top-k -> top-p -> min-p ->
// temperature -> draw. Temperature <= 0 is greedy (first index among equal maxima).
// Logprobs are of the model's own distribution (log-softmax of the raw logits). NaN logits rank
// as -inf (as Backend::top_k_rows ranks them).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/sampling/sampling_params.h"

namespace mlxr {

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top_logprobs;  // best first
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Rejects out-of-range parameters with a message naming the field.
  static Status validate(const SamplingParams& params);

  // history: the tokens of the sequence so far (prompt and generated), for the penalties.
  SampleResult sample(const float* logits, int n_vocab, std::span<const int32_t> history);
  // The same chain over the top candidates of a row (as Backend::top_k_rows returns them), for a
  // row without penalties: k must be >= needed_top_k() (or the whole row); lse is the row's
  // log-sum-exp (read only when wants_logprobs()). Same seed, same token and logprobs as
  // sample() on the whole row.
  SampleResult sample_top(const float* vals, const int32_t* idx, int k, float lse);
  // How many candidates sample_top needs, or 0 when this request needs the whole row (penalties
  // active, or temperature > 0 with top_k off, or more than kMaxTopK).
  int needed_top_k() const;
  // Whether results carry logprobs (then sample_top needs the row's log-sum-exp).
  bool wants_logprobs() const { return p_.logprobs || p_.top_logprobs > 0; }

 private:
  bool penalizes() const {
    return p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f;
  }
  // The chain after the sort: vals (n), best first, are the whole row or at least its top_k.
  // Returns the position of the drawn candidate.
  size_t draw(const float* vals, size_t n);

  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;                      // penalised logits
  std::vector<std::pair<float, int32_t>> cand_;  // (value, token), sorted best first
  std::vector<float> cand_vals_;
  std::vector<double> prob_, weight_;
};

}  // namespace mlxr
