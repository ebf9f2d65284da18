#include "core/kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>

#include "core/base/fp16.h"

namespace mlxr::cpu {
namespace {

struct F16Table {
  float v[65536];
  F16Table() {
    for (uint32_t i = 0; i < 65536; ++i) v[i] = fp16_to_fp32(static_cast<uint16_t>(i));
  }
};
const F16Table& f16_table() {
  static const F16Table t;
  return t;
}

float round_to(DType t, float x) {
  if (t == DType::F16) return fp16_to_fp32(fp32_to_fp16(x));
  if (t == DType::BF16) return bf16_to_fp32(fp32_to_bf16(x));
  return x;
}

// Element `i` of one cache row, as float.
inline float load(DType t, const void* base, size_t i) {
  if (t == DType::F32) return static_cast<const float*>(base)[i];
  const uint16_t h = static_cast<const uint16_t*>(base)[i];
  return t == DType::F16 ? f16_table().v[h] : bf16_to_fp32(h);
}

inline void store(DType t, void* base, size_t i, float x) {
  if (t == DType::F32) {
    static_cast<float*>(base)[i] = x;
  } else {
    static_cast<uint16_t*>(base)[i] = t == DType::F16 ? fp32_to_fp16(x) : fp32_to_bf16(x);
  }
}

// Reduce 32 lane accumulators the way ggml's AVX2 F32x8 reduce does: (s0+s2)+(s1+s3) per lane,
// then the two 128-bit halves, then two horizontal adds.
inline float reduce_lanes(const float* acc) {
  float x[8];
  for (int l = 0; l < 8; ++l) x[l] = (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]);
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = x[l] + x[l + 4];
  return (t[0] + t[1]) + (t[2] + t[3]);
}

// Dot of n values in ggml's vec_dot order: 32-wide FMA lanes, reduced, then a double tail.
inline float dot_ggml_order(const float* a, const float* b, int n) {
  const int np = n & ~31;
  double tail = 0.0;
  float res = 0.0f;
  if (np > 0) {
    float acc[32] = {};
    for (int i = 0; i < np; i += 32)
      for (int l = 0; l < 32; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
    res = reduce_lanes(acc);
  }
  for (int i = np; i < n; ++i) tail += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(static_cast<double>(res) + tail);
}

size_t cache_index(const KVLayout& L, const std::vector<int32_t>& table, int pos, int kv_head) {
  const int block = table[static_cast<size_t>(pos / L.block_size)];
  const int slot = pos % L.block_size;
  return ((static_cast<size_t>(block) * L.block_size + slot) * L.n_kv_heads + kv_head) * L.head_dim;
}

}  // namespace

void kv_store(const KVLayerView& kv, const Batch& batch, const float* k, const float* v) {
  const KVLayout& L = *kv.layout;
  const size_t row = L.token_elems();
  for (int t = 0; t < batch.n_tokens(); ++t) {
    const auto& table = batch.block_tables[static_cast<size_t>(batch.seq_of[t])];
    const size_t base = cache_index(L, table, batch.positions[t], 0);
    for (size_t i = 0; i < row; ++i) {
      store(L.dtype, kv.k, base + i, k[t * row + i]);
      store(L.dtype, kv.v, base + i, v[t * row + i]);
    }
  }
}

void attention(const KVLayerView& kv, const Batch& batch, const float* q, int n_head, float scale,
               int sliding_window, float* out, ThreadPool& pool) {
  const KVLayout& L = *kv.layout;
  const int hd = L.head_dim;
  const int group = n_head / L.n_kv_heads;
  const int T = batch.n_tokens();
  const size_t work = static_cast<size_t>(T) * n_head;
  pool.parallel_for(work, [&](int, size_t begin, size_t end) {
    std::vector<float> scores, qh(static_cast<size_t>(hd)), kr(static_cast<size_t>(hd)), acc;
    for (size_t w = begin; w < end; ++w) {
      const int t = static_cast<int>(w / n_head), h = static_cast<int>(w % n_head);
      const int kvh = h / group;
      const auto& table = batch.block_tables[static_cast<size_t>(batch.seq_of[t])];
      const int pos = batch.positions[t];
      const int first = sliding_window > 0 ? std::max(0, pos - sliding_window + 1) : 0;
      const int n = pos + 1;
      // Padded to 32 like llama.cpp's KV view so the V reduction runs in the same lane order.
      const int n_pad = (n + 31) & ~31;
      scores.assign(static_cast<size_t>(n_pad), -INFINITY);
      const float* qp = q + (static_cast<size_t>(t) * n_head + h) * hd;
      for (int d = 0; d < hd; ++d) qh[d] = round_to(L.dtype, qp[d]);
      for (int j = first; j < n; ++j) {
        const size_t idx = cache_index(L, table, j, kvh);
        for (int d = 0; d < hd; ++d) kr[d] = load(L.dtype, kv.k, idx + d);
        scores[j] = dot_ggml_order(qh.data(), kr.data(), hd);
      }
      float mx = -INFINITY;
      for (int j = first; j < n; ++j) mx = std::max(mx, scores[j] * scale);
      double sum = 0.0;
      for (int j = 0; j < n_pad; ++j) {
        const float e = (j >= first && j < n) ? std::exp(scores[j] * scale - mx) : 0.0f;
        scores[j] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int j = first; j < n; ++j) scores[j] = round_to(L.dtype, scores[j] * inv);
      acc.assign(static_cast<size_t>(hd) * 32, 0.0f);
      for (int j = first; j < n; ++j) {
        const float p = scores[j];
        const size_t idx = cache_index(L, table, j, kvh);
        float* a = acc.data() + (j & 31);
        for (int d = 0; d < hd; ++d) a[d * 32] = std::fma(p, load(L.dtype, kv.v, idx + d), a[d * 32]);
      }
      float* o = out + (static_cast<size_t>(t) * n_head + h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = reduce_lanes(acc.data() + d * 32);
    }
  });
}

}  // namespace mlxr::cpu
