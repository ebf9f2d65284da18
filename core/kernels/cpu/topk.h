// Top-k candidates and log-sum-exp per row of logits: the reference of Backend::top_k_rows
// (core/kernels/cuda/topk.cu must equal it bit for bit in vals and idx).
#pragma once
#include <cstdint>

namespace mlxr::cpu {

// For each row of logits (rows, n): the k largest values, largest first, equal values in
// ascending index order, into vals (rows, k) and idx (rows, k); lse (rows) = log Σ exp(x),
// summed in double around the row maximum and rounded to float once. NaN counts as -inf: it is
// ranked as -inf, reported as -inf, and adds nothing to the sum. A row whose maximum is +inf
// has lse +inf; a row of only -inf/NaN has lse -inf; lse null: not computed. 1 <= k <= n.
void top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse);

}  // namespace mlxr::cpu
