// Dot-product pieces shared by the decode matvec kernels (matvec.cu: register loads from global
// memory; matvec_bulk.cu: rows staged in shared memory by bulk copies). CPU reference:
// core/kernels/cpu/matmul.cpp matmul_reference.
#pragma once
#include "core/kernels/cuda/common.cuh"
#include "core/kernels/cuda/kernels.h"

namespace mlxr::cuda {

// ---- 16-bit weights: 8 values per 16-byte word ----
template <int TYPE>
__device__ __forceinline__ float2 unpack2(uint32_t u) {
  if constexpr (static_cast<DType>(TYPE) == DType::BF16) {
    return make_float2(__uint_as_float(u << 16), __uint_as_float(u & 0xffff0000u));
  } else {
    const __half2 h = *reinterpret_cast<const __half2*>(&u);
    return __half22float2(h);
  }
}

template <int TYPE>
__device__ __forceinline__ float dot8(const uint4& w, const uint4& x) {
  const uint32_t ws[4] = {w.x, w.y, w.z, w.w}, xs[4] = {x.x, x.y, x.z, x.w};
  float a = 0.f;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 wf = unpack2<TYPE>(ws[e]), xf = unpack2<TYPE>(xs[e]);
    a = fmaf(wf.x, xf.x, a);
    a = fmaf(wf.y, xf.y, a);
  }
  return a;
}

// ---- Quantized weights: one 32-value sub-block at a time, int8 activations, dp4a ----

// Activations of sub-block sb of row r: 8 ints of packed int8, and (d, d*sum).
__device__ __forceinline__ void load_x(const int8_t* xq, const float2* xds, int K, int r, int sb, int* xi, float2* ds) {
  const int4* p = reinterpret_cast<const int4*>(xq + static_cast<size_t>(r) * K + sb * 32);
  const int4 a = __ldg(p), b = __ldg(p + 1);
  xi[0] = a.x; xi[1] = a.y; xi[2] = a.z; xi[3] = a.w;
  xi[4] = b.x; xi[5] = b.y; xi[6] = b.z; xi[7] = b.w;
  *ds = __ldg(xds + static_cast<size_t>(r) * (K / 32) + sb);
}

// 16-byte load of weight bytes: read-only global path, or plain loads from shared memory
// (ld.global.nc must not see a shared address).
template <bool SMEM>
__device__ __forceinline__ int4 ld_w16(const uint8_t* p) {
  if constexpr (SMEM) return *reinterpret_cast<const int4*>(p);
  else return __ldg(reinterpret_cast<const int4*>(p));
}

// N 32-bit words from a 2-byte aligned address (blocks of 34, 18 or 210 bytes). Global memory:
// halfword pairs. Shared memory: aligned words, funnel-shifted, about half the load
// instructions. Misaligned by 2, the first word starts 2 bytes early (still inside the row: the
// bytes before a misaligned field belong to its block or the previous one) and the last 2 bytes
// come from one 16-bit load, so nothing outside the row is read.
template <int N, bool SMEM>
__device__ __forceinline__ void ld_words_a2(const uint8_t* p, int* out) {
  if constexpr (SMEM) {
    const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(p) & 3);  // 0 or 2
    const uint32_t* w = reinterpret_cast<const uint32_t*>(p - mis);        // stays a shared pointer
    uint32_t v[N + 1];
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = w[i];
    v[N] = mis ? *reinterpret_cast<const uint16_t*>(p + 4 * N - 2) : 0u;
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = static_cast<int>(__funnelshift_r(v[i], v[i + 1], mis * 8));
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = ld_i32_a2(p + 4 * i);
  }
}

// One sub-block's 32 weights as integers (q[0..3]: values 0-15, q[4..7]: 16-31) and its scales:
// the sub-block's dot with activations (d_x, d_x*sum_x) is d_x*(a*s0 + b*s1) - m*d_x*sum_x
// (s0, s1: integer dots of the two halves).
struct SubBlock {
  int q[8];
  float a, b, m;
};

template <int TYPE>
struct SubBlockForm {
  static constexpr DType t = static_cast<DType>(TYPE);
  static constexpr bool kTwoScales = t == DType::Q6_K;  // else a == b
  static constexpr bool kHasMin = t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K;
};

template <int TYPE, bool SMEM>
__device__ __forceinline__ SubBlock decode_sb(const uint8_t* row, int sb) {
  constexpr DType t = static_cast<DType>(TYPE);
  SubBlock w;
  w.m = 0.f;
  if constexpr (t == DType::Q8_0) {
    const uint8_t* b = row + sb * 34;
    w.a = w.b = h2f(ld_u16(b));
    ld_words_a2<8, SMEM>(b + 2, w.q);
  } else if constexpr (t == DType::Q4_0) {
    const uint8_t* b = row + sb * 18;
    const float d = h2f(ld_u16(b));
    int v[4];
    ld_words_a2<4, SMEM>(b + 2, v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.q[i] = v[i] & 0x0F0F0F0F;
      w.q[i + 4] = (v[i] >> 4) & 0x0F0F0F0F;
    }
    w.a = w.b = d;
    w.m = 8.0f * d;  // values are stored + 8
  } else if constexpr (t == DType::Q4_K || t == DType::Q5_K) {
    constexpr int kBytes = t == DType::Q4_K ? 144 : 176;
    const int j = sb & 7;
    const uint8_t* b = row + (sb >> 3) * kBytes;
    const int4 head = ld_w16<SMEM>(b);  // d, dmin, scales[12]
    const uint32_t dd = static_cast<uint32_t>(head.x);
    const float d = h2f(static_cast<uint16_t>(dd & 0xffff)), dmin = h2f(static_cast<uint16_t>(dd >> 16));
    // Byte k of the 12 scale bytes, selected from registers (no local-memory indexing).
    auto sbyte = [&](int k) {
      const uint32_t v = k < 4 ? static_cast<uint32_t>(head.y) : k < 8 ? static_cast<uint32_t>(head.z) : static_cast<uint32_t>(head.w);
      return static_cast<int>((v >> ((k & 3) * 8)) & 0xFF);
    };
    int sc, m;
    if (j < 4) {
      sc = sbyte(j) & 63;
      m = sbyte(j + 4) & 63;
    } else {
      sc = (sbyte(j + 4) & 0xF) | ((sbyte(j - 4) >> 6) << 4);
      m = (sbyte(j + 4) >> 4) | ((sbyte(j) >> 6) << 4);
    }
    const int shift = (j & 1) * 4;
    // 16-byte loads: blocks of 144 and 176 bytes keep qs (and qh) 16-byte aligned.
    const int4 a0 = ld_w16<SMEM>(b + (t == DType::Q4_K ? 16 : 48) + (j >> 1) * 32);
    const int4 a1 = ld_w16<SMEM>(b + (t == DType::Q4_K ? 32 : 64) + (j >> 1) * 32);
    const int qv[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
    if constexpr (t == DType::Q4_K) {
#pragma unroll
      for (int i = 0; i < 8; ++i) w.q[i] = (qv[i] >> shift) & 0x0F0F0F0F;
    } else {
      const int4 h0 = ld_w16<SMEM>(b + 16), h1 = ld_w16<SMEM>(b + 32);
      const int hv[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) w.q[i] = ((qv[i] >> shift) & 0x0F0F0F0F) | (((hv[i] >> j) & 0x01010101) << 4);
    }
    w.a = w.b = d * static_cast<float>(sc);
    w.m = dmin * static_cast<float>(m);
  } else if constexpr (t == DType::Q6_K) {
    const int jj = sb & 7, half = jj >> 2, quarter = jj & 3;
    const uint8_t* b = row + (sb >> 3) * 210;
    const uint8_t* ql = b + half * 64 + (quarter & 1) * 32;
    const uint8_t* qh = b + 128 + half * 32;
    const int lshift = (quarter >> 1) * 4, hshift = 2 * quarter;
    int lw[8], hw[8];
    ld_words_a2<8, SMEM>(ql, lw);
    ld_words_a2<8, SMEM>(qh, hw);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int lo = (lw[i] >> lshift) & 0x0F0F0F0F;
      const int hi = ((hw[i] >> hshift) & 0x03030303) << 4;
      w.q[i] = static_cast<int>(__vsub4(static_cast<unsigned>(lo | hi), 0x20202020u));
    }
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + half * 8 + 2 * quarter;
    const float d = h2f(ld_u16(b + 208));
    w.a = d * static_cast<float>(sc[0]);
    w.b = d * static_cast<float>(sc[1]);
  }
  return w;
}

// acc[i][r] += dot of sub-block sb of weight row i (i < NW <= 2) with activation row r (r < R);
// the activations are loaded once for all NW weight rows.
template <int TYPE, int R, int NW>
__device__ __forceinline__ void dot_sb(const SubBlock (&w)[2], const int8_t* xq, const float2* xds, int K, int sb,
                                       float (&acc)[2][R]) {
  using F = SubBlockForm<TYPE>;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    int xi[8];
    float2 ds;
    load_x(xq, xds, K, r, sb, xi, &ds);
#pragma unroll
    for (int i = 0; i < NW; ++i) {
      int s0 = 0;
#pragma unroll
      for (int k = 0; k < 4; ++k) s0 = __dp4a(w[i].q[k], xi[k], s0);
      int s1 = F::kTwoScales ? 0 : s0;
#pragma unroll
      for (int k = 4; k < 8; ++k) s1 = __dp4a(w[i].q[k], xi[k], s1);
      float v;
      if constexpr (F::kTwoScales) v = ds.x * (w[i].a * static_cast<float>(s0) + w[i].b * static_cast<float>(s1));
      else v = w[i].a * ds.x * static_cast<float>(s1);  // s1 carries the whole sum
      if constexpr (F::kHasMin) v -= w[i].m * ds.y;
      acc[i][r] += v;
    }
  }
}

// f(integral_constant<R>) for R = 1..kMatvecMaxRows (larger R: kMatvecMaxRows).
template <typename F>
void dispatch_rows(int R, F&& f) {
  switch (R) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 7: f(std::integral_constant<int, 7>{}); break;
    default: f(std::integral_constant<int, 8>{}); break;
  }
}

// The bulk-copy variant of matvec_group (matvec_bulk.cu), in launch configuration `config` <
// kMatvecBulkConfigs. false (nothing launched) when the group does not allow it: rows or weight
// addresses not 16-byte aligned, weights of different row sizes, or rows too long for two
// shared-memory stages; the caller then runs the register-load kernel.
constexpr int kMatvecBulkConfigs = 3;
bool matvec_group_bulk(const MatvecGroup& g, const float* x, const int8_t* xq, const float2* xds, int R, int num_sms,
                       cudaStream_t s, bool pdl, int config);

}  // namespace mlxr::cuda
