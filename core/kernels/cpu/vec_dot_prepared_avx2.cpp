// Kernels that read prepared activations (vec_dot.h): the decode kernels over a finished row, which
// take the fp32 block scales and Q4_0's offset term from its extras, and the prefill tiles over a
// group of rows interleaved block by block (one base pointer and aligned loads, so the 8 row
// accumulators stay in registers). Each pair is summed in exactly the order of its single-row
// kernel in vec_dot_avx2.cpp: per block one FMA of the same 8 int32 lanes, the same reductions.
#include <immintrin.h>

#include "core/kernels/cpu/vec_dot.h"
#include "core/kernels/cpu/vec_dot_avx2_impl.h"
#include "core/quant/blocks.h"

namespace mlxr {
namespace {

using namespace avx2;

constexpr int kGroup = 8;  // activation rows per grouped tile

// --- decode ------------------------------------------------------------------------------------

// fp16 weight scales of 8 consecutive blocks times the activation's fp32 block scales: one
// conversion and one multiply for 8 blocks (the products are the same floats as one at a time).
template <typename Block>
inline void block_scales8(const Block* x, const float* da, float* ds) {
  const __m128i d16 = _mm_setr_epi16(static_cast<short>(x[0].d), static_cast<short>(x[1].d),
                                     static_cast<short>(x[2].d), static_cast<short>(x[3].d),
                                     static_cast<short>(x[4].d), static_cast<short>(x[5].d),
                                     static_cast<short>(x[6].d), static_cast<short>(x[7].d));
  _mm256_store_ps(ds, _mm256_mul_ps(_mm256_cvtph_ps(d16), _mm256_loadu_ps(da)));
}

// 16 bytes of nibbles -> 32 bytes (low nibbles, then high), without a cross-lane insert.
inline __m256i nibbles32_b(const uint8_t* p) {
  const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0xF));
}

// Q4_0 block: (q - 8) * a as q*a - m8 (m8 = 8*a pair sums, from the row's extras), as dot_q4_0.
struct Q4_0Block {
  using Block = BlockQ4_0;
  static __m256i sum(const BlockQ4_0& x, const BlockQ8_0& y, const uint8_t* m8) {
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles32_b(x.qs), load256(y.qs)), load256(m8));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
  }
};
struct Q8_0Block {
  using Block = BlockQ8_0;
  static __m256i sum(const BlockQ8_0& x, const BlockQ8_0& y, const uint8_t*) {
    return dot_ss8(load256(x.qs), load256(y.qs));
  }
};

// One weight row per call: its sum is a chain of dependent FMAs in a fixed order, and running
// several rows side by side would hide that latency, but interleaving their weight streams was
// measured slower here once the weights come from L3 or DRAM (decode). The row is prefetched
// ahead instead (prefetch_ahead).
template <typename T>
void gemv(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t, float* y, size_t) {
  const auto* x = reinterpret_cast<const typename T::Block*>(w);
  const auto* q8 = reinterpret_cast<const BlockQ8_0*>(a);
  const auto* da = reinterpret_cast<const float*>(a + q8_0_extra_offset(n));
  const uint8_t* m8 = a + q8_0_m8_offset(n);
  const int64_t nb = n / 32;
  __m256 acc = _mm256_setzero_ps();
  alignas(32) float ds[8];
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    prefetch_ahead(x + i, 8 * sizeof(x[0]));
    block_scales8(x + i, da + i, ds);
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const __m256i s = T::sum(x[i + k], q8[i + k], m8 + 32 * (i + k));
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + k), _mm256_cvtepi32_ps(s), acc);
    }
  }
  for (; i < nb; ++i) {
    const __m256i s = T::sum(x[i], q8[i], m8 + 32 * i);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * da[i]), _mm256_cvtepi32_ps(s), acc);
  }
  *y = hsum8(acc);
}

// --- prefill: one weight row x kGroup grouped activation rows ----------------------------------

// Q8_0 weights: the sign trick (|w| unsigned times a with w's sign), as tile_q8s.
struct GroupQ8_0 {
  using Block = BlockQ8_0;
  struct Prep {
    __m256i qx, ax;
  };
  static Prep prep(const BlockQ8_0& b) {
    const __m256i qx = load256(b.qs);
    return {qx, _mm256_sign_epi8(qx, qx)};
  }
  static __m256i lanes(const Prep& p, const uint8_t* a) { return dot_us8(p.ax, _mm256_sign_epi8(load256(a), p.qx)); }
};

// Q4_0 weights meet activations stored + 128 (tile_act_group): (a + 128) * w with w = q - 8
// signed needs no sign flip per row, and 128 * w is the weight block's own correction, shared
// by the 8 rows. The int32 lanes are those of dot_q4_0.
struct GroupQ4_0 {
  using Block = BlockQ4_0;
  struct Prep {
    __m256i qx, corr;
  };
  static Prep prep(const BlockQ4_0& b) {
    const __m256i qx = _mm256_sub_epi8(nibbles32(b.qs), _mm256_set1_epi8(8));
    return {qx, _mm256_maddubs_epi16(_mm256_set1_epi8(static_cast<char>(0x80)), qx)};  // 128 * w pairs
  }
  static __m256i lanes(const Prep& p, const uint8_t* a) {
    const __m256i s = _mm256_sub_epi16(_mm256_maddubs_epi16(load256(a), p.qx), p.corr);
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
  }
};

template <typename T>
void group_q8(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const typename T::Block*>(w);
  __m256 acc[kGroup];
#pragma GCC unroll 8
  for (int r = 0; r < kGroup; ++r) acc[r] = _mm256_setzero_ps();
  alignas(32) float ds[kGroup];
  for (int64_t ib = 0; ib < n / 32; ++ib, a += kGroup * 36) {
    const typename T::Prep p = T::prep(x[ib]);
    // The 8 scale products in one multiply; each row broadcasts its own from memory.
    _mm256_store_ps(ds, _mm256_mul_ps(_mm256_set1_ps(h2f(x[ib].d)), _mm256_loadu_ps(reinterpret_cast<const float*>(a + 32 * kGroup))));
#pragma GCC unroll 8
    for (int r = 0; r < kGroup; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + r), _mm256_cvtepi32_ps(T::lanes(p, a + 32 * r)), acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < kGroup; ++r) y[r * ys] = hsum8(acc[r]);
}

// Q4_K as dot_q45_k<false>: the min term in 4 float lanes, the scaled sums in 8. The block's
// scale vectors go to the stack once; rows go in pairs that share each nibble unpack (recomputed
// per pair on the otherwise idle shuffle/logic pipes) and scale load, so that the integer
// multiplies, not the loads, set the pace.
void group_q4_k(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const BlockQ4_K*>(w);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc[kGroup];
  __m128 accm[kGroup];
  for (int r = 0; r < kGroup; ++r) {
    acc[r] = _mm256_setzero_ps();
    accm[r] = _mm_setzero_ps();
  }
  alignas(32) float ds[kGroup], dm[kGroup];
  __m256i sc[8];  // scale of sub-block j (low nibbles of chunk j / 2, or high when j is odd)
  for (int64_t i = 0; i < n / 256; ++i, a += kGroup * 276) {
    const __m256 da = _mm256_loadu_ps(reinterpret_cast<const float*>(a + 256 * kGroup));
    _mm256_store_ps(ds, _mm256_mul_ps(da, _mm256_set1_ps(h2f(x[i].d))));
    _mm256_store_ps(dm, _mm256_mul_ps(da, _mm256_set1_ps(-h2f(x[i].dmin))));  // = -d_a * dmin
    const __m256i mins_scales = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
    const __m128i mins = _mm256_extracti128_si256(mins_scales, 1);
    const __m128i sc128 = _mm256_castsi256_si128(mins_scales);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    for (int j = 0; j < 8; ++j)
      sc[j] = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<short>(((2 * j + 1) << 8) | (2 * j))));
    for (int r = 0; r < kGroup; ++r) {
      const __m128i q8s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 260 * kGroup + 16 * r));
      accm[r] = _mm_fmadd_ps(_mm_broadcast_ss(dm + r), _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s)), accm[r]);
    }
    for (int r = 0; r < kGroup; r += 2) {
      __m256i s0 = _mm256_setzero_si256(), s1 = s0;
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m256i qb = load256(x[i].qs + 32 * c);
        const __m256i ql = _mm256_and_si256(qb, m4), qh = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
        const uint8_t* a0 = a + 256 * r + 64 * c;
        const uint8_t* a1 = a0 + 256;
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(sc[2 * c], _mm256_maddubs_epi16(ql, load256(a0))));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(sc[2 * c], _mm256_maddubs_epi16(ql, load256(a1))));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(sc[2 * c + 1], _mm256_maddubs_epi16(qh, load256(a0 + 32))));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(sc[2 * c + 1], _mm256_maddubs_epi16(qh, load256(a1 + 32))));
      }
      acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + r), _mm256_cvtepi32_ps(s0), acc[r]);
      acc[r + 1] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + r + 1), _mm256_cvtepi32_ps(s1), acc[r + 1]);
    }
  }
  for (int r = 0; r < kGroup; ++r) y[r * ys] = hsum8(acc[r]) + hsum4(accm[r]);
}

}  // namespace

VecDotTile vec_dot_gemv_avx2(DType weight) {
  switch (weight) {
    case DType::Q4_0: return {1, 1, gemv<Q4_0Block>};
    case DType::Q8_0: return {1, 1, gemv<Q8_0Block>};
    default: return {};
  }
}

namespace avx2 {
VecDotTile grouped_tile(DType weight) {
  switch (weight) {
    case DType::Q4_0: return {1, kGroup, group_q8<GroupQ4_0>, true};
    case DType::Q8_0: return {1, kGroup, group_q8<GroupQ8_0>, true};
    case DType::Q4_K: return {1, kGroup, group_q4_k, true};
    default: return {};
  }
}
}  // namespace avx2

}  // namespace mlxr
