// Paged attention on the GPU. CPU reference: core/kernels/cpu/attention.cpp (kv_store, attention).
// K/V are read through each sequence's block table; GQA: the query heads that share a KV head
// are computed together so each K/V row is read once per token.
//  - attention_split: flash-decoding. Each block takes (token, kv head, head group, split of the
//    key range), keeps an online softmax per warp, merges warps in shared memory; a second
//    kernel merges the splits.
//  - attention_tiled: flash-attention style prefill on the tensor cores (mma.sync m16n8k16,
//    f16/bf16 in, f32 accumulate): 64 query rows of one sequence x one head per block, 64-key
//    tiles of K and V staged in shared memory, online softmax in registers. Like the CPU path,
//    q and the probabilities are rounded to the cache type.
#include <cmath>
#include <type_traits>

#include "core/kernels/cuda/common.cuh"
#include "core/kernels/cuda/kernels.h"

namespace mlxr::cuda {
namespace {

__device__ __forceinline__ size_t cache_row(const KVArgs& kv, int seq, int pos, int kvh) {
  const int blk = kv.tables[static_cast<size_t>(seq) * kv.stride + pos / kv.block_size];
  return ((static_cast<size_t>(blk) * kv.block_size + pos % kv.block_size) * kv.n_kv + kvh) * kv.hd;
}

template <typename KT>
__global__ void k_kv_store(KVArgs kv, const float* k, const float* v, int T) {
  const size_t row = static_cast<size_t>(kv.n_kv) * kv.hd;
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= row * T) return;
  const int t = static_cast<int>(i / row);
  const size_t c = i % row;
  const size_t dst = cache_row(kv, kv.seq_of[t], kv.positions[t], 0) + c;
  static_cast<KT*>(kv.k)[dst] = KvT<KT>::store(k[i]);
  static_cast<KT*>(kv.v)[dst] = KvT<KT>::store(v[i]);
}

constexpr int kSplitWarps = 4;
constexpr int kMaxGroup = 8;

// E > 0: head_dim == 32*E, lane owns E contiguous values; E == 0: strided, head_dim <= 256.
// GM: query heads per block rounded up to a power of two (<= kMaxGroup); heads past the real
// group size see zero queries and are not written.
// Each warp takes KB consecutive keys per round: all K/V loads first, then the KB x GM scores
// (independent reductions), then one online-softmax update per head per round.
template <typename KT, int E, int GM>
__global__ __launch_bounds__(kSplitWarps * 32) void k_attn_split(KVArgs kv, const float* __restrict__ q, int n_head,
                                                                 int n_gc, float scale, int window, int nsplit,
                                                                 float* ws_o, float* ws_ml, float* out) {
  constexpr int EL = E > 0 ? E : 8;
  constexpr int KB = 4;
  extern __shared__ float sm[];
  const int hd = kv.hd;
  const int group = n_head / kv.n_kv;
  const int t = blockIdx.x / (kv.n_kv * n_gc);
  const int kvh = (blockIdx.x / n_gc) % kv.n_kv;
  const int gc = blockIdx.x % n_gc;
  const int h0 = kvh * group + gc * kMaxGroup;
  const int G = min(GM, group - gc * kMaxGroup);
  const int split = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  float* qs = sm;                                        // (GM, hd)
  float* red_o = sm + kMaxGroup * hd;                    // (warps, kMaxGroup, hd)
  float* red_ml = red_o + kSplitWarps * kMaxGroup * hd;  // (warps, kMaxGroup, 2)
  for (int i = threadIdx.x; i < GM * hd; i += blockDim.x)
    qs[i] = i / hd < G ? KvT<KT>::round(q[(static_cast<size_t>(t) * n_head + h0) * hd + i]) : 0.f;

  const int seq = kv.seq_of[t], pos = kv.positions[t];
  const int first = window > 0 ? max(0, pos - window + 1) : 0;
  const int len = pos + 1 - first;
  const int chunk = (len + nsplit - 1) / nsplit;
  const int j0 = first + split * chunk, j1 = min(pos + 1, j0 + chunk);
  // This split's slice of the block table, in shared memory: no dependent global load per key.
  int* tbl = reinterpret_cast<int*>(red_ml + kSplitWarps * kMaxGroup * 2);
  const int b0 = j0 / kv.block_size;
  if (j1 > j0) {
    const int nb = (j1 - 1) / kv.block_size - b0 + 1;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) tbl[i] = kv.tables[static_cast<size_t>(seq) * kv.stride + b0 + i];
  }
  __syncthreads();

  float m[GM], l[GM], acc[GM][EL];
#pragma unroll
  for (int g = 0; g < GM; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int e = 0; e < EL; ++e) acc[g][e] = 0.f;
  }
  const KT* K = static_cast<const KT*>(kv.k);
  const KT* V = static_cast<const KT*>(kv.v);
  for (int jb = j0 + warp * KB; jb < j1; jb += KB * kSplitWarps) {
    float kf[KB][EL], vf[KB][EL];
#pragma unroll
    for (int u = 0; u < KB; ++u) {
      const int j = jb + u;
      const bool live = j < j1;
      const size_t base =
          live ? ((static_cast<size_t>(tbl[j / kv.block_size - b0]) * kv.block_size + j % kv.block_size) * kv.n_kv + kvh) * hd
               : 0;
#pragma unroll
      for (int e = 0; e < EL; ++e) {
        const int d = E > 0 ? lane * E + e : lane + 32 * e;
        const bool ok = live && (E > 0 || d < hd);
        kf[u][e] = ok ? KvT<KT>::load(K, base + d) : 0.f;
        vf[u][e] = ok ? KvT<KT>::load(V, base + d) : 0.f;
      }
    }
    float sc[KB][GM];
#pragma unroll
    for (int u = 0; u < KB; ++u) {
#pragma unroll
      for (int g = 0; g < GM; ++g) {
        float a = 0.f;
#pragma unroll
        for (int e = 0; e < EL; ++e) {
          const int d = E > 0 ? lane * E + e : lane + 32 * e;
          if (E > 0 || d < hd) a += kf[u][e] * qs[g * hd + d];
        }
        sc[u][g] = a;
      }
    }
#pragma unroll
    for (int u = 0; u < KB; ++u) {
#pragma unroll
      for (int g = 0; g < GM; ++g) sc[u][g] = jb + u < j1 ? warp_sum(sc[u][g]) * scale : -INFINITY;
    }
#pragma unroll
    for (int g = 0; g < GM; ++g) {
      float mx = sc[0][g];
#pragma unroll
      for (int u = 1; u < KB; ++u) mx = fmaxf(mx, sc[u][g]);
      const float mn = fmaxf(m[g], mx);  // finite: key jb is always live
      const float alpha = __expf(m[g] - mn);
      float p[KB], ps = 0.f;
#pragma unroll
      for (int u = 0; u < KB; ++u) {
        p[u] = __expf(sc[u][g] - mn);
        ps += p[u];
      }
      l[g] = l[g] * alpha + ps;
#pragma unroll
      for (int e = 0; e < EL; ++e) {
        float a = acc[g][e] * alpha;
#pragma unroll
        for (int u = 0; u < KB; ++u) a += p[u] * vf[u][e];
        acc[g][e] = a;
      }
      m[g] = mn;
    }
  }
  // Merge the warps.
#pragma unroll
  for (int g = 0; g < GM; ++g) {
#pragma unroll
    for (int e = 0; e < EL; ++e) {
      const int d = E > 0 ? lane * E + e : lane + 32 * e;
      if (E > 0 || d < hd) red_o[(warp * kMaxGroup + g) * hd + d] = acc[g][e];
    }
    if (lane == 0) {
      red_ml[(warp * kMaxGroup + g) * 2] = m[g];
      red_ml[(warp * kMaxGroup + g) * 2 + 1] = l[g];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * hd; i += blockDim.x) {
    const int g = i / hd, d = i % hd;
    float M = -INFINITY;
    for (int w = 0; w < kSplitWarps; ++w) M = fmaxf(M, red_ml[(w * kMaxGroup + g) * 2]);
    float L = 0.f, O = 0.f;
    if (M != -INFINITY) {
      for (int w = 0; w < kSplitWarps; ++w) {
        const float mw = red_ml[(w * kMaxGroup + g) * 2];
        if (mw == -INFINITY) continue;
        const float f = __expf(mw - M);
        L += red_ml[(w * kMaxGroup + g) * 2 + 1] * f;
        O += red_o[(w * kMaxGroup + g) * hd + d] * f;
      }
    }
    const size_t th = static_cast<size_t>(t) * n_head + h0 + g;
    if (nsplit == 1) {
      out[th * hd + d] = O / L;
    } else {
      ws_o[(th * nsplit + split) * hd + d] = O;
      if (d == 0) {
        ws_ml[(th * nsplit + split) * 2] = M;
        ws_ml[(th * nsplit + split) * 2 + 1] = L;
      }
    }
  }
}

__global__ void k_attn_combine(const float* ws_o, const float* ws_ml, int nsplit, int hd, float* out) {
  const size_t th = blockIdx.x;
  float M = -INFINITY;
  for (int s = 0; s < nsplit; ++s) M = fmaxf(M, ws_ml[(th * nsplit + s) * 2]);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float L = 0.f, O = 0.f;
    for (int s = 0; s < nsplit; ++s) {
      const float ms = ws_ml[(th * nsplit + s) * 2];
      if (ms == -INFINITY) continue;
      const float f = __expf(ms - M);
      L += ws_ml[(th * nsplit + s) * 2 + 1] * f;
      O += ws_o[(th * nsplit + s) * hd + d] * f;
    }
    out[th * hd + d] = O / L;
  }
}

// ---- tensor-core prefill ----

template <typename KT> struct Mma;
template <> struct Mma<__half> {
  static __device__ __forceinline__ void run(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
};
template <> struct Mma<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    return static_cast<uint32_t>(f2bf(lo)) | (static_cast<uint32_t>(f2bf(hi)) << 16);
  }
};

constexpr int kTileKeys = 64;

// Four 8x8 b16 matrices from shared memory; lane L names row L%8 of matrix L/8.
__device__ __forceinline__ void ldsm_x4(const void* p, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
}
__device__ __forceinline__ void ldsm_x4_trans(const void* p, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
}

template <typename KT, int HD>
__global__ __launch_bounds__(128) void k_attn_tiled(KVArgs kv, const int32_t* __restrict__ tiles,
                                                    const float* __restrict__ q, int n_head, float scale, int window,
                                                    float* __restrict__ out) {
  constexpr int LD = HD + 8;  // padded row (elements): conflict-free fragment loads
  extern __shared__ __align__(16) unsigned char smem_raw[];
  KT* Qs = reinterpret_cast<KT*>(smem_raw);
  KT* Ks = Qs + kAttnTileRows * LD;
  KT* Vs = Ks + kTileKeys * LD;
  const int* tile = tiles + 5 * blockIdx.x;
  const int t0 = tile[0], nrows = tile[1], seq = tile[2], minpos = tile[3], maxpos = tile[4];
  const int h = blockIdx.y;
  const int kvh = h / (n_head / kv.n_kv);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, c = lane & 3;

  for (int i = tid; i < kAttnTileRows * HD / 8; i += 128) {
    const int r = i / (HD / 8), ch = i % (HD / 8);
    uint32_t p[4] = {0, 0, 0, 0};
    if (r < nrows) {
      const float4* src = reinterpret_cast<const float4*>(q + (static_cast<size_t>(t0 + r) * n_head + h) * HD + ch * 8);
      const float4 a = src[0], b = src[1];
      p[0] = Mma<KT>::pack(a.x, a.y);
      p[1] = Mma<KT>::pack(a.z, a.w);
      p[2] = Mma<KT>::pack(b.x, b.y);
      p[3] = Mma<KT>::pack(b.z, b.w);
    }
    *reinterpret_cast<uint4*>(Qs + r * LD + ch * 8) = make_uint4(p[0], p[1], p[2], p[3]);
  }
  // Rows g and g+8 of this warp's 16.
  const int ra = warp * 16 + g, rb = ra + 8;
  const int pos_a = ra < nrows ? kv.positions[t0 + ra] : -1;
  const int pos_b = rb < nrows ? kv.positions[t0 + rb] : -1;
  const int first_a = window > 0 ? pos_a - window + 1 : 0;
  const int first_b = window > 0 ? pos_b - window + 1 : 0;
  int warp_max = max(pos_a, pos_b);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) warp_max = max(warp_max, __shfl_xor_sync(0xffffffffu, warp_max, o));
  __syncthreads();

  uint32_t qf[HD / 16][4];
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk) {
    const KT* base = Qs + (warp * 16) * LD + kk * 16 + 2 * c;
    qf[kk][0] = *reinterpret_cast<const uint32_t*>(base + g * LD);
    qf[kk][1] = *reinterpret_cast<const uint32_t*>(base + (g + 8) * LD);
    qf[kk][2] = *reinterpret_cast<const uint32_t*>(base + g * LD + 8);
    qf[kk][3] = *reinterpret_cast<const uint32_t*>(base + (g + 8) * LD + 8);
  }

  float o[HD / 8][4];
#pragma unroll
  for (int i = 0; i < HD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;

  const int kv_begin = window > 0 ? max(0, minpos - window + 1) / kTileKeys * kTileKeys : 0;
  const int kv_end = maxpos + 1;
  const KT* K = static_cast<const KT*>(kv.k);
  const KT* V = static_cast<const KT*>(kv.v);
  for (int kt = kv_begin; kt < kv_end; kt += kTileKeys) {
    __syncthreads();
    for (int i = tid; i < kTileKeys * HD / 8; i += 128) {
      const int r = i / (HD / 8), ch = i % (HD / 8);
      const int j = kt + r;
      uint4 kvv = make_uint4(0, 0, 0, 0), vvv = make_uint4(0, 0, 0, 0);
      if (j < kv_end) {
        const size_t src = cache_row(kv, seq, j, kvh) + ch * 8;
        kvv = *reinterpret_cast<const uint4*>(K + src);
        vvv = *reinterpret_cast<const uint4*>(V + src);
      }
      *reinterpret_cast<uint4*>(Ks + r * LD + ch * 8) = kvv;
      *reinterpret_cast<uint4*>(Vs + r * LD + ch * 8) = vvv;
    }
    __syncthreads();
    if (kt > warp_max) continue;

    float s[kTileKeys / 8][4];
#pragma unroll
    for (int nt = 0; nt < kTileKeys / 8; ++nt) {
      s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
      // B fragments of Kᵀ for two k-steps per ldmatrix: matrices (keys nt*8.., dims +0/+8/+16/+24).
      const KT* kb = Ks + (nt * 8 + (lane & 7)) * LD + (lane >> 3) * 8;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk += 2) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(kb + kk * 16, b0, b1, b2, b3);
        Mma<KT>::run(s[nt], qf[kk], b0, b1);
        Mma<KT>::run(s[nt], qf[kk + 1], b2, b3);
      }
    }
    float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kTileKeys / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = kt + nt * 8 + 2 * c + (e & 1);
        const bool rowa = e < 2;
        const int p = rowa ? pos_a : pos_b, f = rowa ? first_a : first_b;
        const float v = (j <= p && j >= f) ? s[nt][e] * scale : -INFINITY;
        s[nt][e] = v;
        if (rowa) mx_a = fmaxf(mx_a, v);
        else mx_b = fmaxf(mx_b, v);
      }
    }
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
      mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, off));
      mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, off));
    }
    const float mn_a = fmaxf(m_a, mx_a), mn_b = fmaxf(m_b, mx_b);
    const float use_a = mn_a == -INFINITY ? 0.f : mn_a, use_b = mn_b == -INFINITY ? 0.f : mn_b;
    const float alpha_a = __expf(m_a - use_a), alpha_b = __expf(m_b - use_b);
    m_a = mn_a;
    m_b = mn_b;
    float sum_a = 0.f, sum_b = 0.f;
#pragma unroll
    for (int nt = 0; nt < kTileKeys / 8; ++nt) {
      s[nt][0] = __expf(s[nt][0] - use_a);
      s[nt][1] = __expf(s[nt][1] - use_a);
      s[nt][2] = __expf(s[nt][2] - use_b);
      s[nt][3] = __expf(s[nt][3] - use_b);
      sum_a += s[nt][0] + s[nt][1];
      sum_b += s[nt][2] + s[nt][3];
    }
    l_a = l_a * alpha_a + sum_a;
    l_b = l_b * alpha_b + sum_b;
#pragma unroll
    for (int dn = 0; dn < HD / 8; ++dn) {
      o[dn][0] *= alpha_a;
      o[dn][1] *= alpha_a;
      o[dn][2] *= alpha_b;
      o[dn][3] *= alpha_b;
    }
#pragma unroll
    for (int k2 = 0; k2 < kTileKeys / 16; ++k2) {
      uint32_t pa[4];
      pa[0] = Mma<KT>::pack(s[2 * k2][0], s[2 * k2][1]);
      pa[1] = Mma<KT>::pack(s[2 * k2][2], s[2 * k2][3]);
      pa[2] = Mma<KT>::pack(s[2 * k2 + 1][0], s[2 * k2 + 1][1]);
      pa[3] = Mma<KT>::pack(s[2 * k2 + 1][2], s[2 * k2 + 1][3]);
      // B fragments of V, transposed by ldmatrix: matrices (keys +0/+8, dims dn*8 / dn*8+8).
      const KT* vb = Vs + (k2 * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + (lane >> 4) * 8;
#pragma unroll
      for (int dn = 0; dn < HD / 8; dn += 2) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4_trans(vb + dn * 8, b0, b1, b2, b3);
        Mma<KT>::run(o[dn], pa, b0, b1);
        Mma<KT>::run(o[dn + 1], pa, b2, b3);
      }
    }
  }
#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    l_a += __shfl_xor_sync(0xffffffffu, l_a, off);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, off);
  }
  const float inv_a = 1.f / l_a, inv_b = 1.f / l_b;
#pragma unroll
  for (int dn = 0; dn < HD / 8; ++dn) {
    const int d = dn * 8 + 2 * c;
    if (ra < nrows) {
      float* dst = out + (static_cast<size_t>(t0 + ra) * n_head + h) * HD + d;
      dst[0] = o[dn][0] * inv_a;
      dst[1] = o[dn][1] * inv_a;
    }
    if (rb < nrows) {
      float* dst = out + (static_cast<size_t>(t0 + rb) * n_head + h) * HD + d;
      dst[0] = o[dn][2] * inv_b;
      dst[1] = o[dn][3] * inv_b;
    }
  }
}

template <typename KT, int HD>
constexpr size_t tiled_smem() {
  return static_cast<size_t>(kAttnTileRows + 2 * kTileKeys) * (HD + 8) * sizeof(KT);
}

template <typename KT, int HD>
void set_tiled_smem() {
  cudaFuncSetAttribute(k_attn_tiled<KT, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(tiled_smem<KT, HD>()));
}

template <typename KT, int HD>
void launch_tiled(const KVArgs& kv, const int32_t* tiles, int n_tiles, const float* q, int n_head, float scale,
                  int window, float* out, cudaStream_t s) {
  constexpr size_t smem = tiled_smem<KT, HD>();
  k_attn_tiled<KT, HD><<<dim3(n_tiles, n_head), 128, smem, s>>>(kv, tiles, q, n_head, scale, window, out);
}

template <typename KT>
void launch_split(const KVArgs& kv, const float* q, int T, int n_head, float scale, int window, int nsplit, float* ws_o,
                  float* ws_ml, float* out, cudaStream_t s) {
  const int group = n_head / kv.n_kv;
  const int n_gc = (group + kMaxGroup - 1) / kMaxGroup;
  const size_t max_tbl = (kv.stride + nsplit - 1) / nsplit + 3;
  const size_t smem = (static_cast<size_t>(kMaxGroup) * kv.hd * (1 + kSplitWarps) + kSplitWarps * kMaxGroup * 2 + max_tbl) * sizeof(float);
  const dim3 grid(T * kv.n_kv * n_gc, nsplit);
  const int gm = group >= 5 ? 8 : group >= 3 ? 4 : group;
  auto go = [&](auto e_tag, auto g_tag) {
    constexpr int EE = decltype(e_tag)::value, GG = decltype(g_tag)::value;
    k_attn_split<KT, EE, GG><<<grid, kSplitWarps * 32, smem, s>>>(kv, q, n_head, n_gc, scale, window, nsplit, ws_o, ws_ml, out);
  };
  auto by_group = [&](auto e_tag) {
    switch (gm) {
      case 1: go(e_tag, std::integral_constant<int, 1>{}); break;
      case 2: go(e_tag, std::integral_constant<int, 2>{}); break;
      case 4: go(e_tag, std::integral_constant<int, 4>{}); break;
      default: go(e_tag, std::integral_constant<int, 8>{}); break;
    }
  };
  switch (kv.hd) {
    case 64: by_group(std::integral_constant<int, 2>{}); break;
    case 128: by_group(std::integral_constant<int, 4>{}); break;
    case 256: by_group(std::integral_constant<int, 8>{}); break;
    default: by_group(std::integral_constant<int, 0>{}); break;
  }
  if (nsplit > 1) k_attn_combine<<<T * n_head, kv.hd < 128 ? kv.hd : 128, 0, s>>>(ws_o, ws_ml, nsplit, kv.hd, out);
}

}  // namespace

void kv_store(const KVArgs& kv, const float* k, const float* v, int T, cudaStream_t s) {
  const size_t n = static_cast<size_t>(T) * kv.n_kv * kv.hd;
  const unsigned grid = static_cast<unsigned>((n + 255) / 256);
  if (kv.dtype == DType::F32) k_kv_store<float><<<grid, 256, 0, s>>>(kv, k, v, T);
  else if (kv.dtype == DType::F16) k_kv_store<__half><<<grid, 256, 0, s>>>(kv, k, v, T);
  else k_kv_store<__nv_bfloat16><<<grid, 256, 0, s>>>(kv, k, v, T);
  check_launch("kv_store");
}

void attention_split(const KVArgs& kv, const float* q, int T, int n_head, float scale, int window, int nsplit,
                     float* ws_o, float* ws_ml, float* out, cudaStream_t s) {
  if (kv.dtype == DType::F32) launch_split<float>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, out, s);
  else if (kv.dtype == DType::F16) launch_split<__half>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, out, s);
  else launch_split<__nv_bfloat16>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, out, s);
  check_launch("attention_split");
}

template <typename KT, int E>
void set_split_smem_e() {
  constexpr int kMax = 200 * 1024;
  cudaFuncSetAttribute(k_attn_split<KT, E, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMax);
  cudaFuncSetAttribute(k_attn_split<KT, E, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMax);
  cudaFuncSetAttribute(k_attn_split<KT, E, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMax);
  cudaFuncSetAttribute(k_attn_split<KT, E, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMax);
}

template <typename KT>
void set_split_smem() {
  set_split_smem_e<KT, 0>();
  set_split_smem_e<KT, 2>();
  set_split_smem_e<KT, 4>();
  set_split_smem_e<KT, 8>();
}

void attention_init() {
  set_split_smem<float>();
  set_split_smem<__half>();
  set_split_smem<__nv_bfloat16>();
  set_tiled_smem<__half, 64>();
  set_tiled_smem<__half, 128>();
  set_tiled_smem<__nv_bfloat16, 64>();
  set_tiled_smem<__nv_bfloat16, 128>();
  check_launch("attention_init");
}

bool attention_tiled_supported(DType kv, int hd) {
  return (kv == DType::F16 || kv == DType::BF16) && (hd == 64 || hd == 128);
}

void attention_tiled(const KVArgs& kv, const int32_t* tiles, int n_tiles, const float* q, int n_head, float scale,
                     int window, float* out, cudaStream_t s) {
  if (kv.dtype == DType::F16) {
    if (kv.hd == 64) launch_tiled<__half, 64>(kv, tiles, n_tiles, q, n_head, scale, window, out, s);
    else launch_tiled<__half, 128>(kv, tiles, n_tiles, q, n_head, scale, window, out, s);
  } else {
    if (kv.hd == 64) launch_tiled<__nv_bfloat16, 64>(kv, tiles, n_tiles, q, n_head, scale, window, out, s);
    else launch_tiled<__nv_bfloat16, 128>(kv, tiles, n_tiles, q, n_head, scale, window, out, s);
  }
  check_launch("attention_tiled");
}

}  // namespace mlxr::cuda
