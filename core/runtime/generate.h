// Single-sequence generation over a ModelRunner: prefill the prompt in chunks, then decode
// one token per step. The CLI's `run`/`bench` and the golden tests use it; the serving
// engine (daemon/scheduler) batches many sequences instead.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/runtime/runner.h"
#include "core/sampling/sampler.h"

namespace mlxr {

struct GenerateOptions {
  SamplingParams sampling;
  int max_tokens = 128;       // tokens to generate; generation also stops at the context end
  bool stop_at_eog = true;    // stop at the tokenizer's end-of-generation tokens
  int prefill_chunk = 512;    // prompt tokens per forward
};

struct GenerateTimings {
  double prompt_ms = 0;
  double decode_ms = 0;
  int prompt_tokens = 0;
  int generated_tokens = 0;
};

struct GenerateOutput {
  std::vector<int32_t> tokens;  // generated ids
  std::vector<SampleResult> samples;
  std::string stop_reason;      // "eog", "length", "context", "callback"
  GenerateTimings timings;
};

// on_token(result) after each sampled token; return false to stop early.
Expected<GenerateOutput> generate(ModelRunner& runner, const std::vector<int32_t>& prompt,
                                  const GenerateOptions& opts,
                                  const std::function<bool(const SampleResult&)>& on_token = {});

// Logits after every prompt position (n, n_vocab), in one prefill: for reference comparisons.
Expected<std::vector<float>> prompt_logits(ModelRunner& runner, const std::vector<int32_t>& prompt);

}  // namespace mlxr
