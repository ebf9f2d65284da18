#include "core/kernels/cpu/attention.h"

#define MLXR_ATTENTION_NS generic
#include "core/kernels/cpu/attention_impl.h"

namespace mlxr::cpu {

namespace avx2 {
bool supported();
void attention_range(const void* kc, const void* vc, const KVLayout& L, const Batch& batch, const float* q,
                     int n_head, float scale, int sliding_window, float* out, size_t begin, size_t end);
}  // namespace avx2

void kv_store(const KVLayerView& kv, const Batch& batch, const float* k, const float* v) {
  const KVLayout& L = *kv.layout;
  const size_t row = L.token_elems();
  for (int t = 0; t < batch.n_tokens(); ++t) {
    const auto& table = batch.block_tables[static_cast<size_t>(batch.seq_of[t])];
    const size_t base = generic::cache_index(L, table, batch.positions[t], 0);
    const float* kr = k + t * row;
    const float* vr = v + t * row;
    if (L.dtype == DType::F32) {
      std::copy(kr, kr + row, static_cast<float*>(kv.k) + base);
      std::copy(vr, vr + row, static_cast<float*>(kv.v) + base);
      continue;
    }
    uint16_t* kd = static_cast<uint16_t*>(kv.k) + base;
    uint16_t* vd = static_cast<uint16_t*>(kv.v) + base;
    const bool f16 = L.dtype == DType::F16;
    for (size_t i = 0; i < row; ++i) {
      kd[i] = f16 ? fp32_to_fp16(kr[i]) : fp32_to_bf16(kr[i]);
      vd[i] = f16 ? fp32_to_fp16(vr[i]) : fp32_to_bf16(vr[i]);
    }
  }
}

void attention(const KVLayerView& kv, const Batch& batch, const float* q, int n_head, float scale,
               int sliding_window, float* out, ThreadPool& pool) {
  static const bool use_avx2 = avx2::supported();
  const size_t work = static_cast<size_t>(batch.n_tokens()) * n_head;
  pool.parallel_for(work, [&](int, size_t begin, size_t end) {
    if (use_avx2) {
      avx2::attention_range(kv.k, kv.v, *kv.layout, batch, q, n_head, scale, sliding_window, out, begin, end);
    } else {
      generic::attention_range(kv.k, kv.v, *kv.layout, batch, q, n_head, scale, sliding_window, out, begin, end);
    }
  });
}

void attention_scalar(const KVLayerView& kv, const Batch& batch, const float* q, int n_head, float scale,
                      int sliding_window, float* out) {
  generic::attention_range(kv.k, kv.v, *kv.layout, batch, q, n_head, scale, sliding_window, out, 0,
                           static_cast<size_t>(batch.n_tokens()) * n_head);
}

}  // namespace mlxr::cpu
