// Paged attention on the CPU: K/V live in fixed-size blocks named by each sequence's block
// table (core/kv/kv_layout.h). One call handles a ragged batch: every token attends causally
// to its own sequence's cache, prefix included.
#pragma once
#include <cstdint>
#include <vector>

#include "core/base/thread_pool.h"
#include "core/kv/batch.h"
#include "core/kv/kv_layout.h"

namespace mlxr::cpu {

struct KVLayerView {
  void* k;  // (n_blocks, block_size, n_kv_heads, head_dim) of layout.dtype
  void* v;  // same shape
  const KVLayout* layout;
};

// Store this step's K and V rows (T, n_kv_heads*head_dim) at each token's (sequence, position).
void kv_store(const KVLayerView& kv, const Batch& batch, const float* k, const float* v);

// out (T, n_head*head_dim) = softmax(q·Kᵀ·scale + causal/sliding mask)·V per head, GQA-aware.
// Arithmetic follows llama.cpp's non-flash path: with an F16 cache, q and the probabilities
// are rounded to F16 and dot products accumulate in ggml's order.
void attention(const KVLayerView& kv, const Batch& batch, const float* q, int n_head, float scale,
               int sliding_window, float* out, ThreadPool& pool);

// The portable build of the same kernel (the oracle for the SIMD build; bitwise equal).
void attention_scalar(const KVLayerView& kv, const Batch& batch, const float* q, int n_head, float scale,
                      int sliding_window, float* out);

}  // namespace mlxr::cpu
