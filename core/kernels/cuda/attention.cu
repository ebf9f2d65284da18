// Paged attention on the GPU. CPU reference: core/kernels/cpu/attention.cpp (kv_store, attention).
// K/V are read through each sequence's block table; the cache is (block, token, kv head, dim).
// Both fast kernels run on the tensor cores (mma.sync m16n8k16, f16/bf16 in, f32 accumulate);
// like the CPU path, q and the probabilities are rounded to the cache type.
//  - attention_tiled (prefill, chunked prefill): k_attn_prefill, FlashAttention-2 style. One block
//    = kAttnTileRows (128) query rows of one sequence x one head, 8 warps of 16 rows; 64-key
//    tiles of K and V double-buffered in shared memory by cp.async (the next tile loads while
//    this one is computed); S stays in registers and becomes the A operand of P·V; online
//    softmax in base 2; tiles past a warp's last row (causal) or before its window are skipped.
//  - attention_split (decode): k_attn_decode, flash-decoding. One block = (token, kv head, up to
//    8 query heads of its group, split of the key range); each warp streams 16-key groups
//    straight from global memory into mma fragments with 16-byte loads (no shared memory):
//    S = Q·Kᵀ with the heads as rows, then Oᵀ += Vᵀ·Pᵀ with the dims as rows, so P is already
//    the B operand; the next group's loads are issued before this group is computed; the warps
//    are merged, then the splits: by the last of their blocks to finish (a counter per (token,
//    kv head, heads) in device memory), not by a second launch. Every K/V byte is read once per
//    token.
//  - MLXR_CUDA_ATTN=legacy (read by attention_init) selects the previous kernels: the split
//    kernel on CUDA cores and the synchronous 64-row tiled kernel. Cache types or head sizes the
//    fast kernels do not take (F32, head_dim not 64/128) always use the split kernel.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "core/kernels/cuda/common.cuh"
#include "core/kernels/cuda/kernels.h"

namespace mlxr::cuda {
namespace {

bool g_attn_legacy = false;  // MLXR_CUDA_ATTN=legacy, read by attention_init

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ size_t cache_row(const KVArgs& kv, int seq, int pos, int kvh) {
  const int blk = kv.tables[static_cast<size_t>(seq) * kv.stride + pos / kv.block_size];
  return ((static_cast<size_t>(blk) * kv.block_size + pos % kv.block_size) * kv.n_kv + kvh) * kv.hd;
}

template <typename KT>
__global__ void k_kv_store(KVArgs kv, const float* k, const float* v, int T) {
  pdl_trigger();
  pdl_wait();
  const size_t row = static_cast<size_t>(kv.n_kv) * kv.hd;
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= row * T) return;
  const int t = static_cast<int>(i / row);
  const size_t c = i % row;
  const size_t dst = cache_row(kv, kv.seq_of[t], kv.positions[t], 0) + c;
  static_cast<KT*>(kv.k)[dst] = KvT<KT>::store(k[i]);
  static_cast<KT*>(kv.v)[dst] = KvT<KT>::store(v[i]);
}

// RoPE of q and k (in place) and the store of the rotated k and of v, in one launch: each block
// (token, group of heads: rope_head_groups) computes the angles, rotates its heads, then stores
// K and V of its kv heads.
template <typename KT>
__global__ void k_rope_kv_store(KVArgs kv, float* q, int nq, float* k, const float* v, RopeArgs a, const float* ff) {
  pdl_trigger();
  pdl_wait();
  __shared__ float cs[kRopeMaxPairs], sn[kRopeMaxPairs];
  const int t = blockIdx.x;
  rope_angles(static_cast<float>(kv.positions[t]), a, ff, cs, sn);
  __syncthreads();
  const int half = a.n_dims / 2;
  int h0, h1;
  rope_head_range(nq + kv.n_kv, h0, h1);
  float* qt = q + static_cast<size_t>(t) * nq * kv.hd;
  float* kt = k + static_cast<size_t>(t) * kv.n_kv * kv.hd;
  for (int j = threadIdx.x; j < (h1 - h0) * half; j += blockDim.x) {
    const int h = h0 + j / half, i = j % half;
    rope_rotate(h < nq ? qt + h * kv.hd : kt + (h - nq) * kv.hd, i, a, cs[i], sn[i]);
  }
  __syncthreads();  // the rotated k, written by other threads of this block
  const int kv0 = max(h0, nq) - nq, kv1 = max(h1, nq) - nq;  // this block's kv heads
  const float* vt = v + static_cast<size_t>(t) * kv.n_kv * kv.hd;
  const size_t dst = cache_row(kv, kv.seq_of[t], kv.positions[t], 0);
  for (int c = kv0 * kv.hd + threadIdx.x; c < kv1 * kv.hd; c += blockDim.x) {
    static_cast<KT*>(kv.k)[dst + c] = KvT<KT>::store(kt[c]);
    static_cast<KT*>(kv.v)[dst + c] = KvT<KT>::store(vt[c]);
  }
}

// ---- device helpers of the tensor-core kernels ----

__device__ __forceinline__ float ex2(float x) {  // 2^x; ex2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// 16 bytes global -> shared without registers; src_ok false writes zeros (and reads nothing).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool src_ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_ok ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>  // wait until at most N of this thread's committed groups are pending
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

// A 16-byte read of data used once: not kept in L1.
__device__ __forceinline__ uint4 ld_stream(const void* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}

// Word w of v; w is a constant once the caller's loop is unrolled.
__device__ __forceinline__ uint32_t word(const uint4& v, int w) { return w == 0 ? v.x : w == 1 ? v.y : w == 2 ? v.z : v.w; }

// ---- the CUDA-core split kernel (F32 caches, other head sizes; MLXR_CUDA_ATTN=legacy) ----

// Block index and slot of position j in a paged cache; shifts in the usual power-of-2 case.
struct BlockMap {
  int bs, sh;
  bool pow2;
  __device__ explicit BlockMap(int block_size) {
    bs = block_size;
    sh = __ffs(block_size) - 1;
    pow2 = (block_size & (block_size - 1)) == 0;
  }
  __device__ __forceinline__ void split(int j, int& bi, int& sl) const {
    if (pow2) {
      bi = j >> sh;
      sl = j & (bs - 1);
    } else {
      bi = j / bs;
      sl = j - bi * bs;
    }
  }
};

// What a block of the split kernels takes: blockIdx.x = (token t, kv head, chunk of up to HEADS
// of the group's query heads: h0..h0+G-1), blockIdx.y = the split of the key range.
template <int HEADS>
struct SplitBlock {
  int t, kvh, h0, G, split;
  __device__ SplitBlock(const KVArgs& kv, int n_head, int n_gc) {
    const int group = n_head / kv.n_kv;
    t = blockIdx.x / (kv.n_kv * n_gc);
    kvh = (blockIdx.x / n_gc) % kv.n_kv;
    const int gc = blockIdx.x % n_gc;
    h0 = kvh * group + gc * HEADS;
    G = min(HEADS, group - gc * HEADS);
    split = blockIdx.y;
  }
};

// The last step of the split kernels: merges the block's per-warp partial results (red_ml
// (warp, head, {m, l}), red_o (warp, head, hd)) for its G heads, rows th0.. of out, and writes
// O / L (one split) or this split's O, M, L for merge_split (M in natural-log units).
// LOG2: the warps' m are in base-2 units.
template <int WARPS, int HEADS, bool LOG2>
__device__ void merge_warps(const float* red_o, const float* red_ml, int G, int hd, size_t th0, int nsplit, int split,
                            float* out, float* ws_o, float* ws_ml) {
  for (int i = threadIdx.x; i < G * hd; i += blockDim.x) {
    const int g = i / hd, d = i % hd;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) M = fmaxf(M, red_ml[(w * HEADS + g) * 2]);
    float L = 0.f, O = 0.f;
    if (M != -INFINITY) {
#pragma unroll
      for (int w = 0; w < WARPS; ++w) {
        const float mw = red_ml[(w * HEADS + g) * 2];
        if (mw == -INFINITY) continue;
        const float f = LOG2 ? ex2(mw - M) : __expf(mw - M);
        L += red_ml[(w * HEADS + g) * 2 + 1] * f;
        O += red_o[(w * HEADS + g) * hd + d] * f;
      }
    }
    const size_t th = th0 + g;
    if (nsplit == 1) {
      out[th * hd + d] = O / L;
    } else {
      ws_o[(th * nsplit + split) * hd + d] = O;
      if (d == 0) {
        ws_ml[(th * nsplit + split) * 2] = LOG2 ? M * kLn2 : M;
        ws_ml[(th * nsplit + split) * 2 + 1] = L;
      }
    }
  }
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
  const SplitBlock<kMaxGroup> blk(kv, n_head, n_gc);
  const int t = blk.t, kvh = blk.kvh, h0 = blk.h0, G = min(GM, blk.G), split = blk.split;
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
  merge_warps<kSplitWarps, kMaxGroup, false>(red_o, red_ml, G, hd, static_cast<size_t>(t) * n_head + h0, nsplit, split,
                                              out, ws_o, ws_ml);
}

// The merge of the splits' partial results of row th (k_attn_combine, and the last block of
// k_attn_decode: one code, so both give the same bits): the row's largest M, then split s's
// share of dim d added to L and O; out = O / L once every split, in order, is added.
__device__ __forceinline__ float splits_max(const float* ws_ml, int nsplit, size_t th) {
  float M = -INFINITY;
  for (int s = 0; s < nsplit; ++s) M = fmaxf(M, ws_ml[(th * nsplit + s) * 2]);
  return M;
}
__device__ __forceinline__ void merge_split(const float* ws_o, const float* ws_ml, int nsplit, int hd, size_t th, int s,
                                            int d, float M, float& L, float& O) {
  // Empty splits (M -inf) are skipped by selects, not a branch: every load is unconditional, so
  // a caller's loads for several rows and splits are in flight together.
  const size_t i = th * nsplit + s;
  const float ms = ws_ml[i * 2], ls = ws_ml[i * 2 + 1], os = ws_o[i * hd + d];
  const bool live = ms != -INFINITY;
  const float f = __expf(ms - M);
  L = live ? L + ls * f : L;
  O = live ? O + os * f : O;
}

__global__ void k_attn_combine(const float* ws_o, const float* ws_ml, int nsplit, int hd, float* out) {
  pdl_trigger();
  pdl_wait();
  const size_t th = blockIdx.x;
  const float M = splits_max(ws_ml, nsplit, th);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float L = 0.f, O = 0.f;
    for (int s = 0; s < nsplit; ++s) merge_split(ws_o, ws_ml, nsplit, hd, th, s, d, M, L, O);
    out[th * hd + d] = O / L;
  }
}

// ---- tensor-core building blocks ----

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

constexpr int kTileKeys = 64;  // keys per K/V tile of the tiled kernels

// The running state of a warp's 16 query rows in the tiled kernels (rows g and g+8 of lane
// (g, c)): each row's position and window start (position -1: no row, every key masked), the
// online-softmax max (base 2) and sum, and O (columns dn*8+2c, +1).
template <int HD>
struct RowState {
  int pos_a, pos_b, first_a, first_b;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;
  float o[HD / 8][4];
  __device__ RowState(int pa, int pb, int fa, int fb) : pos_a(pa), pos_b(pb), first_a(fa), first_b(fb) {
#pragma unroll
    for (int i = 0; i < HD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  }
};

// One 64-key tile (keys kt.., rows of LD elements in shared memory) for a warp's 16 rows:
// S = Q·Kᵀ, per-row causal/window masks unless `full` (every key live for every row), online
// softmax, O += P·V with P taken straight from S's accumulators.
template <typename KT, int HD, int LD>
__device__ __forceinline__ void attn_tile(const KT* Kt, const KT* Vt, const uint32_t (&qf)[HD / 16][4], int kt, bool full,
                                          float scale_log2, int lane, RowState<HD>& r) {
  const int c = lane & 3;
  float s[kTileKeys / 8][4];
#pragma unroll
  for (int nt = 0; nt < kTileKeys / 8; ++nt) {
    s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
    // B fragments of Kᵀ for two k-steps per ldmatrix: matrices (keys nt*8.., dims +0/+8/+16/+24).
    const KT* kb = Kt + (nt * 8 + (lane & 7)) * LD + (lane >> 3) * 8;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk += 2) {
      uint32_t b0, b1, b2, b3;
      ldsm_x4(kb + kk * 16, b0, b1, b2, b3);
      Mma<KT>::run(s[nt], qf[kk], b0, b1);
      Mma<KT>::run(s[nt], qf[kk + 1], b2, b3);
    }
  }
  float mx_a = -INFINITY, mx_b = -INFINITY;
  if (full) {
#pragma unroll
    for (int nt = 0; nt < kTileKeys / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nt][e] *= scale_log2;
      mx_a = fmaxf(mx_a, fmaxf(s[nt][0], s[nt][1]));
      mx_b = fmaxf(mx_b, fmaxf(s[nt][2], s[nt][3]));
    }
  } else {
#pragma unroll
    for (int nt = 0; nt < kTileKeys / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = kt + nt * 8 + 2 * c + (e & 1);
        const bool rowa = e < 2;
        const int p = rowa ? r.pos_a : r.pos_b, f = rowa ? r.first_a : r.first_b;
        const float v = (j <= p && j >= f) ? s[nt][e] * scale_log2 : -INFINITY;
        s[nt][e] = v;
        if (rowa) mx_a = fmaxf(mx_a, v);
        else mx_b = fmaxf(mx_b, v);
      }
    }
  }
#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, off));
    mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, off));
  }
  const float mn_a = fmaxf(r.m_a, mx_a), mn_b = fmaxf(r.m_b, mx_b);
  const float use_a = mn_a == -INFINITY ? 0.f : mn_a, use_b = mn_b == -INFINITY ? 0.f : mn_b;
  const float alpha_a = ex2(r.m_a - use_a), alpha_b = ex2(r.m_b - use_b);
  r.m_a = mn_a;
  r.m_b = mn_b;
  float sum_a = 0.f, sum_b = 0.f;
#pragma unroll
  for (int nt = 0; nt < kTileKeys / 8; ++nt) {
    s[nt][0] = ex2(s[nt][0] - use_a);
    s[nt][1] = ex2(s[nt][1] - use_a);
    s[nt][2] = ex2(s[nt][2] - use_b);
    s[nt][3] = ex2(s[nt][3] - use_b);
    sum_a += s[nt][0] + s[nt][1];
    sum_b += s[nt][2] + s[nt][3];
  }
  r.l_a = r.l_a * alpha_a + sum_a;
  r.l_b = r.l_b * alpha_b + sum_b;
#pragma unroll
  for (int dn = 0; dn < HD / 8; ++dn) {
    r.o[dn][0] *= alpha_a;
    r.o[dn][1] *= alpha_a;
    r.o[dn][2] *= alpha_b;
    r.o[dn][3] *= alpha_b;
  }
#pragma unroll
  for (int k2 = 0; k2 < kTileKeys / 16; ++k2) {
    // The S accumulators of keys k2*16..+15 are, packed, the A fragment of P.
    uint32_t pa[4];
    pa[0] = Mma<KT>::pack(s[2 * k2][0], s[2 * k2][1]);
    pa[1] = Mma<KT>::pack(s[2 * k2][2], s[2 * k2][3]);
    pa[2] = Mma<KT>::pack(s[2 * k2 + 1][0], s[2 * k2 + 1][1]);
    pa[3] = Mma<KT>::pack(s[2 * k2 + 1][2], s[2 * k2 + 1][3]);
    // B fragments of V, transposed by ldmatrix: matrices (keys +0/+8, dims dn*8 / dn*8+8).
    const KT* vb = Vt + (k2 * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + (lane >> 4) * 8;
#pragma unroll
    for (int dn = 0; dn < HD / 8; dn += 2) {
      uint32_t b0, b1, b2, b3;
      ldsm_x4_trans(vb + dn * 8, b0, b1, b2, b3);
      Mma<KT>::run(r.o[dn], pa, b0, b1);
      Mma<KT>::run(r.o[dn + 1], pa, b2, b3);
    }
  }
}

// O / l of rows ra and rb (those < nrows) into out (T, n_head, HD) at head h.
template <int HD>
__device__ __forceinline__ void store_rows(RowState<HD>& r, int ra, int rb, int nrows, int t0, int n_head, int h, int c,
                                           float* out, __nv_bfloat16* out16) {
#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    r.l_a += __shfl_xor_sync(0xffffffffu, r.l_a, off);
    r.l_b += __shfl_xor_sync(0xffffffffu, r.l_b, off);
  }
  const float inv_a = 1.f / r.l_a, inv_b = 1.f / r.l_b;
#pragma unroll
  for (int dn = 0; dn < HD / 8; ++dn) {
    const int d = dn * 8 + 2 * c;
    const size_t at_a = (static_cast<size_t>(t0 + ra) * n_head + h) * HD + d;
    const size_t at_b = (static_cast<size_t>(t0 + rb) * n_head + h) * HD + d;
    if (out16) {
      if (ra < nrows)
        *reinterpret_cast<__nv_bfloat162*>(out16 + at_a) = __floats2bfloat162_rn(r.o[dn][0] * inv_a, r.o[dn][1] * inv_a);
      if (rb < nrows)
        *reinterpret_cast<__nv_bfloat162*>(out16 + at_b) = __floats2bfloat162_rn(r.o[dn][2] * inv_b, r.o[dn][3] * inv_b);
    } else {
      if (ra < nrows) *reinterpret_cast<float2*>(out + at_a) = make_float2(r.o[dn][0] * inv_a, r.o[dn][1] * inv_a);
      if (rb < nrows) *reinterpret_cast<float2*>(out + at_b) = make_float2(r.o[dn][2] * inv_b, r.o[dn][3] * inv_b);
    }
  }
}

// The previous prefill kernel (MLXR_CUDA_ATTN=legacy): 64 rows x one head per block, 4 warps,
// synchronous K/V tile loads.
constexpr int kLegacyRows = 64;

template <typename KT, int HD>
__global__ __launch_bounds__(128) void k_attn_tiled_legacy(KVArgs kv, const int32_t* __restrict__ tiles,
                                                    const float* __restrict__ q, int n_head, float scale, int window,
                                                    float* __restrict__ out) {
  constexpr int LD = HD + 8;  // padded row (elements): conflict-free fragment loads
  extern __shared__ __align__(16) unsigned char smem_raw[];
  KT* Qs = reinterpret_cast<KT*>(smem_raw);
  KT* Ks = Qs + kLegacyRows * LD;
  KT* Vs = Ks + kTileKeys * LD;
  const int* tile = tiles + 5 * blockIdx.x;
  // blockIdx.z: which 64-row part of the (up to kAttnTileRows) tile; masks are per row, so the
  // tile-wide key bounds stay correct for every part.
  const int t0 = tile[0] + blockIdx.z * kLegacyRows, nrows = min(kLegacyRows, tile[1] - static_cast<int>(blockIdx.z) * kLegacyRows);
  const int seq = tile[2], minpos = tile[3], maxpos = tile[4];
  if (nrows <= 0) return;
  const int h = blockIdx.y;
  const int kvh = h / (n_head / kv.n_kv);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, c = lane & 3;

  for (int i = tid; i < kLegacyRows * HD / 8; i += 128) {
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

  RowState<HD> st(pos_a, pos_b, first_a, first_b);

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
    attn_tile<KT, HD, LD>(Ks, Vs, qf, kt, false, scale * kLog2e, lane, st);
  }
  store_rows<HD>(st, ra, rb, nrows, t0, n_head, h, c, out, nullptr);
}

// ---- prefill: FlashAttention-2 on mma.sync ----

constexpr int kPrefillWarps = 8;   // 16 query rows each: one block per kAttnTileRows tile
constexpr int kPrefillStages = 2;  // K/V tiles in flight (the one computed + the next)

template <typename KT, int HD, int NSTG>
constexpr size_t prefill_smem() {  // K and V, NSTG stages each
  return static_cast<size_t>(2 * NSTG) * kTileKeys * (HD + 8) * sizeof(KT);
}

// Block (head h, WARPS*16 rows of a tile): rows t0..t0+nrows-1 of one sequence, each at its own
// position; row r is row g (and g+8) of warp r/16. Keys from the first window start to the last
// position of the block's rows, in 64-key tiles, NSTG tiles in flight; per-row causal and window
// masks. Blocks take the tiles in reverse so the longest (last of a sequence) start first.
template <typename KT, int HD, int WARPS, int NSTG>
__global__ __launch_bounds__(WARPS * 32) void k_attn_prefill(KVArgs kv, const int32_t* __restrict__ tiles,
                                                             const float* __restrict__ q, int n_head, float scale_log2,
                                                             int window, float* __restrict__ out,
                                                             __nv_bfloat16* __restrict__ out16) {
  constexpr int NT = WARPS * 32;
  constexpr int ROWS = WARPS * 16;             // query rows of one block
  constexpr int SUBS = kAttnTileRows / ROWS;  // blocks per tile
  static_assert(kAttnTileRows % ROWS == 0, "whole blocks per tile");
  constexpr int LD = HD + 8;             // padded row (elements): conflict-free ldmatrix
  constexpr int CH = HD / 8;             // 16-byte chunks per row
  constexpr int PER = kTileKeys * CH / NT;  // chunks of K (and of V) per thread per tile
  constexpr int STAGE = kTileKeys * LD;  // elements of one stage of K (or V)
  static_assert(kTileKeys * CH % NT == 0, "whole chunks per thread");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  KT* Ks = reinterpret_cast<KT*>(smem_raw);  // (stage, key, LD)
  KT* Vs = Ks + NSTG * STAGE;
  const int h = blockIdx.x;
  const int tix = gridDim.y / SUBS - 1 - static_cast<int>(blockIdx.y) / SUBS;
  const int sub = SUBS - 1 - static_cast<int>(blockIdx.y) % SUBS;
  const int* tile = tiles + 5 * tix;
  const int t0 = tile[0] + sub * ROWS, nrows = min(ROWS, tile[1] - sub * ROWS), seq = tile[2];
  if (nrows <= 0) return;  // the whole block: a part past a short tile's end
  const int kvh = h / (n_head / kv.n_kv);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, c = lane & 3;

  // Rows g and g+8 of this warp's 16; a missing row has position -1 (every key masked).
  const int ra = warp * 16 + g, rb = ra + 8;
  const int pos_a = ra < nrows ? kv.positions[t0 + ra] : -1;
  const int pos_b = rb < nrows ? kv.positions[t0 + rb] : -1;
  const int first_a = window > 0 ? pos_a - window + 1 : 0;
  const int first_b = window > 0 ? pos_b - window + 1 : 0;
  // Warp-wide bounds: keys past w_max or before w_first_min are masked for every row (tile
  // skipped); keys in [w_first_max, w_min] are live for every row (no mask needed).
  int w_max = max(pos_a, pos_b), w_min = min(pos_a, pos_b);
  int w_first_min = min(pos_a >= 0 ? first_a : INT_MAX, pos_b >= 0 ? first_b : INT_MAX);
  int w_first_max = max(first_a, first_b);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    w_max = max(w_max, __shfl_xor_sync(0xffffffffu, w_max, o));
    w_min = min(w_min, __shfl_xor_sync(0xffffffffu, w_min, o));
    w_first_min = min(w_first_min, __shfl_xor_sync(0xffffffffu, w_first_min, o));
    w_first_max = max(w_first_max, __shfl_xor_sync(0xffffffffu, w_first_max, o));
  }
  // The block's key range: from the first window start of its rows to its last position.
  __shared__ int bound[2][WARPS];
  if (lane == 0) {
    bound[0][warp] = w_max;
    bound[1][warp] = w_first_min;
  }
  __syncthreads();
  int maxpos = -1, first_min = INT_MAX;
#pragma unroll
  for (int w = 0; w < WARPS; ++w) {
    maxpos = max(maxpos, bound[0][w]);
    first_min = min(first_min, bound[1][w]);
  }

  const KT* K = static_cast<const KT*>(kv.k);
  const KT* V = static_cast<const KT*>(kv.v);
  const int kv_lo = window > 0 ? max(0, first_min) : 0;
  const int kv_begin = kv_lo / kTileKeys * kTileKeys, kv_end = maxpos + 1;
  const int n_kt = (kv_end - kv_begin + kTileKeys - 1) / kTileKeys;
  // Source element offsets of this thread's chunks of one tile (-1: outside [kv_lo, kv_end),
  // zero-filled so that V there is never garbage); computed a tile ahead to hide the table read.
  long long src[PER];
  const BlockMap bm(kv.block_size);
  const int* table = kv.tables + static_cast<size_t>(seq) * kv.stride;
  const size_t tok = static_cast<size_t>(kv.n_kv) * HD;  // elements between two tokens of a block
  auto plan = [&](int kt) {
#pragma unroll
    for (int r = 0; r < PER; ++r) {
      const int i = tid + r * NT, row = i / CH, ch = i % CH, j = kt + row;
      if (j >= kv_lo && j < kv_end) {
        int bi, sl;
        bm.split(j, bi, sl);
        src[r] = static_cast<long long>((static_cast<size_t>(table[bi]) * bm.bs + sl) * tok + static_cast<size_t>(kvh) * HD +
                                        ch * 8);
      } else {
        src[r] = -1;
      }
    }
  };
  const uint32_t ks_addr = static_cast<uint32_t>(__cvta_generic_to_shared(Ks));
  const uint32_t vs_addr = static_cast<uint32_t>(__cvta_generic_to_shared(Vs));
  auto issue = [&](int stage) {
#pragma unroll
    for (int r = 0; r < PER; ++r) {
      const int i = tid + r * NT, row = i / CH, ch = i % CH;
      const uint32_t off = static_cast<uint32_t>((stage * STAGE + row * LD + ch * 8) * sizeof(KT));
      const bool ok = src[r] >= 0;
      const size_t e = ok ? static_cast<size_t>(src[r]) : 0;
      cp_async16(ks_addr + off, K + e, ok);
      cp_async16(vs_addr + off, V + e, ok);
    }
    cp_async_commit();
  };
  // Tiles 0..NSTG-2 in flight before the loop; one commit group per tile (empty past the end).
  plan(kv_begin);
#pragma unroll
  for (int p = 0; p < NSTG - 1; ++p) {
    if (p < n_kt) issue(p);
    else cp_async_commit();
    if (p + 1 < n_kt) plan(kv_begin + (p + 1) * kTileKeys);
  }
  // Q fragments straight from global memory (f32 -> cache type), kept for the whole block; read
  // while the first K/V tiles load.
  uint32_t qf[HD / 16][4];
  {
    const float* qa = q + (static_cast<size_t>(t0 + ra) * n_head + h) * HD + 2 * c;
    const float* qb = q + (static_cast<size_t>(t0 + rb) * n_head + h) * HD + 2 * c;
    const float2 z = make_float2(0.f, 0.f);
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      const float2 a0 = ra < nrows ? *reinterpret_cast<const float2*>(qa + kk * 16) : z;
      const float2 a1 = ra < nrows ? *reinterpret_cast<const float2*>(qa + kk * 16 + 8) : z;
      const float2 b0 = rb < nrows ? *reinterpret_cast<const float2*>(qb + kk * 16) : z;
      const float2 b1 = rb < nrows ? *reinterpret_cast<const float2*>(qb + kk * 16 + 8) : z;
      qf[kk][0] = Mma<KT>::pack(a0.x, a0.y);
      qf[kk][1] = Mma<KT>::pack(b0.x, b0.y);
      qf[kk][2] = Mma<KT>::pack(a1.x, a1.y);
      qf[kk][3] = Mma<KT>::pack(b1.x, b1.y);
    }
  }

  RowState<HD> st(pos_a, pos_b, first_a, first_b);

  for (int it = 0; it < n_kt; ++it) {
    const int kt = kv_begin + it * kTileKeys;
    cp_async_wait<NSTG - 2>();
    __syncthreads();  // tile `it` is in; every warp is done with tile it-1, whose stage is refilled now
    if (it + NSTG - 1 < n_kt) {
      issue((it + NSTG - 1) % NSTG);
      if (it + NSTG < n_kt) plan(kt + NSTG * kTileKeys);
    } else {
      cp_async_commit();
    }
    if (kt > w_max || kt + kTileKeys <= w_first_min) continue;
    const KT* Kt = Ks + (it % NSTG) * STAGE;
    const KT* Vt = Vs + (it % NSTG) * STAGE;
    attn_tile<KT, HD, LD>(Kt, Vt, qf, kt, kt + kTileKeys - 1 <= w_min && kt >= w_first_max, scale_log2, lane, st);
  }
  store_rows<HD>(st, ra, rb, nrows, t0, n_head, h, c, out, out16);
}

// ---- decode: split-KV on mma.sync, K/V streamed from global memory into fragments ----

constexpr int kDecWarps = 4;
constexpr int kDecHeads = 8;  // query heads per block: the n of the P·V product

template <int HD>
constexpr size_t decode_smem_fixed() {  // warp merge buffers; the block-table slice follows
  return (static_cast<size_t>(kDecWarps) * kDecHeads * HD + kDecWarps * kDecHeads * 2) * sizeof(float);
}

// Keys are taken in groups of 16 aligned to multiples of 16 (group i = keys 16i..16i+15); the
// groups that hold a live key, [first/16, pos/16], are split evenly over blockIdx.y and dealt
// to the warps in turn. Per group, lane (g, c) holds:
//  - K rows 16i+g and 16i+8+g, dims 32s+8c..+7 for each s: one 16-byte load each. Read as the
//    B operand (Kᵀ, k = dims) of S = Q·Kᵀ, logical k 2c,2c+1 | 2c+8,2c+9 of k-step 2s are the real
//    dims 32s+8c+{0,1} | {2,3}, of k-step 2s+1 +{4,5} | {6,7}; Q's A fragment uses the same map.
//    S rows are the heads (g < G real; rows g+8 zero), columns the keys.
//  - V rows 16i+2c, +1, +8, +9, dims 64u+8g..+7: one 16-byte load each. Vᵀ's A fragment for
//    m-tile mt pairs two keys per register (byte permutes); its row g is real dim
//    64(mt/4) + 8g + 2(mt%4), row g+8 the next dim.
//  - Pᵀ as the B operand (k = keys, n = heads) of Oᵀ = Vᵀ·Pᵀ: exactly S's accumulators of head g.
template <typename KT, int HD>
__global__ __launch_bounds__(kDecWarps * 32) void k_attn_decode(KVArgs kv, const float* __restrict__ q, int n_head,
                                                                int n_gc, float scale_log2, int window, int nsplit,
                                                                float* ws_o, float* ws_ml, unsigned* counters,
                                                                float* out) {
  constexpr int NS = HD / 32;  // K loads per key row (each two k-steps)
  constexpr int NU = HD / 64;  // V loads per key row
  constexpr int MT = HD / 16;  // m-tiles of Oᵀ
  static_assert(HD % 64 == 0, "head_dim a multiple of 64");
  extern __shared__ __align__(16) float smd[];
  float* red_o = smd;                                  // (warp, head, HD)
  float* red_ml = red_o + kDecWarps * kDecHeads * HD;  // (warp, head, {m, l})
  int* tbl = reinterpret_cast<int*>(red_ml + kDecWarps * kDecHeads * 2);
  // Programmatic dependent launch: the next kernel may take SMs once this grid's last wave is
  // resident; K/V and q (written by the kernels before) are read only after the wait.
  pdl_trigger();
  pdl_wait();
  const SplitBlock<kDecHeads> blk(kv, n_head, n_gc);
  const int t = blk.t, kvh = blk.kvh, h0 = blk.h0, G = blk.G, split = blk.split;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, c = lane & 3;

  const int seq = kv.seq_of[t], pos = kv.positions[t];
  const int first = window > 0 ? max(0, pos - window + 1) : 0;
  const int gb = first >> 4, ge = (pos >> 4) + 1;
  const int per = (ge - gb + nsplit - 1) / nsplit;
  const int g0 = gb + split * per, g1 = min(ge, g0 + per);
  const int bs = kv.block_size;
  // This split's slice of the block table: blocks of its live keys [klo, khi].
  const int klo = max(first, g0 * 16), khi = min(pos, g1 * 16 - 1);
  const int b0 = klo / bs;
  if (g1 > g0) {
    const int nb = khi / bs - b0 + 1;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) tbl[i] = kv.tables[static_cast<size_t>(seq) * kv.stride + b0 + i];
  }
  // Q's A fragments (row g = head h0+g), rounded to the cache type; rows g+8 are zero.
  uint32_t qa[NS][4];
  {
    const float* qp = q + (static_cast<size_t>(t) * n_head + h0 + g) * HD + 8 * c;
#pragma unroll
    for (int s = 0; s < NS; ++s) {
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f), y = x;
      if (g < G) {
        x = *reinterpret_cast<const float4*>(qp + 32 * s);
        y = *reinterpret_cast<const float4*>(qp + 32 * s + 4);
      }
      qa[s][0] = Mma<KT>::pack(x.x, x.y);
      qa[s][1] = Mma<KT>::pack(x.z, x.w);
      qa[s][2] = Mma<KT>::pack(y.x, y.y);
      qa[s][3] = Mma<KT>::pack(y.z, y.w);
    }
  }
  __syncthreads();

  const KT* K = static_cast<const KT*>(kv.k);
  const KT* V = static_cast<const KT*>(kv.v);
  const size_t tok = static_cast<size_t>(kv.n_kv) * HD;  // elements between two tokens of a block
  const BlockMap bm(bs);
  // Element offset of key j (live, in [klo, khi]) for this kv head.
  auto key_at = [&](int j) -> size_t {
    int bi, sl;
    bm.split(j, bi, sl);
    return (static_cast<size_t>(tbl[bi - b0]) * bs + sl) * tok + static_cast<size_t>(kvh) * HD;
  };

  float o[MT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m = -INFINITY, l = 0.f;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  // K and V of group gi into registers (keys outside [first, pos] read as zeros).
  auto load = [&](int gi, uint4(&kr)[2][NS], uint4(&vr)[4][NU]) {
    const int kb = gi * 16;
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int j = kb + 8 * u + g;
      const bool ok = j >= first && j <= pos;
      const KT* p = K + (ok ? key_at(j) : 0) + 8 * c;
#pragma unroll
      for (int s = 0; s < NS; ++s) kr[u][s] = ok ? ld_stream(p + 32 * s) : zero;
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int j = kb + 2 * c + (u & 1) + 8 * (u >> 1);
      const bool ok = j >= first && j <= pos;
      const KT* p = V + (ok ? key_at(j) : 0) + 8 * g;
#pragma unroll
      for (int w = 0; w < NU; ++w) vr[u][w] = ok ? ld_stream(p + 64 * w) : zero;
    }
  };
  auto step = [&](int gi, const uint4(&kr)[2][NS], const uint4(&vr)[4][NU]) {
    const int kb = gi * 16;
    float s0[4] = {0.f, 0.f, 0.f, 0.f}, s1[4] = {0.f, 0.f, 0.f, 0.f};  // keys kb+0..7, kb+8..15
#pragma unroll
    for (int s = 0; s < NS; ++s) {
      const uint32_t alo[4] = {qa[s][0], 0u, qa[s][1], 0u};
      const uint32_t ahi[4] = {qa[s][2], 0u, qa[s][3], 0u};
      Mma<KT>::run(s0, alo, kr[0][s].x, kr[0][s].y);
      Mma<KT>::run(s0, ahi, kr[0][s].z, kr[0][s].w);
      Mma<KT>::run(s1, alo, kr[1][s].x, kr[1][s].y);
      Mma<KT>::run(s1, ahi, kr[1][s].z, kr[1][s].w);
    }
    // Head g's scores of keys kb+2c, +1, kb+8+2c, +1 (accumulator rows g; rows g+8 are padding).
    float x[4] = {s0[0], s0[1], s1[0], s1[1]};
    float mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int j = kb + 2 * c + (i & 1) + 8 * (i >> 1);
      x[i] = j >= first && j <= pos ? x[i] * scale_log2 : -INFINITY;
      mx = fmaxf(mx, x[i]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float mn = fmaxf(m, mx);  // finite: every group holds a live key
    const float alpha = ex2(m - mn);
    m = mn;
    float p[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) p[i] = ex2(x[i] - mn);
    l = l * alpha + ((p[0] + p[1]) + (p[2] + p[3]));
    const uint32_t pb0 = Mma<KT>::pack(p[0], p[1]), pb1 = Mma<KT>::pack(p[2], p[3]);
    // Oᵀ's columns are heads 2c, 2c+1: their rescale factors live in lanes 8c and 8c+4.
    const float al0 = __shfl_sync(0xffffffffu, alpha, 8 * c), al1 = __shfl_sync(0xffffffffu, alpha, 8 * c + 4);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      o[mt][0] *= al0;
      o[mt][1] *= al1;
      o[mt][2] *= al0;
      o[mt][3] *= al1;
      const int w = mt / 4, e = mt % 4;
      const uint32_t r0 = word(vr[0][w], e), r1 = word(vr[1][w], e), r2 = word(vr[2][w], e), r3 = word(vr[3][w], e);
      const uint32_t a[4] = {__byte_perm(r0, r1, 0x5410), __byte_perm(r0, r1, 0x7632), __byte_perm(r2, r3, 0x5410),
                             __byte_perm(r2, r3, 0x7632)};
      Mma<KT>::run(o[mt], a, pb0, pb1);
    }
  };
  // The next group's loads are in flight while this group is computed.
  uint4 kr[2][NS], vr[4][NU];
  int gi = g0 + warp;
  if (gi < g1) load(gi, kr, vr);
  for (; gi < g1; gi += kDecWarps) {
    uint4 kn[2][NS], vn[4][NU];
    if (gi + kDecWarps < g1) {
      load(gi + kDecWarps, kn, vn);
    } else {
#pragma unroll
      for (int u = 0; u < 2; ++u)
#pragma unroll
        for (int s = 0; s < NS; ++s) kn[u][s] = zero;
#pragma unroll
      for (int u = 0; u < 4; ++u)
#pragma unroll
        for (int w = 0; w < NU; ++w) vn[u][w] = zero;
    }
    step(gi, kr, vr);
#pragma unroll
    for (int u = 0; u < 2; ++u)
#pragma unroll
      for (int s = 0; s < NS; ++s) kr[u][s] = kn[u][s];
#pragma unroll
    for (int u = 0; u < 4; ++u)
#pragma unroll
      for (int w = 0; w < NU; ++w) vr[u][w] = vn[u][w];
  }
  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);
  // Merge the warps (m in log2 units).
  float* ro = red_o + warp * kDecHeads * HD;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int d = 64 * (mt / 4) + 8 * g + 2 * (mt % 4);
    *reinterpret_cast<float2*>(ro + (2 * c) * HD + d) = make_float2(o[mt][0], o[mt][2]);
    *reinterpret_cast<float2*>(ro + (2 * c + 1) * HD + d) = make_float2(o[mt][1], o[mt][3]);
  }
  if (c == 0) {
    red_ml[(warp * kDecHeads + g) * 2] = m;
    red_ml[(warp * kDecHeads + g) * 2 + 1] = l;
  }
  __syncthreads();
  const size_t th0 = static_cast<size_t>(t) * n_head + h0;
  merge_warps<kDecWarps, kDecHeads, true>(red_o, red_ml, G, HD, th0, nsplit, split, out, ws_o, ws_ml);
  if (nsplit == 1) return;
  // The last of the nsplit blocks of this (token, kv head, heads) to finish merges the splits (no
  // combine launch). A block is counted after its partials are visible device-wide; the last one
  // reads the others' after their counts, and leaves the counter zero for the next launch.
  __shared__ bool last;
  __shared__ float mx[kDecHeads];
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    last = atomicAdd(counters + blockIdx.x, 1u) == static_cast<unsigned>(nsplit - 1);
    if (last) counters[blockIdx.x] = 0;
    __threadfence();
  }
  __syncthreads();
  if (!last) return;
  if (threadIdx.x < G) mx[threadIdx.x] = splits_max(ws_ml, nsplit, th0 + threadIdx.x);
  __syncthreads();
  // Each thread's (head, dim) pairs advance together, split by split, without branches: the
  // loads of several splits are in flight at once (this tail is on the critical path). Pairs past
  // the last head repeat it and are not stored.
  constexpr int PER = kDecHeads * HD / (kDecWarps * 32);
  float L[PER], O[PER], M[PER];
#pragma unroll
  for (int e = 0; e < PER; ++e) {
    L[e] = O[e] = 0.f;
    M[e] = mx[min((threadIdx.x + e * kDecWarps * 32) / HD, G - 1)];
  }
#pragma unroll 4
  for (int s = 0; s < nsplit; ++s) {
#pragma unroll
    for (int e = 0; e < PER; ++e) {
      const int i = threadIdx.x + e * kDecWarps * 32;
      merge_split(ws_o, ws_ml, nsplit, HD, th0 + min(i / HD, G - 1), s, i % HD, M[e], L[e], O[e]);
    }
  }
#pragma unroll
  for (int e = 0; e < PER; ++e) {
    const int i = threadIdx.x + e * kDecWarps * 32;
    if (i < G * HD) out[(th0 + i / HD) * HD + i % HD] = O[e] / L[e];
  }
}

template <typename KT, int HD>
constexpr size_t legacy_tiled_smem() {
  return static_cast<size_t>(kLegacyRows + 2 * kTileKeys) * (HD + 8) * sizeof(KT);
}

template <typename KT, int HD>
void launch_tiled(const KVArgs& kv, const int32_t* tiles, int n_tiles, const float* q, int n_head, float scale,
                  int window, float* out, void* out16, cudaStream_t s) {
  if (g_attn_legacy) {
    const dim3 grid(n_tiles, n_head, (kAttnTileRows + kLegacyRows - 1) / kLegacyRows);
    k_attn_tiled_legacy<KT, HD><<<grid, 128, legacy_tiled_smem<KT, HD>(), s>>>(kv, tiles, q, n_head, scale, window, out);
    return;
  }
  // 8 warps (one block per tile) and two stages measured best on H200 (kernel times at 2048 tokens:
  // 4 warps 0.226 ms, three stages 0.200 ms, this 0.195 ms).
  k_attn_prefill<KT, HD, kPrefillWarps, kPrefillStages>
      <<<dim3(n_head, n_tiles * (kAttnTileRows / (16 * kPrefillWarps))), 32 * kPrefillWarps,
         prefill_smem<KT, HD, kPrefillStages>(), s>>>(kv, tiles, q, n_head, scale * kLog2e, window, out,
                                                      static_cast<__nv_bfloat16*>(out16));
}

template <typename KT, int HD>
void launch_decode(const KVArgs& kv, const float* q, int T, int n_head, float scale, int window, int nsplit, float* ws_o,
                   float* ws_ml, unsigned* counters, float* out, cudaStream_t s) {
  const int group = n_head / kv.n_kv;
  const int n_gc = (group + kDecHeads - 1) / kDecHeads;
  // Bound of one split's block-table slice (k_attn_decode): live groups <= max keys / 16 + 1.
  const long long groups = static_cast<long long>(kv.stride) * kv.block_size / 16 + 1;
  const long long per = (groups + nsplit - 1) / nsplit;
  const size_t max_tbl = static_cast<size_t>(per * 16 / kv.block_size + 2);
  const size_t smem = decode_smem_fixed<HD>() + max_tbl * sizeof(int);
  const dim3 grid(T * kv.n_kv * n_gc, nsplit);
  const bool pdl = pdl_enabled();
  launch_pdl(k_attn_decode<KT, HD>, grid, dim3(kDecWarps * 32), smem, s, pdl, kv, q, n_head, n_gc, scale * kLog2e,
             window, nsplit, ws_o, ws_ml, counters, out);
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

bool decode_mma_supported(DType kv, int hd) {
  return !g_attn_legacy && (kv == DType::F16 || kv == DType::BF16) && (hd == 64 || hd == 128);
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

template <typename KT, int HD>
void set_mma_smem() {
  cudaFuncSetAttribute(k_attn_tiled_legacy<KT, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       static_cast<int>(legacy_tiled_smem<KT, HD>()));
  cudaFuncSetAttribute(k_attn_prefill<KT, HD, kPrefillWarps, kPrefillStages>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       static_cast<int>(prefill_smem<KT, HD, kPrefillStages>()));
  cudaFuncSetAttribute(k_attn_decode<KT, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024);
}

}  // namespace

void kv_store(const KVArgs& kv, const float* k, const float* v, int T, cudaStream_t s) {
  const size_t n = static_cast<size_t>(T) * kv.n_kv * kv.hd;
  const dim3 grid(static_cast<unsigned>((n + 255) / 256));
  const bool pdl = pdl_enabled();
  if (kv.dtype == DType::F32) launch_pdl(k_kv_store<float>, grid, dim3(256), 0, s, pdl, kv, k, v, T);
  else if (kv.dtype == DType::F16) launch_pdl(k_kv_store<__half>, grid, dim3(256), 0, s, pdl, kv, k, v, T);
  else launch_pdl(k_kv_store<__nv_bfloat16>, grid, dim3(256), 0, s, pdl, kv, k, v, T);
  check_launch("kv_store");
}

void rope_kv_store(const KVArgs& kv, float* q, int nq, float* k, const float* v, int T, const RopeArgs& a,
                   const float* ff, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(rope_head_groups(T, nq + kv.n_kv)));
  const dim3 block(256);
  const bool pdl = pdl_enabled();
  if (kv.dtype == DType::F32) launch_pdl(k_rope_kv_store<float>, grid, block, 0, s, pdl, kv, q, nq, k, v, a, ff);
  else if (kv.dtype == DType::F16) launch_pdl(k_rope_kv_store<__half>, grid, block, 0, s, pdl, kv, q, nq, k, v, a, ff);
  else launch_pdl(k_rope_kv_store<__nv_bfloat16>, grid, block, 0, s, pdl, kv, q, nq, k, v, a, ff);
  check_launch("rope_kv_store");
}

void attention_split(const KVArgs& kv, const float* q, int T, int n_head, float scale, int window, int nsplit,
                     float* ws_o, float* ws_ml, unsigned* counters, float* out, cudaStream_t s) {
  if (decode_mma_supported(kv.dtype, kv.hd)) {
    if (kv.dtype == DType::F16) {
      if (kv.hd == 64) launch_decode<__half, 64>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, counters, out, s);
      else launch_decode<__half, 128>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, counters, out, s);
    } else {
      if (kv.hd == 64)
        launch_decode<__nv_bfloat16, 64>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, counters, out, s);
      else launch_decode<__nv_bfloat16, 128>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, counters, out, s);
    }
  } else if (kv.dtype == DType::F32) {
    launch_split<float>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, out, s);
  } else if (kv.dtype == DType::F16) {
    launch_split<__half>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, out, s);
  } else {
    launch_split<__nv_bfloat16>(kv, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, out, s);
  }
  check_launch("attention_split");
}

int attention_splits(DType kv, int hd, int blocks, int max_keys, int num_sms) {
  if (decode_mma_supported(kv, hd)) {
    // About 1.5 blocks per multiprocessor, each split at least 256 keys: more splits only add
    // merge work (H200, 32/8 heads, hd 128: 1x4096 fastest at 16 splits, 8x2048 at 4, 64x513 and
    // larger batches at 1). Short contexts of few sequences still take up to 16 splits (down to
    // 64 keys each): a block's 16-key groups are a chain of memory round trips.
    const int n = (3 * num_sms / 2 + blocks - 1) / blocks;
    return std::max(1, std::min(n, std::max(max_keys / 256, std::min(16, max_keys / 64))));
  }
  // The CUDA-core kernel: four blocks per multiprocessor, each split at least 64 keys.
  const int n = (4 * num_sms + blocks - 1) / blocks;
  return std::max(1, std::min(n, max_keys / 64));
}

void attention_init() {
  const char* env = std::getenv("MLXR_CUDA_ATTN");
  g_attn_legacy = env && std::strcmp(env, "legacy") == 0;
  set_split_smem<float>();
  set_split_smem<__half>();
  set_split_smem<__nv_bfloat16>();
  set_mma_smem<__half, 64>();
  set_mma_smem<__half, 128>();
  set_mma_smem<__nv_bfloat16, 64>();
  set_mma_smem<__nv_bfloat16, 128>();
  check_launch("attention_init");
}

bool attention_tiled_supported(DType kv, int hd) {
  return (kv == DType::F16 || kv == DType::BF16) && (hd == 64 || hd == 128);
}

bool attention_tiled_out16() { return !g_attn_legacy; }

void attention_tiled(const KVArgs& kv, const int32_t* tiles, int n_tiles, const float* q, int n_head, float scale,
                     int window, float* out, void* out16, cudaStream_t s) {
  if (n_tiles <= 0) return;
  if (kv.dtype == DType::F16) {
    if (kv.hd == 64) launch_tiled<__half, 64>(kv, tiles, n_tiles, q, n_head, scale, window, out, out16, s);
    else launch_tiled<__half, 128>(kv, tiles, n_tiles, q, n_head, scale, window, out, out16, s);
  } else {
    if (kv.hd == 64) launch_tiled<__nv_bfloat16, 64>(kv, tiles, n_tiles, q, n_head, scale, window, out, out16, s);
    else launch_tiled<__nv_bfloat16, 128>(kv, tiles, n_tiles, q, n_head, scale, window, out, out16, s);
  }
  check_launch("attention_tiled");
}

}  // namespace mlxr::cuda
