// The rank order and the log-sum-exp of a row of logits, as Backend::top_k_rows defines them
// (the CPU reference and the sampler's whole-row path share these one definitions, so their
// candidates and logprobs agree bit for bit).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace mlxr {

// NaN ranks as -inf: never above a number, and it adds nothing to the sum.
inline float nan_as_neg_inf(float x) { return std::isnan(x) ? -INFINITY : x; }

// Whether entry (va, ia) ranks before (vb, ib): the larger value first, equal values by the
// lower index (a strict total order). Values already passed through nan_as_neg_inf.
inline bool ranks_before(float va, int32_t ia, float vb, int32_t ib) { return va > vb || (va == vb && ia < ib); }

// log Σ exp(x[i]), summed in double around the maximum and rounded to float once. A maximum of
// +inf gives +inf; a row of only -inf/NaN gives -inf.
inline float log_sum_exp(const float* x, int n) {
  float mx = -INFINITY;
  for (int i = 0; i < n; ++i) mx = std::max(mx, nan_as_neg_inf(x[i]));
  if (std::isinf(mx)) return mx;
  double sum = 0.0;
  for (int i = 0; i < n; ++i)
    if (!std::isnan(x[i])) sum += std::exp(static_cast<double>(x[i]) - mx);
  return static_cast<float>(mx + std::log(sum));
}

}  // namespace mlxr
