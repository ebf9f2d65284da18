// Matrix-vector products for small row counts (decode): y (R, N) = x (R, K) · Wᵀ, one warp per
// output row, weights streamed once with wide loads. CPU reference: core/kernels/cpu/matmul.cpp
// (matmul_reference: x rounded to the activation format, W dequantised, exact sums).
// Quantized weights stay quantized: each lane takes one 32-value sub-block at a time and
// multiplies its integer quants with int8 activations by dp4a, scaling once per sub-block.
// The kernels here load weights into registers; matvec_group's bulk-copy variants (weights
// staged in shared memory by the copy engine) are in matvec_bulk.cu.
#include "core/kernels/cuda/matvec_dot.cuh"

#include <algorithm>

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

// ---- Grouped streaming matvecs (decode) ----
// Up to three weights that share the input x run as one launch (q/k/v; gate/up), optionally
// with the SwiGLU of the first two fused in. Work is split in units of two weight rows per
// warp (16-bit weights: persistent blocks, one wave, looping over units, so x is staged once
// per block). Launched with programmatic dependent launch: before waiting for the previous
// kernel, each warp prefetches the start of its first unit's weight rows into L2, so weight
// streaming overlaps the previous kernel's tail.

__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}
// Streaming 16-byte load: read once, no L1 allocation.
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// One weight row of a unit: its bytes, its output (null: past the last row, nothing to write)
// and the output's row stride (the weight's row count). Plain scalars, so nothing is indexed at
// run time and the unit stays in registers.
struct UnitRow {
  const uint8_t* w;
  float* y;
  int ny;
};

// Global row r of a group without SwiGLU (rows of the weights one after another).
__device__ __forceinline__ UnitRow group_row(const MatvecGroup& g, int r) {
  const MatvecTarget& a = g.t[0];
  const MatvecTarget& b = g.t[1];
  const MatvecTarget& c = g.t[2];
  const int n01 = a.n + b.n;
  const bool s0 = r < a.n, s1 = !s0 && r < n01;
  const int local = s0 ? r : s1 ? r - a.n : r - n01;
  const void* w = s0 ? a.w : s1 ? b.w : c.w;
  const size_t rb = s0 ? a.row_bytes : s1 ? b.row_bytes : c.row_bytes;
  if (r >= n01 + c.n) return UnitRow{nullptr, nullptr, 0};
  return UnitRow{static_cast<const uint8_t*>(w) + static_cast<size_t>(local) * rb, (s0 ? a.y : s1 ? b.y : c.y) + local,
                 s0 ? a.n : s1 ? b.n : c.n};
}

// Unit u: two weight rows per warp. With SwiGLU, row u of the gate and row u of the up weight.
struct Unit {
  UnitRow r0, r1;
  int glu_index;  // >= 0: output index of the fused SwiGLU
};

// ROWS 1: one row per unit (no SwiGLU), for tall-K weights with too few rows to fill the GPU
// two at a time.
template <int ROWS>
__device__ __forceinline__ Unit unit_of(const MatvecGroup& g, int u) {
  if (ROWS == 1) {
    const UnitRow r0 = group_row(g, u);
    return Unit{r0, UnitRow{r0.w, nullptr, 0}, -1};
  }
  if (g.glu) {
    const UnitRow r0{static_cast<const uint8_t*>(g.t[0].w) + static_cast<size_t>(u) * g.t[0].row_bytes, g.t[0].y + u, g.t[0].n};
    const UnitRow r1{static_cast<const uint8_t*>(g.t[1].w) + static_cast<size_t>(u) * g.t[1].row_bytes, g.t[1].y + u, g.t[1].n};
    return Unit{r0, r1, u};
  }
  const UnitRow r0 = group_row(g, 2 * u);
  UnitRow r1 = group_row(g, 2 * u + 1);
  if (!r1.w) r1.w = r0.w;  // an odd last row: read row 0 again, write nothing
  return Unit{r0, r1, -1};
}

__device__ __forceinline__ void prefetch_unit(const Unit& un, size_t row_bytes, int lane) {
  // Lanes 0-7 take row 0, 8-15 row 1: the first 1 KiB of each.
  const size_t off = static_cast<size_t>(lane & 7) * 128;
  if (lane < 16 && off < row_bytes) prefetch_l2((lane < 8 ? un.r0.w : un.r1.w) + off);
}

// Activation row i of the unit's two outputs (and of the fused SwiGLU).
__device__ __forceinline__ void store_unit(const Unit& un, int i, float a0, float a1, float* glu_out) {
  if (un.r0.y) un.r0.y[static_cast<size_t>(i) * un.r0.ny] = a0;
  if (un.r1.y) un.r1.y[static_cast<size_t>(i) * un.r1.ny] = a1;
  if (un.glu_index >= 0) glu_out[static_cast<size_t>(i) * un.r0.ny + un.glu_index] = a0 / (1.0f + expf(-a0)) * a1;
}

constexpr int kStreamWarps = 8;

// Lets the next kernel launch, prefetches this warp's first unit, waits for the previous
// kernel; returns the warp's first unit.
template <int ROWS>
__device__ __forceinline__ int group_prologue(const MatvecGroup& g, int units, int lane) {
  const int warp0 = blockIdx.x * kStreamWarps + (threadIdx.x >> 5);
  pdl_trigger();
  if (warp0 < units) prefetch_unit(unit_of<ROWS>(g, warp0), g.t[0].row_bytes, lane);
  pdl_wait();
  return warp0;
}

// 16-bit weights, one activation row, x rounded to the weight type into shared memory once
// per block. DEPTH 16-byte loads per row are in flight per lane.
template <int TYPE, int DEPTH, int ROWS>
__global__ __launch_bounds__(kStreamWarps * 32) void k_mv16_group(MatvecGroup g, int units, const float* __restrict__ x) {
  extern __shared__ uint4 xs4[];
  const int lane = threadIdx.x & 31;
  const int warp0 = group_prologue<ROWS>(g, units, lane);
  const int stride = gridDim.x * kStreamWarps;
  uint16_t* xs = reinterpret_cast<uint16_t*>(xs4);
  for (int i = threadIdx.x; i < g.K; i += blockDim.x) {
    const float v = x[i];
    xs[i] = static_cast<DType>(TYPE) == DType::BF16 ? f2bf(v) : f2h(v);
  }
  __syncthreads();
  const int C = g.K / 8;
  for (int u = warp0; u < units; u += stride) {
    const Unit un = unit_of<ROWS>(g, u);
    const uint4* w0 = reinterpret_cast<const uint4*>(un.r0.w);
    const uint4* w1 = reinterpret_cast<const uint4*>(un.r1.w);
    float a0 = 0.f, a1 = 0.f;
    for (int c0 = lane; c0 < C; c0 += 32 * DEPTH) {
      uint4 p[DEPTH], q[DEPTH];
#pragma unroll
      for (int d = 0; d < DEPTH; ++d) {
        const int c = c0 + 32 * d;
        if (c < C) {
          p[d] = ld_stream(w0 + c);
          if (ROWS == 2) q[d] = ld_stream(w1 + c);
        }
      }
#pragma unroll
      for (int d = 0; d < DEPTH; ++d) {
        const int c = c0 + 32 * d;
        if (c < C) {
          const uint4 xv = xs4[c];
          a0 += dot8<TYPE>(p[d], xv);
          if (ROWS == 2) a1 += dot8<TYPE>(q[d], xv);
        }
      }
    }
    a0 = warp_sum(a0);
    if (ROWS == 2) a1 = warp_sum(a1);
    if (lane == 0) store_unit(un, 0, a0, a1, g.glu);
  }
}

// Quantized weights, R activation rows (int8 per 32 values): one 32-value sub-block per lane
// at a time (k_mvq_group, k_mvq_row below).
template <int TYPE, int R, int ROWS>
__device__ __forceinline__ void mvq_group(const MatvecGroup& g, int units, const int8_t* __restrict__ xq,
                                          const float2* __restrict__ xds) {
  const int lane = threadIdx.x & 31;
  const int warp0 = group_prologue<ROWS>(g, units, lane);
  const int stride = gridDim.x * kStreamWarps;
  const int K = g.K, nsb = K / 32;
  for (int u = warp0; u < units; u += stride) {
    const Unit un = unit_of<ROWS>(g, u);
    float acc[2][R];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[0][i] = acc[1][i] = 0.f;
#pragma unroll 4
    for (int sb = lane; sb < nsb; sb += 32) {
      SubBlock w[2];
      w[0] = decode_sb<TYPE, false>(un.r0.w, sb);
      if (ROWS == 2) w[1] = decode_sb<TYPE, false>(un.r1.w, sb);
      dot_sb<TYPE, R, ROWS>(w, xq, xds, K, sb, acc);
    }
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const float v0 = warp_sum(acc[0][i]), v1 = ROWS == 2 ? warp_sum(acc[1][i]) : 0.f;
      if (lane == 0) store_unit(un, i, v0, v1, g.glu);
    }
  }
}

template <int TYPE, int R, int ROWS>
__global__ __launch_bounds__(kStreamWarps * 32) void k_mvq_group(MatvecGroup g, int units, const int8_t* __restrict__ xq,
                                                                 const float2* __restrict__ xds) {
  mvq_group<TYPE, R, ROWS>(g, units, xq, xds);
}
// One activation row (decode at batch 1) is latency-bound: Nsight Compute on H200 showed the
// Q4_K kernel at 58% of DRAM bandwidth, its warps mostly waiting on loads, 3 blocks per
// multiprocessor for 70 registers. Capped at 64 (4 blocks, a few bytes spilled) each Q4_K
// matvec of the llama3-8b shape took 2-12% less time. (With several rows the cap would spill.)
template <int TYPE, int ROWS>
__global__ __launch_bounds__(kStreamWarps * 32, 4) void k_mvq_row(MatvecGroup g, int units, const int8_t* __restrict__ xq,
                                                                  const float2* __restrict__ xds) {
  mvq_group<TYPE, 1, ROWS>(g, units, xq, xds);
}

}  // namespace

void matvec_float(DType t, const void* w, int K, int N, const float* x, int R, float* y, cudaStream_t s) {
  const unsigned grid = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  dispatch_rows(R, [&](auto tag_) {
    constexpr int RR = decltype(tag_)::value;
    if (t == DType::F32) k_mv_float<static_cast<int>(DType::F32), RR><<<grid, kWarps * 32, 0, s>>>(w, K, N, x, y);
    else if (t == DType::F16) k_mv_float<static_cast<int>(DType::F16), RR><<<grid, kWarps * 32, 0, s>>>(w, K, N, x, y);
    else k_mv_float<static_cast<int>(DType::BF16), RR><<<grid, kWarps * 32, 0, s>>>(w, K, N, x, y);
  });
  check_launch("matvec_float");
}

namespace {

// Blocks of one wave: the most that fit on every multiprocessor at once.
template <typename Kernel>
int wave_blocks(Kernel k, size_t smem, int num_sms) {
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, kStreamWarps * 32, smem);
  return std::max(1, num_sms * per_sm);
}

// persistent: at most one wave of blocks, each warp looping over units; else a warp per unit.
template <typename Kernel, typename... Args>
void launch_group(Kernel k, int units, size_t smem, bool persistent, int num_sms, cudaStream_t s, bool pdl,
                  Args... args) {
  const int needed = (units + kStreamWarps - 1) / kStreamWarps;
  const int blocks = persistent ? std::min(wave_blocks(k, smem, num_sms), needed) : needed;
  launch_pdl(k, dim3(static_cast<unsigned>(blocks)), dim3(kStreamWarps * 32), smem, s, pdl, args...);
}

}  // namespace

bool matvec_group_supported(DType t, int K) {
  if (t == DType::F16 || t == DType::BF16) return K % 8 == 0 && K * 2 <= 48 * 1024;
  return dispatch_quant(t, [](auto) {}) && K % 32 == 0;
}

// 16-bit: load depths 4, 8, 16, then the bulk configurations; quantized: one register-load
// kernel, then the bulk configurations.
static_assert(kMatvecVariants == 3 + kMatvecBulkConfigs);
int matvec_variant_count(DType t) {
  return t == DType::F16 || t == DType::BF16 ? 3 + kMatvecBulkConfigs : 1 + kMatvecBulkConfigs;
}

void matvec_group(const MatvecGroup& g, const float* x, const int8_t* xq, const float2* xds, int R, int num_sms,
                  cudaStream_t s, bool pdl, int variant) {
  const bool f16 = g.type == DType::BF16 || g.type == DType::F16;
  if (variant < 0 || variant >= matvec_variant_count(g.type)) variant = 0;
  // Variants past the register-load ones (3 for 16-bit weights, 1 for quantized) are the bulk
  // kernel's configurations; a group it cannot take runs variant 0.
  const int first_bulk = f16 ? 3 : 1;
  if (variant >= first_bulk) {
    if (matvec_group_bulk(g, x, xq, xds, R, num_sms, s, pdl, variant - first_bulk)) return;
    variant = 0;
  }
  int rows = 0;
  for (int i = 0; i < g.count; ++i) rows += g.t[i].n;
  const int sms = std::max(1, num_sms);
  // Fewer than 16 two-row warps per multiprocessor (e.g. 4096 rows of K = 14336): a row per warp.
  const bool one_row = R == 1 && !g.glu && (rows + 1) / 2 < 16 * sms;
  const int units = g.glu ? g.t[0].n : one_row ? rows : (rows + 1) / 2;
  if (f16) {
    const size_t smem = static_cast<size_t>(g.K) * 2;
    auto go = [&](auto depth_, auto rows_) {
      constexpr int D = decltype(depth_)::value, W = decltype(rows_)::value;
      if (g.type == DType::BF16)
        launch_group(k_mv16_group<static_cast<int>(DType::BF16), D, W>, units, smem, true, sms, s, pdl, g, units, x);
      else launch_group(k_mv16_group<static_cast<int>(DType::F16), D, W>, units, smem, true, sms, s, pdl, g, units, x);
    };
    auto by_depth = [&](auto rows_) {
      if (variant == 0) go(std::integral_constant<int, 4>{}, rows_);
      else if (variant == 1) go(std::integral_constant<int, 8>{}, rows_);
      else go(std::integral_constant<int, 16>{}, rows_);
    };
    one_row ? by_depth(std::integral_constant<int, 1>{}) : by_depth(std::integral_constant<int, 2>{});
    check_launch("matvec_group");
    return;
  }
  dispatch_quant(g.type, [&](auto ty_) {
    constexpr int TY = decltype(ty_)::value;
    if (one_row) {
      launch_group(k_mvq_row<TY, 1>, units, 0, false, sms, s, pdl, g, units, xq, xds);
      return;
    }
    dispatch_rows(R, [&](auto tag_) {
      constexpr int RR = decltype(tag_)::value;
      if constexpr (RR == 1) launch_group(k_mvq_row<TY, 2>, units, 0, false, sms, s, pdl, g, units, xq, xds);
      else launch_group(k_mvq_group<TY, RR, 2>, units, 0, false, sms, s, pdl, g, units, xq, xds);
    });
  });
  check_launch("matvec_group");
}

}  // namespace mlxr::cuda
