// The sampler chain, in llama.cpp's order: penalties -> top-k -> top-p -> min-p ->
// temperature -> draw. Temperature <= 0 is greedy (first index among equal maxima).
// Logprobs are of the model's own distribution (log-softmax of the raw logits).
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

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace mlxr
