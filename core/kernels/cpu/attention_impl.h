// The body of the CPU attention kernels, compiled twice: generically (attention.cpp) and for
// AVX2/FMA/F16C (attention_avx2.cpp), where the 32-lane accumulations vectorise. Everything
// here lives in MLXR_ATTENTION_NS so the two copies never collide at link time.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/fp16.h"
#include "core/base/thread_pool.h"
#include "core/kv/batch.h"
#include "core/kv/kv_layout.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace mlxr::cpu::MLXR_ATTENTION_NS {

inline float half_to_float(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_fp32(h);
#endif
}

inline float round_to(DType t, float x) {
  if (t == DType::F16) return half_to_float(fp32_to_fp16(x));
  if (t == DType::BF16) return bf16_to_fp32(fp32_to_bf16(x));
  return x;
}

// One cache row of n values as floats.
inline void load_row(DType t, const void* base, size_t at, int n, float* out) {
  if (t == DType::F32) {
    const float* p = static_cast<const float*>(base) + at;
    std::copy(p, p + n, out);
  } else if (t == DType::F16) {
    const uint16_t* p = static_cast<const uint16_t*>(base) + at;
    for (int i = 0; i < n; ++i) out[i] = half_to_float(p[i]);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(base) + at;
    for (int i = 0; i < n; ++i) out[i] = bf16_to_fp32(p[i]);
  }
}

// The shared llama.cpp references were made by its AVX-512 build; its attention products run
// through tinyBLAS (one 16-lane FMA accumulator when the length is a multiple of 16) or
// ggml_vec_dot_f16 (four 16-lane accumulators over steps of 64, then a double tail). We add in
// the same order so greedy outputs agree; lane l of an accumulator lives at acc[l * stride].

// _mm512_reduce_add_ps: halves of 8, then of 4, then pairs.
inline float reduce16(const float* acc, int stride) {
  float t3[8];
  for (int k = 0; k < 8; ++k) t3[k] = acc[(8 + k) * stride] + acc[k * stride];
  float t6[4];
  for (int k = 0; k < 4; ++k) t6[k] = t3[4 + k] + t3[k];
  return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}

inline float dot_reference_order(const float* a, const float* b, int n) {
  if (n % 16 == 0) {
    float acc[16] = {};
    for (int i = 0; i < n; i += 16)
      for (int l = 0; l < 16; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
    return reduce16(acc, 1);
  }
  const int np = n & ~63;
  float acc[64] = {};
  for (int i = 0; i < np; i += 64)
    for (int l = 0; l < 64; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
  for (int l = 0; l < 16; ++l) acc[l] = (acc[l] + acc[32 + l]) + (acc[16 + l] + acc[48 + l]);
  double sum = np > 0 ? reduce16(acc, 1) : 0.0f;
  for (int i = np; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

inline size_t cache_index(const KVLayout& L, const std::vector<int32_t>& table, int pos, int kv_head) {
  const int block = table[static_cast<size_t>(pos / L.block_size)];
  const int slot = pos % L.block_size;
  return ((static_cast<size_t>(block) * L.block_size + slot) * L.n_kv_heads + kv_head) * L.head_dim;
}

// Attention for the (token, head) pairs [begin, end). See attention.h for the contract.
inline void attention_range(const void* kc, const void* vc, const KVLayout& L, const Batch& batch, const float* q,
                            int n_head, float scale, int sliding_window, float* out, size_t begin, size_t end) {
  const int hd = L.head_dim;
  const int group = n_head / L.n_kv_heads;
  std::vector<float> scores, qh(static_cast<size_t>(hd)), row(static_cast<size_t>(hd)), acc;
  for (size_t w = begin; w < end; ++w) {
    const int t = static_cast<int>(w / n_head), h = static_cast<int>(w % n_head);
    const int kvh = h / group;
    const auto& table = batch.block_tables[static_cast<size_t>(batch.seq_of[t])];
    const int pos = batch.positions[t];
    const int first = sliding_window > 0 ? std::max(0, pos - sliding_window + 1) : 0;
    const int n = pos + 1;
    scores.assign(static_cast<size_t>(n), 0.0f);
    const float* qp = q + (static_cast<size_t>(t) * n_head + h) * hd;
    for (int d = 0; d < hd; ++d) qh[d] = round_to(L.dtype, qp[d]);
    float mx = -INFINITY;
    for (int j = first; j < n; ++j) {
      load_row(L.dtype, kc, cache_index(L, table, j, kvh), hd, row.data());
      scores[j] = dot_reference_order(qh.data(), row.data(), hd) * scale;
      mx = std::max(mx, scores[j]);
    }
    double sum = 0.0;
    for (int j = first; j < n; ++j) sum += scores[j] = std::exp(scores[j] - mx);
    const float inv = static_cast<float>(1.0 / sum);
    // probs·V runs over llama.cpp's KV view, padded to 32 cells (so a multiple of 16): one
    // 16-lane accumulator, lane = cache position mod 16; masked positions add exact zeros.
    acc.assign(static_cast<size_t>(hd) * 16, 0.0f);
    for (int j = first; j < n; ++j) {
      const float p = round_to(L.dtype, scores[j] * inv);
      load_row(L.dtype, vc, cache_index(L, table, j, kvh), hd, row.data());
      float* a = acc.data() + static_cast<size_t>(j & 15) * hd;
      for (int d = 0; d < hd; ++d) a[d] = std::fma(p, row[d], a[d]);
    }
    float* o = out + (static_cast<size_t>(t) * n_head + h) * hd;
    for (int d = 0; d < hd; ++d) o[d] = reduce16(acc.data() + d, hd);
  }
}

}  // namespace mlxr::cpu::MLXR_ATTENTION_NS
