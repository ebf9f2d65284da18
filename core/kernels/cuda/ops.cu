// Elementwise, normalisation, gather and conversion kernels. CPU references:
// core/kernels/cpu/ops.cpp (rms_norm, rope, swiglu, gelu_mul), core/quant/dequantize.cpp (get_rows,
// dequant_to_bf16), core/kernels/cpu/cpu_backend.cpp (add, add_row, mul_scalar, gather).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/kernels/cuda/common.cuh"
#include "core/kernels/cuda/kernels.h"

namespace mlxr::cuda {

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    std::fprintf(stderr, "mlxr cuda: %s failed: %s\n", what, cudaGetErrorString(e));
    std::abort();
  }
}

bool pdl_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("MLXR_CUDA_PDL");
    return !e || std::strcmp(e, "0") != 0;
  }();
  return on;
}

bool device_type_supported(DType t) {
  return dispatch_type(t, [](auto) {});
}

namespace {

inline unsigned blocks_for(size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

// One thread per 32-value sub-block.
template <int TYPE>
__global__ void k_get_rows(const uint8_t* table, size_t row_bytes, int64_t ne0, const int32_t* ids, int n, float* out) {
  const int64_t nsb = ne0 / 32;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * nsb) return;
  const int r = static_cast<int>(i / nsb), sb = static_cast<int>(i % nsb);
  float y[32];
  dequant32<TYPE>(table + static_cast<size_t>(ids[r]) * row_bytes, sb, y);
  float4* o = reinterpret_cast<float4*>(out + r * ne0 + sb * 32);
#pragma unroll
  for (int k = 0; k < 8; ++k) o[k] = make_float4(y[4 * k], y[4 * k + 1], y[4 * k + 2], y[4 * k + 3]);
}

// Rows whose length is not a multiple of 32 (float types only): one thread per value.
template <int TYPE>
__global__ void k_get_rows_scalar(const uint8_t* table, size_t row_bytes, int64_t ne0, const int32_t* ids, int n, float* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * ne0) return;
  const int r = static_cast<int>(i / ne0);
  const int64_t c = i % ne0;
  const uint8_t* row = table + static_cast<size_t>(ids[r]) * row_bytes;
  constexpr DType t = static_cast<DType>(TYPE);
  float v;
  if constexpr (t == DType::F32) v = reinterpret_cast<const float*>(row)[c];
  else if constexpr (t == DType::F16) v = h2f(reinterpret_cast<const uint16_t*>(row)[c]);
  else v = bf2f(reinterpret_cast<const uint16_t*>(row)[c]);
  out[i] = v;
}

template <int TYPE>
__global__ void k_dequant_bf16(const uint8_t* w, size_t row_bytes, int64_t ne0, int64_t rows, uint16_t* out) {
  const int64_t nsb = ne0 / 32;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * nsb) return;
  const int64_t r = i / nsb;
  const int sb = static_cast<int>(i % nsb);
  float y[32];
  dequant32<TYPE>(w + r * row_bytes, sb, y);
  uint4* o = reinterpret_cast<uint4*>(out + r * ne0 + sb * 32);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    uint32_t p[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) p[e] = f2bf(y[8 * k + 2 * e]) | (static_cast<uint32_t>(f2bf(y[8 * k + 2 * e + 1])) << 16);
    o[k] = make_uint4(p[0], p[1], p[2], p[3]);
  }
}

// 16-bit values as BF16 (bf16 != 0) or F16, round to nearest even.
__device__ __forceinline__ float widen(uint16_t h, int bf16) { return bf16 ? bf2f(h) : h2f(h); }
__device__ __forceinline__ uint16_t narrow(float f, int bf16) { return bf16 ? f2bf(f) : f2h(f); }

__global__ void k_convert(const float* x, size_t n, int to_bf16, uint16_t* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = narrow(x[i], to_bf16);
}

// One 32-value block held by a warp (v: this lane's value) -> int8 and (d, d*sum), the
// activation format of the quantized matvec.
__device__ __forceinline__ void q8_block(float v, int8_t* q, float2* ds) {
  const float amax = warp_max(fabsf(v));
  const float d = amax / 127.0f;
  const int qi = d == 0.0f ? 0 : __float2int_rn(v / d);
  *q = static_cast<int8_t>(qi);
  const float sum = warp_sum(static_cast<float>(qi));
  if ((threadIdx.x & 31) == 0) *ds = make_float2(d, d * sum);
}

// The sum of s over the block (every thread gets it).
__device__ __forceinline__ float block_sum(float s) {
  __shared__ float part[32];
  s = warp_sum(s);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.f;
    v = warp_sum(v);
    if (threadIdx.x == 0) part[0] = v;
  }
  __syncthreads();
  return part[0];
}

// y != null: x += y first (written back), then the norm of the sum. q != null (n % 32 == 0):
// the output is also quantized for the next quantized matvec; each warp holds whole blocks.
// out16 != null: out also as 16-bit, the next GEMM's input.
__global__ void k_rms_norm(float* x, const float* y, const float* w, float eps, int n, float* out, int8_t* q, float2* ds,
                           uint16_t* o16, int o16_bf16) {
  pdl_trigger();
  pdl_wait();
  const size_t row = static_cast<size_t>(blockIdx.x) * n;
  float* xr = x + row;
  float* o = out + row;
  float s = 0.f;
  if (!q && n % 4 == 0) {  // four values a thread (prefill rows)
    float4* x4 = reinterpret_cast<float4*>(xr);
    const float4* y4 = y ? reinterpret_cast<const float4*>(y + row) : nullptr;
    for (int i = threadIdx.x; i < n / 4; i += blockDim.x) {
      float4 v = x4[i];
      if (y4) {
        const float4 u = y4[i];
        v = make_float4(v.x + u.x, v.y + u.y, v.z + u.z, v.w + u.w);
        x4[i] = v;
      }
      s += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    const float scale = 1.0f / sqrtf(block_sum(s) / n + eps);
    for (int i = threadIdx.x; i < n / 4; i += blockDim.x) {
      const float4 v = x4[i];
      float r[4] = {v.x * scale, v.y * scale, v.z * scale, v.w * scale};
      if (w) {
        const float4 wv = reinterpret_cast<const float4*>(w)[i];
        r[0] *= wv.x;
        r[1] *= wv.y;
        r[2] *= wv.z;
        r[3] *= wv.w;
      }
      reinterpret_cast<float4*>(o)[i] = make_float4(r[0], r[1], r[2], r[3]);
      if (o16) {
        uint2 h;
        h.x = static_cast<uint32_t>(narrow(r[0], o16_bf16)) | static_cast<uint32_t>(narrow(r[1], o16_bf16)) << 16;
        h.y = static_cast<uint32_t>(narrow(r[2], o16_bf16)) | static_cast<uint32_t>(narrow(r[3], o16_bf16)) << 16;
        reinterpret_cast<uint2*>(o16 + row)[i] = h;
      }
    }
    return;
  }
  if (y) {
    const float* yr = y + row;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const float v = xr[i] + yr[i];
      xr[i] = v;
      s += v * v;
    }
  } else {
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i] * xr[i];
  }
  const float scale = 1.0f / sqrtf(block_sum(s) / n + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = w ? (xr[i] * scale) * w[i] : xr[i] * scale;
    o[i] = v;
    if (o16) o16[row + i] = narrow(v, o16_bf16);
    if (q) {
      const size_t at = row + i;
      q8_block(v, q + at, ds + at / 32);
    }
  }
}

// Blocks per token: rope_head_groups (angles once per block, then every pair of its heads); two
// tensors (x1: n1 heads, x2: n2 heads per token) share one launch.
__global__ void k_rope(float* x1, int n1, float* x2, int n2, const int32_t* positions, int head_dim, RopeArgs a,
                       const float* ff) {
  pdl_trigger();
  pdl_wait();
  __shared__ float cs[kRopeMaxPairs], sn[kRopeMaxPairs];
  const int t = blockIdx.x;
  rope_angles(static_cast<float>(positions[t]), a, ff, cs, sn);
  __syncthreads();
  const int half = a.n_dims / 2;
  int h0, h1;
  rope_head_range(n1 + n2, h0, h1);
  for (int j = threadIdx.x; j < (h1 - h0) * half; j += blockDim.x) {
    const int h = h0 + j / half, i = j % half;
    float* v = h < n1 ? x1 + (static_cast<size_t>(t) * n1 + h) * head_dim
                      : x2 + (static_cast<size_t>(t) * n2 + h - n1) * head_dim;
    rope_rotate(v, i, a, cs[i], sn[i]);
  }
}

__global__ void k_swiglu(const float* g, const float* u, float* out, size_t n) {
  pdl_trigger();
  pdl_wait();
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) {
    const float x = g[i];
    out[i] = x / (1.0f + expf(-x)) * u[i];
  }
}

// The SwiGLU of 16-bit gate/up GEMM outputs, written as the 16-bit input of the down GEMM:
// eight values per thread (n % 8 == 0), or one.
__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

__global__ void k_swiglu16(const uint16_t* g, const uint16_t* u, int bf16, uint16_t* out, size_t n) {
  pdl_trigger();
  pdl_wait();
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (n % 8 == 0) {
    if (i >= n / 8) return;
    const uint4 gv = reinterpret_cast<const uint4*>(g)[i], uv = reinterpret_cast<const uint4*>(u)[i];
    const uint16_t* gh = reinterpret_cast<const uint16_t*>(&gv);
    const uint16_t* uh = reinterpret_cast<const uint16_t*>(&uv);
    uint4 ov;
    uint16_t* oh = reinterpret_cast<uint16_t*>(&ov);
#pragma unroll
    for (int j = 0; j < 8; ++j) oh[j] = narrow(silu_mul(widen(gh[j], bf16), widen(uh[j], bf16)), bf16);
    reinterpret_cast<uint4*>(out)[i] = ov;
  } else if (i < n) {
    out[i] = narrow(silu_mul(widen(g[i], bf16), widen(u[i], bf16)), bf16);
  }
}

__global__ void k_widen(const uint16_t* x, int bf16, float* out, size_t n) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = widen(x[i], bf16);
}

__global__ void k_gelu_mul(const float* g, const float* u, float* out, size_t n) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) {
    const float x = g[i];
    out[i] = 0.5f * x * (1.0f + tanhf(0.79788456080286535587989211986876f * x * (1.0f + 0.044715f * x * x))) * u[i];
  }
}

__global__ void k_add(float* x, const float* y, size_t n) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] += y[i];
}
__global__ void k_add_row(float* x, const float* b, int rows, int n) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < static_cast<size_t>(rows) * n) x[i] += b[i % n];
}
__global__ void k_mul_scalar(float* x, float v, size_t n) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] *= v;
}
__global__ void k_gather(const float* x, int n, const int32_t* rows, int n_rows, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < static_cast<size_t>(n_rows) * n) out[i] = x[static_cast<size_t>(rows[i / n]) * n + i % n];
}

// One thread per column, rows in order: duplicates in `rows` accumulate as on the CPU.
__global__ void k_scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales, int n_rows, int n) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= n) return;
  for (int i = 0; i < n_rows; ++i) dst[static_cast<size_t>(rows[i]) * n + k] += scales[i] * src[static_cast<size_t>(i) * n + k];
}

// One warp per 32 values: d = amax/127, q = round(x/d).
__global__ void k_quantize_q8(const float* x, size_t n_blocks, int8_t* q, float2* ds) {
  pdl_trigger();
  pdl_wait();
  const size_t blk = (blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (blk >= n_blocks) return;
  q8_block(x[blk * 32 + lane], q + blk * 32 + lane, ds + blk);
}

}  // namespace

void get_rows(DType t, const void* table, size_t row_bytes, int64_t ne0, const int32_t* ids, int n, float* out,
              cudaStream_t s) {
  const bool whole = ne0 % 32 == 0;
  const bool ok = dispatch_type(t, [&](auto tag_) {
    constexpr int TY = decltype(tag_)::value;
    if (whole) {
      const size_t work = static_cast<size_t>(n) * (ne0 / 32);
      k_get_rows<TY><<<blocks_for(work, 128), 128, 0, s>>>(static_cast<const uint8_t*>(table), row_bytes, ne0, ids, n, out);
    } else if constexpr (TY == static_cast<int>(DType::F32) || TY == static_cast<int>(DType::F16) ||
                         TY == static_cast<int>(DType::BF16)) {
      const size_t work = static_cast<size_t>(n) * ne0;
      k_get_rows_scalar<TY><<<blocks_for(work, 256), 256, 0, s>>>(static_cast<const uint8_t*>(table), row_bytes, ne0, ids, n, out);
    }
  });
  if (!ok) {
    std::fprintf(stderr, "mlxr cuda: get_rows of unsupported type %s\n", dtype_name(t));
    std::abort();
  }
  check_launch("get_rows");
}

void dequant_to_bf16(DType t, const void* w, size_t row_bytes, int64_t ne0, int64_t rows, void* out, cudaStream_t s) {
  const size_t work = static_cast<size_t>(rows) * (ne0 / 32);
  dispatch_type(t, [&](auto tag_) {
    constexpr int TY = decltype(tag_)::value;
    k_dequant_bf16<TY><<<blocks_for(work, 128), 128, 0, s>>>(static_cast<const uint8_t*>(w), row_bytes, ne0, rows,
                                                              static_cast<uint16_t*>(out));
  });
  check_launch("dequant_to_bf16");
}

void convert_f32(const float* x, size_t n, DType to, void* out, cudaStream_t s) {
  k_convert<<<blocks_for(n, 256), 256, 0, s>>>(x, n, to == DType::BF16, static_cast<uint16_t*>(out));
  check_launch("convert_f32");
}

void rms_norm(float* x, const float* y, const float* w, float eps, int rows, int n, float* out, int8_t* q, float2* ds,
              void* out16, DType t16, cudaStream_t s) {
  const int threads = n >= 4096 ? 1024 : n >= 1024 ? 256 : n >= 128 ? 128 : 32;
  launch_pdl(k_rms_norm, dim3(rows), dim3(threads), 0, s, pdl_enabled(), x, y, w, eps, n, out, q, ds,
             static_cast<uint16_t*>(out16), static_cast<int>(t16 == DType::BF16));
  check_launch("rms_norm");
}

void rope(float* x, const int32_t* positions, int T, int n_heads, int head_dim, const RopeArgs& a, const float* ff,
          cudaStream_t s) {
  launch_pdl(k_rope, dim3(T, rope_head_groups(T, n_heads)), dim3(256), 0, s, pdl_enabled(), x, n_heads,
             static_cast<float*>(nullptr), 0, positions, head_dim, a, ff);
  check_launch("rope");
}

void rope2(float* x1, int n1, float* x2, int n2, const int32_t* positions, int T, int head_dim, const RopeArgs& a,
           const float* ff, cudaStream_t s) {
  launch_pdl(k_rope, dim3(T, rope_head_groups(T, n1 + n2)), dim3(256), 0, s, pdl_enabled(), x1, n1, x2, n2, positions,
             head_dim, a, ff);
  check_launch("rope2");
}

void swiglu(const float* g, const float* u, float* out, size_t n, cudaStream_t s) {
  launch_pdl(k_swiglu, dim3(blocks_for(n, 256)), dim3(256), 0, s, pdl_enabled(), g, u, out, n);
  check_launch("swiglu");
}
void swiglu16(DType t, const void* g, const void* u, void* out, size_t n, cudaStream_t s) {
  const size_t threads = n % 8 == 0 ? n / 8 : n;
  launch_pdl(k_swiglu16, dim3(blocks_for(threads, 256)), dim3(256), 0, s, pdl_enabled(), static_cast<const uint16_t*>(g),
             static_cast<const uint16_t*>(u), static_cast<int>(t == DType::BF16), static_cast<uint16_t*>(out), n);
  check_launch("swiglu16");
}
void widen_to_f32(DType t, const void* x, size_t n, float* out, cudaStream_t s) {
  k_widen<<<blocks_for(n, 256), 256, 0, s>>>(static_cast<const uint16_t*>(x), static_cast<int>(t == DType::BF16), out, n);
  check_launch("widen_to_f32");
}
void gelu_mul(const float* g, const float* u, float* out, size_t n, cudaStream_t s) {
  k_gelu_mul<<<blocks_for(n, 256), 256, 0, s>>>(g, u, out, n);
  check_launch("gelu_mul");
}
void add(float* x, const float* y, size_t n, cudaStream_t s) {
  k_add<<<blocks_for(n, 256), 256, 0, s>>>(x, y, n);
  check_launch("add");
}
void add_row(float* x, const float* b, int rows, int n, cudaStream_t s) {
  k_add_row<<<blocks_for(static_cast<size_t>(rows) * n, 256), 256, 0, s>>>(x, b, rows, n);
  check_launch("add_row");
}
void mul_scalar(float* x, float v, size_t n, cudaStream_t s) {
  k_mul_scalar<<<blocks_for(n, 256), 256, 0, s>>>(x, v, n);
  check_launch("mul_scalar");
}
void gather_rows(const float* x, int n, const int32_t* rows, int n_rows, float* out, cudaStream_t s) {
  k_gather<<<blocks_for(static_cast<size_t>(n_rows) * n, 256), 256, 0, s>>>(x, n, rows, n_rows, out);
  check_launch("gather_rows");
}
void scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales, int n_rows, int n,
                        cudaStream_t s) {
  k_scatter_add_scaled<<<blocks_for(n, 256), 256, 0, s>>>(dst, src, rows, scales, n_rows, n);
  check_launch("scatter_add_scaled");
}

void quantize_q8(const float* x, int rows, int K, int8_t* q, float2* ds, cudaStream_t s) {
  const size_t nb = static_cast<size_t>(rows) * (K / 32);
  launch_pdl(k_quantize_q8, dim3(blocks_for(nb * 32, 256)), dim3(256), 0, s, pdl_enabled(), x, nb, q, ds);
  check_launch("quantize_q8");
}

}  // namespace mlxr::cuda
