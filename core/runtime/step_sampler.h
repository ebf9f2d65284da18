// Sampling a step's rows of logits where Model::forward_logits left them (backend memory).
// Rows whose sampler works from candidates (Sampler::needed_top_k() > 0) are reduced on the
// backend: one Backend::top_k_rows call for the whole step, so only k candidates a row cross to
// the host. A row that needs everything (penalties, top-k off) is copied alone and sampled whole.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/base/status.h"
#include "core/sampling/sampler.h"
#include "core/tensor/backend.h"

namespace mlxr {

class StepSampler {
 public:
  explicit StepSampler(Backend& backend);

  struct Row {
    Sampler* sampler = nullptr;        // null: this row is not sampled
    std::span<const int32_t> history;  // for the penalties
  };
  // logits: (rows.size(), n_vocab) in backend memory. Fills results[i] for each sampled row i
  // (results is resized to rows.size()). Fails only when host memory cannot be had.
  Status sample(const float* logits, int n_vocab, std::span<const Row> rows, std::vector<SampleResult>& results);

 private:
  Backend& be_;
  HostBuffer vals_, idx_, lse_, row_;  // backend host memory (pinned on CUDA)
};

}  // namespace mlxr
