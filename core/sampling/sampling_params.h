// What a request asks of the sampler. Defaults follow llama.cpp / Ollama.
#pragma once
#include <cstdint>
#include <optional>

namespace mlxr {

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy (argmax, first index among ties)
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off (llama.cpp style: divide positive logits, multiply negative)
  int repeat_last_n = 64;       // window for the penalties; -1: whole context
  float frequency_penalty = 0.0f;  // OpenAI style: logit -= count * f
  float presence_penalty = 0.0f;   // logit -= (count > 0) * p
  std::optional<uint64_t> seed;    // same seed, same output
  int top_logprobs = 0;            // > 0: also return the top-N alternatives' logprobs
  bool logprobs = false;           // return the chosen token's logprob
};

}  // namespace mlxr
