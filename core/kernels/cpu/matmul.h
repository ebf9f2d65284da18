// y = x · Wᵀ for a weight matrix stored as ggml stores it, on the CPU thread pool.
#pragma once
#include <cstdint>
#include <vector>

#include "core/base/thread_pool.h"
#include "core/tensor/tensor.h"

namespace mlxr {

// Reusable buffers of matmul: grown on first use, then reused (no allocation in steady state).
// One scratch serves one matmul at a time.
struct MatmulScratch {
  std::vector<uint8_t> act;   // (rows, tile_act_row_bytes(vec_dot_type(W), K)): x converted
  std::vector<uint8_t> groups;  // (rows / rn, tile_act_group_bytes): act interleaved for grouped tiles
  std::vector<float> wrows;   // (threads, K): dequantised W rows, for types without a vec_dot
  std::vector<uint8_t> unpacked;  // (threads, 64 rows): x8-packed Q4_0 groups back in rows (prefill)
};

// True when matmul runs for weights of this type (every type dequantize_row accepts; the ones
// with a vec_dot kernel run quantised, the rest through a dequantised row).
bool matmul_supported(DType w);

// w: (K = ne[0] contiguous, N = ne[1]*ne[2]*ne[3] output rows), any matmul_supported type.
// x: (rows, K) float, row-major. y: (rows, N) float, row-major.
// K must be a multiple of the block size of w.type and of vec_dot_type(w.type); the caller
// checks both at load time (violations abort with a message).
// x is converted once to vec_dot_type(w.type), then the N output rows are split across the pool;
// with rows > 1 each tile of W rows is reused across a block of activation rows while in cache.
void matmul(const TensorView& w, const float* x, int rows, float* y, ThreadPool& pool,
            MatmulScratch& scratch);

// The oracle: x rounded through vec_dot_type(w.type) exactly as the kernels see it
// (from_float_scalar in vec_dot.h), W dequantised, products summed in double. Single-threaded.
void matmul_reference(const TensorView& w, const float* x, int rows, float* y);

}  // namespace mlxr
