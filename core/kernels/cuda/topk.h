// Launcher of the top-k kernel (core/kernels/cuda/topk.cu) behind Backend::top_k_rows. Its
// reference is core/kernels/cpu/topk.cpp; the results equal it bit for bit (values, indices).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mlxr::cuda {

// Device scratch top_k_rows needs: 0 (everything lives in shared memory).
size_t top_k_workspace_bytes(int rows, int n, int k);

// Per row of logits (rows, n) in device memory: vals (rows, k) the k largest values, largest
// first, equal values in ascending index order; idx (rows, k) their indices; lse (rows) the
// row's log-sum-exp. NaN counts as -inf. Device outputs; 1 <= k <= 1024 (kMaxTopK), k <= n.
// ws: top_k_workspace_bytes(rows, n, k) bytes (may be null when that is 0).
void top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse, void* ws,
                cudaStream_t s);

}  // namespace mlxr::cuda
