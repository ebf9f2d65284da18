// Grouped decode matvecs fed by Hopper bulk copies (matvec_group variants; CPU reference:
// core/kernels/cpu/matmul.cpp matmul_reference). A persistent grid (one or two blocks per
// multiprocessor) splits the group's work units (weight rows; gate/up row pairs with SwiGLU)
// into one contiguous range per block. In each block one producer thread copies whole runs of
// rows (contiguous in memory) into a ring of shared-memory stages with cp.async.bulk, each
// stage completing on its `full` mbarrier by byte count; eight consumer warps compute the dot
// products out of shared memory and release the stage on its `empty` mbarrier. So a block
// keeps up to a ring of bytes in flight with no per-thread load depth, and the first copies
// are issued before the programmatic-dependent-launch wait (weights never depend on the
// previous kernel; x, the activations and the outputs are touched only after it).
#include "core/kernels/cuda/matvec_dot.cuh"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

namespace mlxr::cuda {
namespace {

constexpr int kBulkWarps = 8;                        // consumer warps
constexpr int kBulkThreads = (kBulkWarps + 1) * 32;  // and one producer warp
constexpr int kBulkMaxStages = 8;
// Shared memory: full[kBulkMaxStages], empty[kBulkMaxStages] (mbarriers), then the partial sums
// of split rows, red[2][kBulkWarps][2][kMatvecMaxRows] (double-buffered by stage), then x
// (16-bit types), then the ring.
constexpr int kBarBytes = 2 * kBulkMaxStages * 8;
constexpr int kRedStride = kBulkWarps * 2 * kMatvecMaxRows;  // floats per buffer
constexpr int kFixedBytes = (kBarBytes + 2 * kRedStride * 4 + 127) / 128 * 128;

// How a launch lays out its work. A stage holds `rps` units; each unit's row is split along K
// into `parts` slices, one consumer warp each (rps * parts == kBulkWarps), so every warp has
// one slice of one unit per stage.
struct BulkShape {
  int units;         // weight rows of the group; gate rows with SwiGLU
  int rps;           // units per stage: a power of two <= kBulkWarps
  int parts;         // warps per unit
  int stages;        // ring depth, 2..kBulkMaxStages
  int stage_stride;  // bytes from one stage to the next (a multiple of 128)
  int ring_off;      // the ring's offset in shared memory (a multiple of 128)
};

// ---- mbarrier and bulk-copy primitives (PTX ISA 8.0, sm_90) ----
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* b, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(b)), "r"(count) : "memory");
}
// Makes the initialized barriers visible to the async proxy (the copy engine) and other threads.
__device__ __forceinline__ void mbar_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
// The producer's arrival: this phase also waits for `bytes` of copies.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* b, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* b) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(b)) : "memory");
}
// Waits until the phase of parity `parity` has completed (acquire: the copied bytes, or the
// consumers' release, are visible after it).
__device__ __forceinline__ void mbar_wait(uint64_t* b, uint32_t parity) {
  const uint32_t a = smem_u32(b);
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
        "selp.u32 %0, 1, 0, p;\n\t}"
        : "=r"(done)
        : "r"(a), "r"(parity)
        : "memory");
  } while (!done);
}
// L2 policy for weights: read once per step, so evicted first (activations and the KV cache
// stay).
__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
  return p;
}
// bytes (a multiple of 16) from global src to shared dst (both 16-byte aligned), completing
// on `bar` by byte count.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(
          smem_u32(dst)),
      "l"(src), "r"(bytes), "r"(smem_u32(bar)), "l"(policy)
      : "memory");
}
// Barrier of the consumer warps only (the producer never joins): named barrier 1.
__device__ __forceinline__ void consumers_sync() {
  asm volatile("bar.sync 1, %0;" ::"n"(kBulkWarps * 32) : "memory");
}

// The next stage of a block's range [cur, end): units of one weight (they never straddle two;
// with SwiGLU, gate rows and the same up rows), at most rps of them.
struct Chunk {
  int t;      // weight index
  int local;  // first unit's row in that weight
  int nu;     // units, 1..rps
};
__device__ __forceinline__ Chunk chunk_at(const MatvecGroup& g, int cur, int end, int rps) {
  if (g.glu) return Chunk{0, cur, min(rps, end - cur)};
  const int n0 = g.t[0].n, n01 = n0 + g.t[1].n;
  const bool s0 = cur < n0, s1 = !s0 && cur < n01;
  const int base = s0 ? 0 : s1 ? n0 : n01;
  const int lim = s0 ? min(end, n0) : s1 ? min(end, n01) : end;
  return Chunk{s0 ? 0 : s1 ? 1 : 2, cur - base, min(rps, lim - cur)};
}

// One thread issues every copy of the block, in chunk order, refilling a stage once all
// consumer warps have released it.
__device__ __forceinline__ void produce(const MatvecGroup& g, const BulkShape& sh, int start, int end, uint8_t* ring,
                                        uint64_t* full, uint64_t* empty) {
  const uint32_t rb = static_cast<uint32_t>(g.t[0].row_bytes);
  const uint64_t policy = evict_first_policy();
  int slot = 0;
  uint32_t pass = 0;  // parity of the current pass over the ring
  for (int cur = start; cur < end;) {
    const Chunk c = chunk_at(g, cur, end, sh.rps);
    // First pass: parity 1 is the phase before the first, complete at once (the ring starts empty).
    mbar_wait(empty + slot, pass ^ 1);
    uint8_t* dst = ring + slot * sh.stage_stride;
    const uint32_t bytes = static_cast<uint32_t>(c.nu) * rb;
    const void* w = c.t == 0 ? g.t[0].w : c.t == 1 ? g.t[1].w : g.t[2].w;
    const size_t off = static_cast<size_t>(c.local) * rb;
    mbar_arrive_expect_tx(full + slot, g.glu ? 2 * bytes : bytes);
    bulk_copy(dst, static_cast<const uint8_t*>(w) + off, bytes, full + slot, policy);
    if (g.glu) bulk_copy(dst + sh.rps * rb, static_cast<const uint8_t*>(g.t[1].w) + off, bytes, full + slot, policy);
    cur += c.nu;
    if (++slot == sh.stages) {
      slot = 0;
      pass ^= 1;
    }
  }
}

// Unit u of chunk c, activation row r: a0 (and a1, the up row, with SwiGLU) to the outputs.
__device__ __forceinline__ void store_out(const MatvecGroup& g, const Chunk& c, int u, int r, float a0, float a1) {
  const size_t lr = static_cast<size_t>(c.local + u);
  if (g.glu) {
    const size_t n = static_cast<size_t>(g.t[0].n);
    g.t[0].y[r * n + lr] = a0;
    g.t[1].y[r * n + lr] = a1;
    g.glu[r * n + lr] = a0 / (1.0f + expf(-a0)) * a1;
    return;
  }
  float* y = c.t == 0 ? g.t[0].y : c.t == 1 ? g.t[1].y : g.t[2].y;
  const int ny = c.t == 0 ? g.t[0].n : c.t == 1 ? g.t[1].n : g.t[2].n;
  y[static_cast<size_t>(r) * ny + lr] = a0;
}

template <int TYPE>
constexpr bool is16() {
  return static_cast<DType>(TYPE) == DType::BF16 || static_cast<DType>(TYPE) == DType::F16;
}

// This lane's share of one unit's slice: 16-byte words (16-bit) or sub-blocks (quantized)
// first, first + step, ... of each of its NW rows (row r1: the up row with SwiGLU).
template <int TYPE, int R, int NW>
__device__ __forceinline__ void unit_dot(const uint8_t* r0, const uint8_t* r1, int K, int first, int step,
                                         const uint4* xs4, const int8_t* xq, const float2* xds, float (&acc)[2][R]) {
  if constexpr (is16<TYPE>()) {
    const uint4* w0 = reinterpret_cast<const uint4*>(r0);
    const uint4* w1 = reinterpret_cast<const uint4*>(r1);
    const int C = K / 8;
#pragma unroll 4
    for (int c = first; c < C; c += step) {
      const uint4 xv = xs4[c];
      acc[0][0] += dot8<TYPE>(w0[c], xv);
      if (NW == 2) acc[1][0] += dot8<TYPE>(w1[c], xv);
    }
  } else {
    const int nsb = K / 32;
#pragma unroll 2
    for (int sb = first; sb < nsb; sb += step) {
      SubBlock w[2];
      w[0] = decode_sb<TYPE, true>(r0, sb);
      if (NW == 2) w[1] = decode_sb<TYPE, true>(r1, sb);
      dot_sb<TYPE, R, NW>(w, xq, xds, K, sb, acc);
    }
  }
}

// MINB: blocks per multiprocessor the launch aims at (2 caps registers at 96 a thread).
template <int TYPE, int R, int MINB>
__global__ __launch_bounds__(kBulkThreads, MINB) void k_mv_bulk(MatvecGroup g, BulkShape sh, const float* __restrict__ x,
                                                             const int8_t* __restrict__ xq,
                                                             const float2* __restrict__ xds) {
  extern __shared__ __align__(128) uint8_t bulk_smem[];
  uint64_t* full = reinterpret_cast<uint64_t*>(bulk_smem);
  uint64_t* empty = full + kBulkMaxStages;
  float* red = reinterpret_cast<float*>(bulk_smem + kBarBytes);
  uint8_t* ring = bulk_smem + sh.ring_off;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (threadIdx.x == 0) {
    for (int i = 0; i < sh.stages; ++i) {
      mbar_init(full + i, 1);
      mbar_init(empty + i, kBulkWarps);
    }
    mbar_init_fence();
  }
  __syncthreads();
  pdl_trigger();
  const int start = static_cast<int>(static_cast<long long>(blockIdx.x) * sh.units / gridDim.x);
  const int end = static_cast<int>(static_cast<long long>(blockIdx.x + 1) * sh.units / gridDim.x);
  if (warp == kBulkWarps) {
    // Weights only: no wait for the previous kernel.
    if (lane == 0) produce(g, sh, start, end, ring, full, empty);
    return;
  }
  pdl_wait();
  const uint4* xs4 = reinterpret_cast<const uint4*>(bulk_smem + kFixedBytes);
  if constexpr (is16<TYPE>()) {
    // x rounded to the weight type, once per block.
    uint16_t* xs = reinterpret_cast<uint16_t*>(bulk_smem + kFixedBytes);
    for (int i = threadIdx.x; i < g.K; i += kBulkWarps * 32) {
      const float v = x[i];
      xs[i] = static_cast<DType>(TYPE) == DType::BF16 ? f2bf(v) : f2h(v);
    }
    consumers_sync();
  }
  const size_t rb = g.t[0].row_bytes;
  const bool glu = g.glu != nullptr;
  const int j = warp / sh.parts, part = warp - j * sh.parts;  // this warp's unit and slice
  const int first = part * 32 + lane, step = 32 * sh.parts;
  int slot = 0, buf = 0;
  uint32_t pass = 0;
  for (int cur = start; cur < end;) {
    const Chunk c = chunk_at(g, cur, end, sh.rps);
    const bool mine = j < c.nu;  // warp-uniform: the last stage of a range may hold fewer units
    float acc[2][R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[0][r] = acc[1][r] = 0.f;
    mbar_wait(full + slot, pass);
    const uint8_t* row = ring + slot * sh.stage_stride + j * rb;
    if (mine) {
      if (glu) unit_dot<TYPE, R, 2>(row, row + sh.rps * rb, g.K, first, step, xs4, xq, xds, acc);
      else unit_dot<TYPE, R, 1>(row, row, g.K, first, step, xs4, xq, xds, acc);
    }
    __syncwarp();  // every lane's reads of the stage are done before the release
    if (lane == 0) mbar_arrive(empty + slot);
    if (mine) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        acc[0][r] = warp_sum(acc[0][r]);
        if (glu) acc[1][r] = warp_sum(acc[1][r]);
      }
    }
    if (sh.parts == 1) {
      if (mine && lane == 0) {
#pragma unroll
        for (int r = 0; r < R; ++r) store_out(g, c, j, r, acc[0][r], acc[1][r]);
      }
    } else {
      // Slices of a row meet in shared memory. Double buffering: buffer `buf` is written again
      // two stages later, after every consumer passed the next stage's barrier, so after
      // its readers below are done.
      float* rs = red + buf * kRedStride;
      if (mine && lane == 0) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          rs[(warp * 2) * kMatvecMaxRows + r] = acc[0][r];
          rs[(warp * 2 + 1) * kMatvecMaxRows + r] = acc[1][r];
        }
      }
      consumers_sync();
      if (static_cast<int>(threadIdx.x) < c.nu * R) {
        const int u = threadIdx.x / R, r = threadIdx.x - u * R;
        float a0 = 0.f, a1 = 0.f;
        for (int s = 0; s < sh.parts; ++s) {
          const int w = u * sh.parts + s;
          a0 += rs[(w * 2) * kMatvecMaxRows + r];
          a1 += rs[(w * 2 + 1) * kMatvecMaxRows + r];
        }
        store_out(g, c, u, r, a0, a1);
      }
      buf ^= 1;
    }
    cur += c.nu;
    if (++slot == sh.stages) {
      slot = 0;
      pass ^= 1;
    }
  }
  // Every copy issued was waited for above (the producer walks the same chunks), so no copy is
  // in flight when the block exits.
}

// ---- Host side ----

// Launch configurations: blocks per multiprocessor, the stage size aimed at, and the ring size
// (a smaller ring leaves more L1 for the activations of quantized groups with several rows).
struct BulkConfig {
  int blocks_per_sm;
  int stage_cap;
  int ring_cap;
};
constexpr BulkConfig kBulkConfigs[kMatvecBulkConfigs] = {
    {1, 32 << 10, 200 << 10},
    {2, 16 << 10, 96 << 10},
    {1, 16 << 10, 96 << 10},
};

struct SmemLimits {
  int per_block_optin = 0, per_sm = 0, reserved = 0;
};

// Read once per device (attribute queries are not free on every launch).
SmemLimits smem_limits(int dev) {
  static std::mutex mu;
  static SmemLimits cache[64];
  static bool known[64] = {};
  std::lock_guard<std::mutex> lock(mu);
  if (dev < 0 || dev >= 64) dev = 0;
  if (!known[dev]) {
    SmemLimits& l = cache[dev];
    cudaDeviceGetAttribute(&l.per_block_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    cudaDeviceGetAttribute(&l.per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev);
    cudaDeviceGetAttribute(&l.reserved, cudaDevAttrReservedSharedMemoryPerBlock, dev);
    known[dev] = true;
  }
  return cache[dev];
}

// Blocks of `kernel` with `smem` bytes that fit on one multiprocessor; the first time for a
// kernel on a device, its dynamic shared-memory limit is raised to the device's maximum. Cached:
// both are host calls the launch path need not repeat.
int resident_blocks(const void* kernel, int dev, size_t smem, int smem_max) {
  static std::mutex mu;
  static std::map<std::tuple<const void*, int, size_t>, int> cache;
  static std::set<std::pair<const void*, int>> raised;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find({kernel, dev, smem});
  if (it != cache.end()) return it->second;
  if (raised.insert({kernel, dev}).second)
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_max);
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kBulkThreads, smem);
  cache[{kernel, dev, smem}] = per_sm;
  return per_sm;
}

template <int TYPE, int R, int MINB>
void launch_bulk(const MatvecGroup& g, const BulkShape& sh, size_t smem, int num_sms, int dev, int smem_max,
                 const float* x, const int8_t* xq, const float2* xds, cudaStream_t s, bool pdl) {
  auto k = k_mv_bulk<TYPE, R, MINB>;
  const int per_sm = std::clamp(resident_blocks(reinterpret_cast<const void*>(k), dev, smem, smem_max), 1, MINB);
  const int blocks = std::min(std::max(1, num_sms) * per_sm, sh.units);
  launch_pdl(k, dim3(static_cast<unsigned>(blocks)), dim3(kBulkThreads), smem, s, pdl, g, sh, x, xq, xds);
}

}  // namespace

bool matvec_group_bulk(const MatvecGroup& g, const float* x, const int8_t* xq, const float2* xds, int R, int num_sms,
                       cudaStream_t s, bool pdl, int config) {
  if (config < 0 || config >= kMatvecBulkConfigs || g.count < 1 || g.count > 3 || R < 1 || R > kMatvecMaxRows)
    return false;
  const bool f16 = g.type == DType::BF16 || g.type == DType::F16;
  if ((f16 && (R != 1 || g.K % 8 != 0)) || (!f16 && (!dispatch_quant(g.type, [](auto) {}) || g.K % 32 != 0)))
    return false;
  if (g.glu && (g.count != 2 || g.t[0].n != g.t[1].n)) return false;
  // Bulk copies move multiples of 16 bytes between 16-byte aligned addresses: rows must be.
  const size_t rb = g.t[0].row_bytes;
  if (rb == 0 || rb % 16 != 0 || rb > (size_t{1} << 20)) return false;
  int units = 0;
  for (int i = 0; i < g.count; ++i) {
    if (g.t[i].row_bytes != rb || reinterpret_cast<uintptr_t>(g.t[i].w) % 16 != 0) return false;
    units += g.t[i].n;
  }
  if (g.glu) units = g.t[0].n;
  if (units == 0) return true;

  const BulkConfig cf = kBulkConfigs[config];
  const int unit_bytes = static_cast<int>(rb) * (g.glu ? 2 : 1);
  int rps = 1;
  while (rps < kBulkWarps && 2 * rps * unit_bytes <= cf.stage_cap) rps *= 2;
  const int stride = (rps * unit_bytes + 127) / 128 * 128;
  const int fixed = kFixedBytes + (f16 ? (g.K * 2 + 127) / 128 * 128 : 0);
  int dev = 0;
  cudaGetDevice(&dev);
  const SmemLimits lim = smem_limits(dev);
  const int budget = std::min({lim.per_block_optin, lim.per_sm / cf.blocks_per_sm - lim.reserved, fixed + cf.ring_cap});
  const int stages = std::min(kBulkMaxStages, (budget - fixed) / stride);
  if (stages < 2) return false;
  const BulkShape sh{units, rps, kBulkWarps / rps, stages, stride, fixed};
  const size_t smem = static_cast<size_t>(fixed) + static_cast<size_t>(stages) * stride;

  auto go = [&](auto ty_, auto rows_) {
    constexpr int TY = decltype(ty_)::value, RR = decltype(rows_)::value;
    if (cf.blocks_per_sm == 2) launch_bulk<TY, RR, 2>(g, sh, smem, num_sms, dev, lim.per_block_optin, x, xq, xds, s, pdl);
    else launch_bulk<TY, RR, 1>(g, sh, smem, num_sms, dev, lim.per_block_optin, x, xq, xds, s, pdl);
  };
  using One = std::integral_constant<int, 1>;
  if (g.type == DType::BF16) go(std::integral_constant<int, static_cast<int>(DType::BF16)>{}, One{});
  else if (g.type == DType::F16) go(std::integral_constant<int, static_cast<int>(DType::F16)>{}, One{});
  else dispatch_quant(g.type, [&](auto ty_) { dispatch_rows(R, [&](auto rows_) { go(ty_, rows_); }); });
  check_launch("matvec_group (bulk)");
  return true;
}

}  // namespace mlxr::cuda
