// Matrix-vector products for small row counts (decode): y (R, N) = x (R, K) · Wᵀ, one warp per
// output row, weights streamed once with wide loads. CPU reference: core/kernels/cpu/matmul.cpp
// (matmul_reference: x rounded to the activation format, W dequantised, exact sums).
// Quantized weights stay quantized: each lane takes one 32-value sub-block at a time and
// multiplies its integer quants with int8 activations by dp4a, scaling once per sub-block.
#include "core/kernels/cuda/common.cuh"
#include "core/kernels/cuda/kernels.h"

namespace mlxr::cuda {
namespace {

constexpr int kWarps = 8;

template <int TYPE>
__device__ __forceinline__ float round_act(float x) {
  if constexpr (static_cast<DType>(TYPE) == DType::BF16) return bf2f(f2bf(x));
  else if constexpr (static_cast<DType>(TYPE) == DType::F16) return __half2float(__float2half_rn(x));
  else return x;
}

template <int TYPE>
__device__ __forceinline__ float wval(uint16_t h) {
  if constexpr (static_cast<DType>(TYPE) == DType::BF16) return bf2f(h);
  else return h2f(h);
}

template <int TYPE, int R>
__global__ __launch_bounds__(kWarps * 32) void k_mv_float(const void* W, int K, int N, const float* __restrict__ x,
                                                          float* __restrict__ y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kWarps + warp;
  if (n >= N) return;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.f;
  if constexpr (static_cast<DType>(TYPE) == DType::F32) {
    const float* w = static_cast<const float*>(W) + static_cast<size_t>(n) * K;
    if (K % 4 == 0) {
      const float4* w4 = reinterpret_cast<const float4*>(w);
#pragma unroll 4
      for (int c = lane; c < K / 4; c += 32) {
        const float4 wv = __ldg(w4 + c);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float4 xv = __ldg(reinterpret_cast<const float4*>(x + static_cast<size_t>(r) * K) + c);
          acc[r] += wv.x * xv.x + wv.y * xv.y + wv.z * xv.z + wv.w * xv.w;
        }
      }
    } else {
      for (int c = lane; c < K; c += 32) {
        const float wv = w[c];
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] += wv * x[static_cast<size_t>(r) * K + c];
      }
    }
  } else {
    const uint16_t* w = static_cast<const uint16_t*>(W) + static_cast<size_t>(n) * K;
    if (K % 8 == 0) {
      const uint4* w8 = reinterpret_cast<const uint4*>(w);
#pragma unroll 4
      for (int c = lane; c < K / 8; c += 32) {
        const uint4 wv = __ldg(w8 + c);
        const uint32_t ws[4] = {wv.x, wv.y, wv.z, wv.w};
        float wf[8];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          wf[2 * e] = wval<TYPE>(static_cast<uint16_t>(ws[e] & 0xffff));
          wf[2 * e + 1] = wval<TYPE>(static_cast<uint16_t>(ws[e] >> 16));
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float4* xr = reinterpret_cast<const float4*>(x + static_cast<size_t>(r) * K) + 2 * c;
          const float4 a = __ldg(xr), b = __ldg(xr + 1);
          acc[r] += wf[0] * round_act<TYPE>(a.x) + wf[1] * round_act<TYPE>(a.y) + wf[2] * round_act<TYPE>(a.z) +
                    wf[3] * round_act<TYPE>(a.w) + wf[4] * round_act<TYPE>(b.x) + wf[5] * round_act<TYPE>(b.y) +
                    wf[6] * round_act<TYPE>(b.z) + wf[7] * round_act<TYPE>(b.w);
        }
      }
    } else {
      for (int c = lane; c < K; c += 32) {
        const float wv = wval<TYPE>(w[c]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] += wv * round_act<TYPE>(x[static_cast<size_t>(r) * K + c]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float v = warp_sum(acc[r]);
    if (lane == 0) y[static_cast<size_t>(r) * N + n] = v;
  }
}

// 16-bit weights, one activation row: x is rounded to the weight type once per block into
// shared memory, then each warp streams two weight rows with 16-byte loads (8 values each).
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

template <int TYPE>
__global__ __launch_bounds__(kWarps * 32) void k_mv16_r1(const uint16_t* __restrict__ W, int K, int N,
                                                         const float* __restrict__ x, float* __restrict__ y) {
  extern __shared__ uint4 xs4[];
  uint16_t* xs = reinterpret_cast<uint16_t*>(xs4);
  for (int i = threadIdx.x; i < K; i += blockDim.x) {
    const float v = x[i];
    xs[i] = static_cast<DType>(TYPE) == DType::BF16 ? f2bf(v) : f2h(v);
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n0 = (blockIdx.x * kWarps + warp) * 2;
  if (n0 >= N) return;
  const bool two = n0 + 1 < N;
  const uint4* w0 = reinterpret_cast<const uint4*>(W + static_cast<size_t>(n0) * K);
  const uint4* w1 = reinterpret_cast<const uint4*>(W + static_cast<size_t>(two ? n0 + 1 : n0) * K);
  float a0 = 0.f, a1 = 0.f;
#pragma unroll 4
  for (int c = lane; c < K / 8; c += 32) {
    const uint4 p = __ldg(w0 + c), q = __ldg(w1 + c);
    const uint4 xv = xs4[c];
    a0 += dot8<TYPE>(p, xv);
    a1 += dot8<TYPE>(q, xv);
  }
  a0 = warp_sum(a0);
  a1 = warp_sum(a1);
  if (lane == 0) {
    y[n0] = a0;
    if (two) y[n0 + 1] = a1;
  }
}

// Activations of sub-block sb of row r: 8 ints of packed int8, and (d, d*sum).
__device__ __forceinline__ void load_x(const int8_t* xq, const float2* xds, int K, int r, int sb, int* xi, float2* ds) {
  const int4* p = reinterpret_cast<const int4*>(xq + static_cast<size_t>(r) * K + sb * 32);
  const int4 a = __ldg(p), b = __ldg(p + 1);
  xi[0] = a.x; xi[1] = a.y; xi[2] = a.z; xi[3] = a.w;
  xi[4] = b.x; xi[5] = b.y; xi[6] = b.z; xi[7] = b.w;
  *ds = __ldg(xds + static_cast<size_t>(r) * (K / 32) + sb);
}

template <int TYPE, int R>
__device__ __forceinline__ void sb_dot(const uint8_t* row, int sb, const int8_t* xq, const float2* xds, int K, float* acc) {
  constexpr DType t = static_cast<DType>(TYPE);
  int w[8];
  if constexpr (t == DType::Q8_0) {
    const uint8_t* b = row + sb * 34;
    const float d = h2f(ld_u16(b));
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = ld_i32_a2(b + 2 + 4 * i);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      int xi[8];
      float2 ds;
      load_x(xq, xds, K, r, sb, xi, &ds);
      int s = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) s = __dp4a(w[i], xi[i], s);
      acc[r] += d * ds.x * static_cast<float>(s);
    }
  } else if constexpr (t == DType::Q4_0) {
    const uint8_t* b = row + sb * 18;
    const float d = h2f(ld_u16(b));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int v = ld_i32_a2(b + 2 + 4 * i);
      w[i] = v & 0x0F0F0F0F;
      w[i + 4] = (v >> 4) & 0x0F0F0F0F;
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      int xi[8];
      float2 ds;
      load_x(xq, xds, K, r, sb, xi, &ds);
      int s = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) s = __dp4a(w[i], xi[i], s);
      acc[r] += d * (ds.x * static_cast<float>(s) - 8.0f * ds.y);
    }
  } else if constexpr (t == DType::Q4_K || t == DType::Q5_K) {
    constexpr int kBytes = t == DType::Q4_K ? 144 : 176;
    const int j = sb & 7;
    const uint8_t* b = row + (sb >> 3) * kBytes;
    const int4 head = __ldg(reinterpret_cast<const int4*>(b));  // d, dmin, scales[12]
    const uint32_t dd = static_cast<uint32_t>(head.x);
    const float d = h2f(static_cast<uint16_t>(dd & 0xffff)), dmin = h2f(static_cast<uint16_t>(dd >> 16));
    // Byte k of the 12 scale bytes, selected from registers (no local-memory indexing).
    auto sbyte = [&](int k) {
      const uint32_t w = k < 4 ? static_cast<uint32_t>(head.y) : k < 8 ? static_cast<uint32_t>(head.z) : static_cast<uint32_t>(head.w);
      return static_cast<int>((w >> ((k & 3) * 8)) & 0xFF);
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
    if constexpr (t == DType::Q4_K) {
      // 16-byte loads: blocks of 144 bytes keep qs 16-byte aligned.
      const int4* q = reinterpret_cast<const int4*>(b + 16 + (j >> 1) * 32);
      const int4 a0 = __ldg(q), a1 = __ldg(q + 1);
      const int qv[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) w[i] = (qv[i] >> shift) & 0x0F0F0F0F;
    } else {
      const int4* qh = reinterpret_cast<const int4*>(b + 16);
      const int4* q = reinterpret_cast<const int4*>(b + 48 + (j >> 1) * 32);
      const int4 a0 = __ldg(q), a1 = __ldg(q + 1), h0 = __ldg(qh), h1 = __ldg(qh + 1);
      const int qv[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const int hv[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) w[i] = ((qv[i] >> shift) & 0x0F0F0F0F) | (((hv[i] >> j) & 0x01010101) << 4);
    }
    const float dsc = d * static_cast<float>(sc), dm = dmin * static_cast<float>(m);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      int xi[8];
      float2 ds;
      load_x(xq, xds, K, r, sb, xi, &ds);
      int s = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) s = __dp4a(w[i], xi[i], s);
      acc[r] += dsc * ds.x * static_cast<float>(s) - dm * ds.y;
    }
  } else if constexpr (t == DType::Q6_K) {
    const int jj = sb & 7, half = jj >> 2, quarter = jj & 3;
    const uint8_t* b = row + (sb >> 3) * 210;
    const uint8_t* ql = b + half * 64 + (quarter & 1) * 32;
    const uint8_t* qh = b + 128 + half * 32;
    const int lshift = (quarter >> 1) * 4, hshift = 2 * quarter;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int lo = (ld_i32_a2(ql + 4 * i) >> lshift) & 0x0F0F0F0F;
      const int hi = ((ld_i32_a2(qh + 4 * i) >> hshift) & 0x03030303) << 4;
      w[i] = static_cast<int>(__vsub4(static_cast<unsigned>(lo | hi), 0x20202020u));
    }
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + half * 8 + 2 * quarter;
    const float d = h2f(ld_u16(b + 208));
    const float da = d * static_cast<float>(sc[0]), db = d * static_cast<float>(sc[1]);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      int xi[8];
      float2 ds;
      load_x(xq, xds, K, r, sb, xi, &ds);
      int sa = 0, sb2 = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) sa = __dp4a(w[i], xi[i], sa);
#pragma unroll
      for (int i = 4; i < 8; ++i) sb2 = __dp4a(w[i], xi[i], sb2);
      acc[r] += ds.x * (da * static_cast<float>(sa) + db * static_cast<float>(sb2));
    }
  }
}

// Two weight rows per warp: the activation loads (L1 hits) are shared and more weight bytes
// are in flight per lane.
template <int TYPE, int R>
__global__ __launch_bounds__(kWarps * 32) void k_mv_quant(const uint8_t* __restrict__ W, size_t row_bytes, int K, int N,
                                                          const int8_t* __restrict__ xq, const float2* __restrict__ xds,
                                                          float* __restrict__ y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n0 = (blockIdx.x * kWarps + warp) * 2;
  if (n0 >= N) return;
  const bool two = n0 + 1 < N;
  const uint8_t* row0 = W + static_cast<size_t>(n0) * row_bytes;
  const uint8_t* row1 = W + static_cast<size_t>(two ? n0 + 1 : n0) * row_bytes;
  float acc0[R], acc1[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = 0.f;
  const int nsb = K / 32;
#pragma unroll 4
  for (int sb = lane; sb < nsb; sb += 32) {
    sb_dot<TYPE, R>(row0, sb, xq, xds, K, acc0);
    sb_dot<TYPE, R>(row1, sb, xq, xds, K, acc1);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float v0 = warp_sum(acc0[r]), v1 = warp_sum(acc1[r]);
    if (lane == 0) {
      y[static_cast<size_t>(r) * N + n0] = v0;
      if (two) y[static_cast<size_t>(r) * N + n0 + 1] = v1;
    }
  }
}

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

}  // namespace

void matvec_float(DType t, const void* w, int K, int N, const float* x, int R, float* y, cudaStream_t s, int variant) {
  if (variant == 0 && R == 1 && t != DType::F32 && K % 8 == 0 && K * 2 <= 48 * 1024) {
    const unsigned g2 = static_cast<unsigned>((N + 2 * kWarps - 1) / (2 * kWarps));
    const size_t smem = static_cast<size_t>(K) * 2;
    if (t == DType::BF16) k_mv16_r1<static_cast<int>(DType::BF16)><<<g2, kWarps * 32, smem, s>>>(static_cast<const uint16_t*>(w), K, N, x, y);
    else k_mv16_r1<static_cast<int>(DType::F16)><<<g2, kWarps * 32, smem, s>>>(static_cast<const uint16_t*>(w), K, N, x, y);
    check_launch("matvec_float");
    return;
  }
  const unsigned grid = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  dispatch_rows(R, [&](auto tag_) {
    constexpr int RR = decltype(tag_)::value;
    if (t == DType::F32) k_mv_float<static_cast<int>(DType::F32), RR><<<grid, kWarps * 32, 0, s>>>(w, K, N, x, y);
    else if (t == DType::F16) k_mv_float<static_cast<int>(DType::F16), RR><<<grid, kWarps * 32, 0, s>>>(w, K, N, x, y);
    else k_mv_float<static_cast<int>(DType::BF16), RR><<<grid, kWarps * 32, 0, s>>>(w, K, N, x, y);
  });
  check_launch("matvec_float");
}

void matvec_quant(DType t, const void* w, size_t row_bytes, int K, int N, const int8_t* xq, const float2* xds, int R,
                  float* y, cudaStream_t s) {
  const unsigned grid = static_cast<unsigned>((N + 2 * kWarps - 1) / (2 * kWarps));
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  dispatch_rows(R, [&](auto tag_) {
    constexpr int RR = decltype(tag_)::value;
    switch (t) {
      case DType::Q8_0: k_mv_quant<static_cast<int>(DType::Q8_0), RR><<<grid, kWarps * 32, 0, s>>>(wb, row_bytes, K, N, xq, xds, y); break;
      case DType::Q4_0: k_mv_quant<static_cast<int>(DType::Q4_0), RR><<<grid, kWarps * 32, 0, s>>>(wb, row_bytes, K, N, xq, xds, y); break;
      case DType::Q4_K: k_mv_quant<static_cast<int>(DType::Q4_K), RR><<<grid, kWarps * 32, 0, s>>>(wb, row_bytes, K, N, xq, xds, y); break;
      case DType::Q5_K: k_mv_quant<static_cast<int>(DType::Q5_K), RR><<<grid, kWarps * 32, 0, s>>>(wb, row_bytes, K, N, xq, xds, y); break;
      default: k_mv_quant<static_cast<int>(DType::Q6_K), RR><<<grid, kWarps * 32, 0, s>>>(wb, row_bytes, K, N, xq, xds, y); break;
    }
  });
  check_launch("matvec_quant");
}

}  // namespace mlxr::cuda
