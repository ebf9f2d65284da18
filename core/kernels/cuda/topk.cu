// Top-k candidates and log-sum-exp per row of logits, one 1024-thread CTA per row. Reference:
// core/kernels/cpu/topk.cpp; values and indices are equal bit for bit.
//
// Each value maps to an order-preserving uint32 key (NaN -> -inf and -0 -> +0 first, so two keys
// are equal exactly when the CPU compares the values equal), and each element to a unique 64-bit
// rank, key << 32 | ~index: a larger rank is a better candidate, and of equal values the lower
// index wins, as in the reference.
//   pass 1: every thread keeps the two largest keys it sees. These are keys of 2048 distinct
//           elements, so the k-th largest of them (k <= 1024) is a lower bound on the row's k-th
//           largest key: every element of the answer has a key >= that bound.
//   pass 2: Σ exp(x - max) for the log-sum-exp, and every element with key >= bound is appended
//           to a candidate list in shared memory (on random rows k to 1.2k of them).
//   sort:   the candidates' ranks, bitonic in shared memory, descending; the first k are the answer.
// When more than kCand elements reach the bound (many equal values at the threshold, such as a
// row of mostly -inf), an exact radix select finds the k-th largest rank over the whole row (8
// passes of 8-bit digits), and the k elements at or above it are the candidates.
#include <cstdint>

#include "core/kernels/cuda/kernels.h"
#include "core/kernels/cuda/topk.h"
#include "core/tensor/backend.h"  // kMaxTopK

namespace mlxr::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kCand = 4096;  // shared candidate list: 32 KB of ranks, a power of two
static_assert(kMaxTopK <= 2 * kThreads, "the pass-1 bound needs k <= the number of kept keys");
static_assert(kMaxTopK <= kCand && (kCand & (kCand - 1)) == 0, "the list holds k ranks, sorts as a power of two");

__device__ __forceinline__ float rank_value(float x) { return isnan(x) ? -INFINITY : x; }

// key_of(a) > key_of(b) exactly when rank_value(a) > rank_value(b). Never 0 (the smallest key,
// that of -inf, is 0x007fffff), so 0 pads below every element.
__device__ __forceinline__ uint32_t key_of(float x) {
  uint32_t u = __float_as_uint(rank_value(x));
  if (u == 0x80000000u) u = 0;  // -0 ranks as +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float value_of(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}
__device__ __forceinline__ uint64_t rank_of(uint32_t key, int i) {
  return (static_cast<uint64_t>(key) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(i));
}
__device__ __forceinline__ int index_of(uint64_t rank) { return static_cast<int>(~static_cast<uint32_t>(rank)); }

// Calls f(i, x[i], true) once for every i in [0, n), spread over the block, plus f(_, _, false)
// as padding so that every thread makes the same number of calls: warp votes inside f always
// see the full warp. Aligned float4 loads, four in flight per thread.
template <typename F>
__device__ __forceinline__ void for_each_uniform(const float* __restrict__ x, int n, F&& f) {
  const int t = threadIdx.x;
  const int head = min(n, static_cast<int>(((16 - (reinterpret_cast<uintptr_t>(x) & 15)) & 15) / 4));
  f(t, t < head ? x[t] : 0.0f, t < head);
  const float4* v = reinterpret_cast<const float4*>(x + head);
  const int nv = (n - head) / 4;
  constexpr int U = 4;
  for (int base = 0; base < nv; base += U * kThreads) {
    float4 q[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = base + u * kThreads + t;
      q[u] = j < nv ? __ldg(v + j) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = base + u * kThreads + t;
      const bool ok = j < nv;
      const int i = head + 4 * j;
      f(i, q[u].x, ok);
      f(i + 1, q[u].y, ok);
      f(i + 2, q[u].z, ok);
      f(i + 3, q[u].w, ok);
    }
  }
  const int i = head + 4 * nv + t;  // the 0..3 values after the last float4
  f(i, i < n ? x[i] : 0.0f, i < n);
}

// Sorts s[0, N) descending, N a power of two; the whole block calls it. Starts and ends with a
// barrier, so writes before it and reads after it need none.
template <typename T>
__device__ void bitonic_sort_desc(T* s, int N) {
  for (int size = 2; size <= N; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int p = threadIdx.x; p < N / 2; p += kThreads) {
        const int i = 2 * stride * (p / stride) + p % stride;  // pair (i, i + stride)
        const int j = i + stride;
        const bool desc = (i & size) == 0;  // the final merge (size == N) is descending
        const T a = s[i], b = s[j];
        if (desc ? a < b : a > b) {
          s[i] = b;
          s[j] = a;
        }
      }
    }
  }
  __syncthreads();
}

// Called by warp 0: the bin b of hist (256 counts, bin 255 the largest digit) that holds the
// want-th largest element, above < want <= above + hist[b] with above = Σ_{j > b} hist[j].
// Writes {b, above} to out.
__device__ void find_bin(const uint32_t* hist, uint32_t want, uint32_t* out) {
  const int lane = threadIdx.x & 31;
  uint32_t c[8];
  uint32_t s = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) s += c[j] = hist[lane * 8 + j];
  uint32_t incl = s;  // Σ over lanes >= lane
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const uint32_t v = __shfl_down_sync(~0u, incl, o);
    if (lane + o < 32) incl += v;
  }
  uint32_t above = incl - s;
  if (above < want && want <= incl) {
    for (int j = 7; j >= 0; --j) {
      if (above + c[j] >= want) {
        out[0] = static_cast<uint32_t>(lane * 8 + j);
        out[1] = above;
        break;
      }
      above += c[j];
    }
  }
}

// The exact k-th largest rank of the row, by 8-bit digits from the top (the fallback).
__device__ uint64_t kth_rank_radix(const float* __restrict__ x, int n, int k, uint32_t* hist, uint32_t* found) {
  const int lane = threadIdx.x & 31;
  uint64_t prefix = 0;  // the digits found so far, in place
  uint32_t want = static_cast<uint32_t>(k);
  for (int p = 0; p < 8; ++p) {
    const int shift = 56 - 8 * p;
    const uint64_t hi = p == 0 ? 0 : ~0ull << (64 - 8 * p);
    for (int b = threadIdx.x; b < 256; b += kThreads) hist[b] = 0;
    __syncthreads();
    for_each_uniform(x, n, [&](int i, float v, bool ok) {
      const uint64_t r = rank_of(key_of(v), i);
      const bool in = ok && (r & hi) == prefix;
      const int d = in ? static_cast<int>((r >> shift) & 255) : 256;
      // One atomic per distinct digit of the warp: equal values would serialise 32-way.
      const unsigned peers = __match_any_sync(~0u, d);
      if (in && lane == __ffs(peers) - 1) atomicAdd(&hist[d], static_cast<uint32_t>(__popc(peers)));
    });
    __syncthreads();
    if (threadIdx.x < 32) find_bin(hist, want, found);
    __syncthreads();  // found is read now and rewritten only after two more barriers
    prefix |= static_cast<uint64_t>(found[0]) << shift;
    want -= found[1];
  }
  return prefix;
}

__global__ void __launch_bounds__(kThreads, 1)
    k_top_k(const float* __restrict__ logits, int n, int k, float* __restrict__ vals, int32_t* __restrict__ idx,
            float* __restrict__ lse) {
  __shared__ uint64_t cand[kCand];
  __shared__ uint32_t tops[2 * kThreads];
  __shared__ uint32_t hist[256];
  __shared__ uint32_t found[2];
  __shared__ double warp_sum[kWarps];
  __shared__ int n_cand;
  const float* x = logits + static_cast<size_t>(blockIdx.x) * n;
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;

  // Pass 1: the two largest keys per thread (of distinct elements), 0 where there are fewer.
  uint32_t t1 = 0, t2 = 0;
  for_each_uniform(x, n, [&](int, float v, bool ok) {
    const uint32_t key = ok ? key_of(v) : 0u;
    if (key > t1) {
      t2 = t1;
      t1 = key;
    } else if (key > t2) {
      t2 = key;
    }
  });
  tops[2 * t] = t1;
  tops[2 * t + 1] = t2;
  if (t == 0) n_cand = 0;
  bitonic_sort_desc(tops, 2 * kThreads);
  const uint32_t bound = tops[k - 1];
  const float mx = value_of(tops[0]);  // the row's maximum (n >= 1, so a real key)
  const bool finite = isfinite(mx);

  // Pass 2: the exp sum, and the candidates appended in warp-sized groups. Each thread sums its
  // ~n/1024 terms (each <= 1) in float: relative error < 1e-5 even in the worst case, and no
  // float->double conversion per element (a quarter-rate instruction); threads add in double.
  float sum = 0.0f;
  for_each_uniform(x, n, [&](int i, float v, bool ok) {
    if (ok && finite && !isnan(v)) sum += expf(v - mx);
    const uint32_t key = key_of(v);
    const bool take = ok && key >= bound;
    const unsigned ballot = __ballot_sync(~0u, take);
    if (ballot) {
      const int leader = __ffs(ballot) - 1;
      int base = 0;
      if (lane == leader) base = atomicAdd(&n_cand, __popc(ballot));
      base = __shfl_sync(~0u, base, leader);
      const int pos = base + __popc(ballot & ((1u << lane) - 1));
      if (take && pos < kCand) cand[pos] = rank_of(key, i);
    }
  });
  double wsum = sum;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) wsum += __shfl_xor_sync(~0u, wsum, o);
  if (lane == 0) warp_sum[warp] = wsum;
  __syncthreads();
  int m = n_cand;
  if (t == 0) {
    double s = 0.0;
    for (int w = 0; w < kWarps; ++w) s += warp_sum[w];
    // Row maximum +inf: lse +inf; only -inf/NaN: -inf (the reference's rule).
    lse[blockIdx.x] = finite ? static_cast<float>(static_cast<double>(mx) + log(s)) : mx;
  }

  if (m > kCand) {  // block-uniform: the list overflowed
    const uint64_t kth = kth_rank_radix(x, n, k, hist, found);  // its barriers order the reads of n_cand
    if (t == 0) n_cand = 0;
    __syncthreads();
    for_each_uniform(x, n, [&](int i, float v, bool ok) {
      const uint64_t r = rank_of(key_of(v), i);
      if (ok && r >= kth) cand[atomicAdd(&n_cand, 1)] = r;  // exactly k: ranks are unique
    });
    m = k;
  }

  int N = 1;
  while (N < m) N <<= 1;
  for (int i = m + t; i < N; i += kThreads) cand[i] = 0;  // below every rank
  bitonic_sort_desc(cand, N);
  for (int j = t; j < k; j += kThreads) {
    const int i = index_of(cand[j]);
    const size_t o = static_cast<size_t>(blockIdx.x) * k + j;
    vals[o] = rank_value(x[i]);  // the value itself: a -0 stays -0, as in the reference
    idx[o] = i;
  }
}

}  // namespace

size_t top_k_workspace_bytes(int, int, int) { return 0; }

void top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse, void*,
                cudaStream_t s) {
  if (rows <= 0) return;
  k_top_k<<<rows, kThreads, 0, s>>>(logits, n, k, vals, idx, lse);
  check_launch("top_k_rows");
}

}  // namespace mlxr::cuda
