#include "core/runtime/step_sampler.h"

#include <algorithm>
#include <cmath>

namespace mlxr {

StepSampler::StepSampler(Backend& backend)
    : be_(backend), vals_(backend), idx_(backend), lse_(backend), row_(backend) {}

Status StepSampler::sample(const float* logits, int n_vocab, std::span<const Row> rows,
                           std::vector<SampleResult>& results) {
  results.assign(rows.size(), SampleResult{});
  const int n_rows = static_cast<int>(rows.size());
  int k = 0;  // the most candidates any row needs; one call serves every row
  bool lse_needed = false;
  for (const Row& r : rows) {
    if (!r.sampler) continue;
    k = std::max(k, r.sampler->needed_top_k());
    lse_needed = lse_needed || r.sampler->wants_logprobs();
  }
  k = std::min(k, n_vocab);  // a row shorter than top_k: its candidates are the whole row
  if (k > 0) {
    const size_t n = static_cast<size_t>(n_rows) * k;
    auto vals = vals_.reserve(n);
    auto idx = idx_.reserve(n);  // int32 entries in float-sized host memory
    auto lse = lse_.reserve(static_cast<size_t>(n_rows));
    if (!vals || !idx || !lse) return make_error("sampling: cannot allocate host memory for the top-k candidates");
    be_.top_k_rows(logits, n_rows, n_vocab, k, *vals, reinterpret_cast<int32_t*>(*idx), lse_needed ? *lse : nullptr);
  }
  const auto* idx = reinterpret_cast<const int32_t*>(idx_.data());
  for (int i = 0; i < n_rows; ++i) {
    Sampler* s = rows[i].sampler;
    if (!s) continue;
    if (s->needed_top_k() > 0) {
      const size_t off = static_cast<size_t>(i) * k;
      results[i] = s->sample_top(vals_.data() + off, idx + off, k, lse_needed ? lse_.data()[i] : NAN);
      continue;
    }
    auto row = row_.reserve(static_cast<size_t>(n_vocab));
    if (!row) return make_error("sampling: cannot allocate host memory for a row of logits");
    be_.to_host(*row, logits + static_cast<size_t>(i) * n_vocab, static_cast<size_t>(n_vocab));
    results[i] = s->sample(*row, n_vocab, rows[i].history);
  }
  return Status::ok();
}

}  // namespace mlxr
