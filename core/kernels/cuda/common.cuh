// Device helpers shared by the kernels: number formats and ggml block decoding.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/kernels/cuda/kernels.h"
#include "core/tensor/dtype.h"

namespace mlxr::cuda {

__device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }
__device__ __forceinline__ uint16_t f2h(float f) { return __half_as_ushort(__float2half_rn(f)); }
// Round to nearest even, NaN stays quiet NaN: core/base/fp16.h fp32_to_bf16.
__device__ __forceinline__ uint16_t f2bf(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}
__device__ __forceinline__ uint16_t ld_u16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
// 32-bit load from a 2-byte aligned address (blocks of 34, 18 or 210 bytes).
__device__ __forceinline__ int ld_i32_a2(const uint8_t* p) {
  const uint16_t* q = reinterpret_cast<const uint16_t*>(p);
  return static_cast<int>(q[0] | (static_cast<uint32_t>(q[1]) << 16));
}
__device__ __forceinline__ int ld_i32_a4(const uint8_t* p) { return *reinterpret_cast<const int*>(p); }

// Cache element types and their conversions.
template <typename T> struct KvT;
template <> struct KvT<float> {
  static __device__ __forceinline__ float load(const float* p, size_t i) { return p[i]; }
  static __device__ __forceinline__ float store(float x) { return x; }
  static __device__ __forceinline__ float round(float x) { return x; }
};
template <> struct KvT<__half> {
  static __device__ __forceinline__ float load(const __half* p, size_t i) { return __half2float(p[i]); }
  static __device__ __forceinline__ __half store(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ float round(float x) { return __half2float(__float2half_rn(x)); }
};
template <> struct KvT<__nv_bfloat16> {
  static __device__ __forceinline__ float load(const __nv_bfloat16* p, size_t i) { return __bfloat162float(p[i]); }
  static __device__ __forceinline__ __nv_bfloat16 store(float x) { return __ushort_as_bfloat16(f2bf(x)); }
  static __device__ __forceinline__ float round(float x) { return bf2f(f2bf(x)); }
};

// Q4_K/Q5_K 6-bit scale and min of sub-block j (core/quant/blocks.h k4_scale_min).
__device__ __forceinline__ void k4_scale_min_dev(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The 32 values of sub-block `sb` (elements 32*sb .. 32*sb+31) of one row, in the order of
// operations of core/quant/dequantize.cpp (explicit _rn ops: no FMA contraction), so the
// result is bit-exact with dequantize_row.
template <int TYPE>
__device__ __forceinline__ void dequant32(const uint8_t* row, int sb, float* y) {
  constexpr DType t = static_cast<DType>(TYPE);
  if constexpr (t == DType::F32) {
    const float* p = reinterpret_cast<const float*>(row) + sb * 32;
#pragma unroll
    for (int i = 0; i < 32; ++i) y[i] = p[i];
  } else if constexpr (t == DType::F16 || t == DType::BF16) {
    const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + sb * 32;
#pragma unroll
    for (int i = 0; i < 32; ++i) y[i] = t == DType::F16 ? h2f(p[i]) : bf2f(p[i]);
  } else if constexpr (t == DType::Q8_0) {
    const uint8_t* b = row + sb * 34;
    const float d = h2f(ld_u16(b));
#pragma unroll
    for (int i = 0; i < 32; ++i) y[i] = __fmul_rn(static_cast<float>(static_cast<int8_t>(b[2 + i])), d);
  } else if constexpr (t == DType::Q4_0) {
    const uint8_t* b = row + sb * 18;
    const float d = h2f(ld_u16(b));
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      y[j] = __fmul_rn(static_cast<float>((b[2 + j] & 0xF) - 8), d);
      y[j + 16] = __fmul_rn(static_cast<float>((b[2 + j] >> 4) - 8), d);
    }
  } else if constexpr (t == DType::Q4_K || t == DType::Q5_K) {
    constexpr int kBytes = t == DType::Q4_K ? 144 : 176;
    const int j = sb & 7;
    const uint8_t* b = row + (sb >> 3) * kBytes;
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, m;
    k4_scale_min_dev(j, b + 4, &sc, &m);
    const float d1 = __fmul_rn(d, static_cast<float>(sc)), m1 = __fmul_rn(dmin, static_cast<float>(m));
    const int shift = (j & 1) * 4;
    if constexpr (t == DType::Q4_K) {
      const uint8_t* q = b + 16 + (j >> 1) * 32;
#pragma unroll
      for (int l = 0; l < 32; ++l) y[l] = __fsub_rn(__fmul_rn(d1, static_cast<float>((q[l] >> shift) & 0xF)), m1);
    } else {
      const uint8_t* qh = b + 16;
      const uint8_t* q = b + 48 + (j >> 1) * 32;
#pragma unroll
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0xF) + (((qh[l] >> j) & 1) ? 16 : 0);
        y[l] = __fsub_rn(__fmul_rn(d1, static_cast<float>(v)), m1);
      }
    }
  } else if constexpr (t == DType::Q6_K) {
    const int jj = sb & 7, half = jj >> 2, quarter = jj & 3;
    const uint8_t* b = row + (sb >> 3) * 210;
    const uint8_t* ql = b + half * 64 + (quarter & 1) * 32;
    const uint8_t* qh = b + 128 + half * 32;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + half * 8 + 2 * quarter;
    const float d = h2f(ld_u16(b + 208));
    const int lshift = (quarter >> 1) * 4, hshift = 2 * quarter;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const int q = (((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4)) - 32;
      y[l] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[l >> 4])), static_cast<float>(q));
    }
  }
}

// Calls f(integral_constant<TYPE>) for a quantized device type; false for others.
template <typename F>
bool dispatch_quant(DType t, F&& f) {
  switch (t) {
    case DType::Q8_0: f(std::integral_constant<int, static_cast<int>(DType::Q8_0)>{}); return true;
    case DType::Q4_0: f(std::integral_constant<int, static_cast<int>(DType::Q4_0)>{}); return true;
    case DType::Q4_K: f(std::integral_constant<int, static_cast<int>(DType::Q4_K)>{}); return true;
    case DType::Q5_K: f(std::integral_constant<int, static_cast<int>(DType::Q5_K)>{}); return true;
    case DType::Q6_K: f(std::integral_constant<int, static_cast<int>(DType::Q6_K)>{}); return true;
    default: return false;
  }
}

// The same for every device type.
template <typename F>
bool dispatch_type(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(std::integral_constant<int, static_cast<int>(DType::F32)>{}); return true;
    case DType::F16: f(std::integral_constant<int, static_cast<int>(DType::F16)>{}); return true;
    case DType::BF16: f(std::integral_constant<int, static_cast<int>(DType::BF16)>{}); return true;
    default: return dispatch_quant(t, f);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Programmatic dependent launch (Hopper): a kernel launched with launch_pdl may start while the
// previous kernel finishes; it must call pdl_wait() before touching memory that kernel writes
// or reads (only weights may be read before). pdl_trigger() lets the next kernel launch early:
// the decode kernels call it first, so the next one's blocks take SMs as this one's drain.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// RoPE as cpu::rope computes it, one block per token: rope_angles puts the (cos, sin) of every
// rotated pair at the token's position in shared memory once for all heads (theta by repeated
// multiplication, as the CPU's cache builds it; YaRN's ramp; the attention factor), then
// rope_rotate turns pair i of one head in place.
constexpr int kRopeMaxPairs = 128;  // head_dim <= 256
__device__ __forceinline__ void rope_angles(float pos, const RopeArgs& a, const float* ff, float* cs, float* sn) {
  for (int i = threadIdx.x; i < a.n_dims / 2; i += blockDim.x) {
    float theta = pos;
    for (int k = 0; k < i; ++k) theta *= a.theta_scale;
    const int i0 = 2 * i;
    const float theta_extrap = theta / (ff ? ff[i] : 1.0f);
    const float theta_interp = a.freq_scale * theta_extrap;
    float th = theta_interp;
    if (a.ext_factor != 0.0f) {
      const float y = (i0 / 2 - a.corr0) / fmaxf(0.001f, a.corr1 - a.corr0);
      const float ramp_mix = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * a.ext_factor;
      th = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
    }
    cs[i] = cosf(th) * a.mscale;
    sn[i] = sinf(th) * a.mscale;
  }
}
// Blocks per token of a RoPE launch: few tokens (decode) spread their heads over several blocks,
// each computing the angles itself; many tokens (prefill) take one block each.
inline int rope_head_groups(int T, int n_heads) { return T >= 256 ? 1 : std::max(1, std::min(n_heads, 256 / T)); }
// Heads [first, last) of n_heads that block (blockIdx.y of gridDim.y) rotates.
__device__ __forceinline__ void rope_head_range(int n_heads, int& first, int& last) {
  const int per = (n_heads + gridDim.y - 1) / gridDim.y;
  first = blockIdx.y * per;
  last = min(n_heads, first + per);
}
__device__ __forceinline__ void rope_rotate(float* v, int i, const RopeArgs& a, float c, float s) {
  const int half = a.n_dims / 2;
  const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + half : 2 * i + 1;
  const float va = v[ia], vb = v[ib];
  v[ia] = va * c - vb * s;
  v[ib] = va * s + vb * c;
}

template <typename Kernel, typename... Args>
void launch_pdl(Kernel k, dim3 grid, dim3 block, size_t smem, cudaStream_t s, bool pdl, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  cudaLaunchKernelEx(&cfg, k, args...);
}

}  // namespace mlxr::cuda
