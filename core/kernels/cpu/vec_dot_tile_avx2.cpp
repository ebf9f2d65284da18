// Register-blocked tiles for prefill (matmul with several activation rows): each weight block is
// loaded and unpacked once and multiplied with several activation rows (and, for F16, two weight
// rows share each activation load). Every pair is summed in exactly the order of its single-row
// kernel in vec_dot_avx2.cpp, so results are bit-identical: a row's output does not depend on
// how many rows the matmul has (tested in vec_dot_test / matmul_test).
#include <immintrin.h>

#include "core/kernels/cpu/vec_dot.h"
#include "core/kernels/cpu/vec_dot_avx2_impl.h"
#include "core/quant/blocks.h"

namespace mlxr {
namespace {

using namespace avx2;

constexpr int kRN = 4;  // activation rows per tile

inline __m256 load_f32(const float* p) { return _mm256_loadu_ps(p); }
inline float id_f32(float v) { return v; }

// F32/BF16: one weight row times kRNF activation rows, each pair summed exactly as the single-row
// kernel sums it (4 accumulators over steps of 32, then steps of 8, then a scalar tail).
constexpr int kRNF = 2;
template <typename T, __m256 (*Load)(const T*), float (*ToF)(T)>
void tile_float(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const T* x = reinterpret_cast<const T*>(w);
  const T* ar[kRNF];
  for (int r = 0; r < kRNF; ++r) ar[r] = reinterpret_cast<const T*>(a + r * as);
  __m256 s[kRNF][4];
  for (int r = 0; r < kRNF; ++r)
    for (int j = 0; j < 4; ++j) s[r][j] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) {
      const __m256 wv = Load(x + i + 8 * j);
      for (int r = 0; r < kRNF; ++r) s[r][j] = _mm256_fmadd_ps(wv, Load(ar[r] + i + 8 * j), s[r][j]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 wv = Load(x + i);
    for (int r = 0; r < kRNF; ++r) s[r][0] = _mm256_fmadd_ps(wv, Load(ar[r] + i), s[r][0]);
  }
  for (int r = 0; r < kRNF; ++r) {
    float v = hsum8(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), _mm256_add_ps(s[r][2], s[r][3])));
    for (int64_t j = i; j < n; ++j) v = fma1(ToF(x[j]), ToF(ar[r][j]), v);
    y[r * ys] = v;
  }
}

// F16: RM weight rows x RN activation rows with one 16-lane accumulator each (as lo/hi halves),
// bit-identical with dot_f16 for K % 16 == 0 (the only K matmul gives this tile).
template <int RM, int RN>
void tile_f16(int64_t n, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* y,
              size_t ys) {
  const uint16_t* wr[RM];
  const uint16_t* ar[RN];
  for (int m = 0; m < RM; ++m) wr[m] = reinterpret_cast<const uint16_t*>(w + m * ws);
  for (int r = 0; r < RN; ++r) ar[r] = reinterpret_cast<const uint16_t*>(a + r * as);
  __m256 lo[RM][RN], hi[RM][RN];
  for (int m = 0; m < RM; ++m)
    for (int r = 0; r < RN; ++r) lo[m][r] = hi[m][r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    __m256 wl[RM], wh[RM];
    for (int m = 0; m < RM; ++m) {
      wl[m] = load_f16(wr[m] + i);
      wh[m] = load_f16(wr[m] + i + 8);
    }
    for (int r = 0; r < RN; ++r) {
      const __m256 al = load_f16(ar[r] + i), ah = load_f16(ar[r] + i + 8);
      for (int m = 0; m < RM; ++m) {
        lo[m][r] = _mm256_fmadd_ps(wl[m], al, lo[m][r]);
        hi[m][r] = _mm256_fmadd_ps(wh[m], ah, hi[m][r]);
      }
    }
  }
  for (int m = 0; m < RM; ++m)
    for (int r = 0; r < RN; ++r) y[r * ys + m] = reduce16(lo[m][r], hi[m][r]);
}

// Signed 32-byte unpacking of the legacy types that meet Q8_0.
inline __m256i unpack_q5_0(const BlockQ5_0& b) {
  return _mm256_or_si256(nibbles32(b.qs), _mm256_andnot_si256(bits32(b.qh), _mm256_set1_epi8(static_cast<char>(0xF0))));
}
inline __m256i unpack_iq4_nl(const BlockIQ4_NL& b) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
  return _mm256_shuffle_epi8(_mm256_set_m128i(v, v), nibbles32(b.qs));
}

// kRN activation rows per weight-block unpack (Q4_0 and Q8_0 have grouped tiles instead,
// vec_dot_prepared_avx2.cpp).
template <typename Block, __m256i (*Unpack)(const Block&)>
void tile_q8s(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  constexpr int RN = kRN;
  const auto* x = reinterpret_cast<const Block*>(w);
  const size_t extra = q8_0_extra_offset(n);
  const BlockQ8_0* ar[RN];
  const float* dr[RN];  // fp32 block scales after each row (tile_act_finish)
  for (int r = 0; r < RN; ++r) {
    ar[r] = reinterpret_cast<const BlockQ8_0*>(a + r * as);
    dr[r] = reinterpret_cast<const float*>(a + r * as + extra);
  }
  __m256 acc[RN];
  for (int r = 0; r < RN; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < n / 32; ++ib) {
    const __m256i qx = Unpack(x[ib]);
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    const __m256 dw = _mm256_set1_ps(h2f(x[ib].d));
    for (int r = 0; r < RN; ++r) {
      const __m256i p = dot_us8(ax, _mm256_sign_epi8(load256(ar[r][ib].qs), qx));
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(dr[r] + ib));
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < RN; ++r) y[r * ys] = hsum8(acc[r]);
}

// IQ4_NL sums pairs of blocks into two accumulators (as ggml_vec_dot_iq4_nl_q8_0 and dot_iq4_nl).
void tile_iq4_nl(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const BlockIQ4_NL*>(w);
  const size_t extra = q8_0_extra_offset(n);
  const BlockQ8_0* ar[kRN];
  const float* dr[kRN];
  for (int r = 0; r < kRN; ++r) {
    ar[r] = reinterpret_cast<const BlockQ8_0*>(a + r * as);
    dr[r] = reinterpret_cast<const float*>(a + r * as + extra);
  }
  __m256 acc1[kRN], acc2[kRN];
  for (int r = 0; r < kRN; ++r) acc1[r] = acc2[r] = _mm256_setzero_ps();
  const int64_t nb = n / 32;
  int64_t ib = 0;
  for (; ib + 1 < nb; ib += 2) {
    const __m256i q1 = unpack_iq4_nl(x[ib]), q2 = unpack_iq4_nl(x[ib + 1]);
    const __m256i a1 = _mm256_sign_epi8(q1, q1), a2 = _mm256_sign_epi8(q2, q2);
    const float dw1 = h2f(x[ib].d), dw2 = h2f(x[ib + 1].d);
    for (int r = 0; r < kRN; ++r) {
      const __m256i p1 = dot_us8(a1, _mm256_sign_epi8(load256(ar[r][ib].qs), q1));
      const __m256i p2 = dot_us8(a2, _mm256_sign_epi8(load256(ar[r][ib + 1].qs), q2));
      acc1[r] = _mm256_fmadd_ps(_mm256_set1_ps(dr[r][ib] * dw1), _mm256_cvtepi32_ps(p1), acc1[r]);
      acc2[r] = _mm256_fmadd_ps(_mm256_set1_ps(dr[r][ib + 1] * dw2), _mm256_cvtepi32_ps(p2), acc2[r]);
    }
  }
  for (int r = 0; r < kRN; ++r) {
    float sumf = hsum8(_mm256_add_ps(acc1[r], acc2[r]));
    for (int64_t i = ib; i < nb; ++i) {
      int s1 = 0, s2 = 0;
      for (int j = 0; j < 16; ++j) {
        s1 += ar[r][i].qs[j] * kIQ4NLValues[x[i].qs[j] & 0xF];
        s2 += ar[r][i].qs[j + 16] * kIQ4NLValues[x[i].qs[j] >> 4];
      }
      sumf = fma1(dr[r][i] * h2f(x[i].d), static_cast<float>(s1 + s2), sumf);
    }
    y[r * ys] = sumf;
  }
}

// Unsigned unpacking of the types with a min, which meet Q8_1 (whose s = d * sum(q)).
inline __m256i unpack_q4_1(const BlockQ4_1& b) { return nibbles32(b.qs); }
inline __m256i unpack_q5_1(const BlockQ5_1& b) {
  return _mm256_or_si256(nibbles32(b.qs), _mm256_and_si256(bits32(b.qh), _mm256_set1_epi8(0x10)));
}

template <typename Block, __m256i (*Unpack)(const Block&)>
void tile_q8u(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const Block*>(w);
  const BlockQ8_1* ar[kRN];
  for (int r = 0; r < kRN; ++r) ar[r] = reinterpret_cast<const BlockQ8_1*>(a + r * as);
  __m256 acc[kRN];
  float summ[kRN] = {};
  for (int r = 0; r < kRN; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < n / 32; ++ib) {
    const __m256i qx = Unpack(x[ib]);
    const float dw = h2f(x[ib].d), mw = h2f(x[ib].m);
    for (int r = 0; r < kRN; ++r) {
      summ[r] = fma1(mw, h2f(ar[r][ib].s), summ[r]);
      const __m256i p = dot_us8(qx, load256(ar[r][ib].qs));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * h2f(ar[r][ib].d)), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < kRN; ++r) y[r * ys] = hsum8(acc[r]) + summ[r];
}

void tile_q2_k(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const BlockQ2_K*>(w);
  const BlockQ8_K* ar[kRN];
  for (int r = 0; r < kRN; ++r) ar[r] = reinterpret_cast<const BlockQ8_K*>(a + r * as);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc[kRN];
  for (int r = 0; r < kRN; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const float dw = h2f(x[i].d), dminw = h2f(x[i].dmin);
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const __m128i sc = _mm_and_si128(raw, _mm_set1_epi8(0xF));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF)));
    __m256i sumi[kRN];
    for (int r = 0; r < kRN; ++r) {
      sumi[r] = _mm256_setzero_si256();
      const __m256i prod = _mm256_madd_epi16(mins, load256(ar[r][i].bsums));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(-ar[r][i].d * dminw), _mm256_cvtepi32_ps(prod), acc[r]);
    }
    for (int half = 0; half < 2; ++half) {
      const __m256i q2 = load256(x[i].qs + 32 * half);
      for (int k = 0; k < 4; ++k) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), m3);
        const __m256i s = scale_pair16(sc, 4 * half + k);
        for (int r = 0; r < kRN; ++r) {
          const __m256i p = _mm256_maddubs_epi16(q, load256(ar[r][i].qs + 128 * half + 32 * k));
          sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, p));
        }
      }
    }
    for (int r = 0; r < kRN; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(ar[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
  }
  for (int r = 0; r < kRN; ++r) y[r * ys] = hsum8(acc[r]);
}

void tile_q3_k(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const BlockQ3_K*>(w);
  const BlockQ8_K* ar[kRN];
  for (int r = 0; r < kRN; ++r) ar[r] = reinterpret_cast<const BlockQ8_K*>(a + r * as);
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
  __m256 acc[kRN];
  for (int r = 0; r < kRN; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const float dw = h2f(x[i].d);
    const __m128i sc = q3k_scales16(x[i].scales);
    const __m256i hbits = load256(x[i].hmask);
    __m256i sumi[kRN];
    for (int r = 0; r < kRN; ++r) sumi[r] = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q2 = load256(x[i].qs + 32 * half);
      for (int k = 0; k < 4; ++k) {
        const int g = 4 * half + k;
        const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hbits, g), one);
        const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), m3),
                                          _mm256_slli_epi16(hb, 2));
        const __m256i s = scale_pair16(sc, g);
        for (int r = 0; r < kRN; ++r) {
          const __m256i a8 = load256(ar[r][i].qs + 32 * g);
          const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a8), _mm256_maddubs_epi16(four, a8));
          sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, p));
        }
      }
    }
    for (int r = 0; r < kRN; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * ar[r][i].d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
  }
  for (int r = 0; r < kRN; ++r) y[r * ys] = hsum8(acc[r]);
}

// Q4_K/Q5_K as dot_q45_k (used for Q5_K: Q4_K has a grouped tile, vec_dot_prepared_avx2.cpp).
template <bool kFive, typename Block>
void tile_q45_k(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const Block*>(w);
  const BlockQ8_K* ar[kRN];
  for (int r = 0; r < kRN; ++r) ar[r] = reinterpret_cast<const BlockQ8_K*>(a + r * as);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc[kRN];
  __m128 accm[kRN];  // Q4_K: the min term in 4 lanes
  float summs[kRN];  // Q5_K: the min term in one float
  for (int r = 0; r < kRN; ++r) {
    acc[r] = _mm256_setzero_ps();
    accm[r] = _mm_setzero_ps();
    summs[r] = 0;
  }
  for (int64_t i = 0; i < n / 256; ++i) {
    const float dw = h2f(x[i].d), dminw = h2f(x[i].dmin);
    const __m256i mins_scales = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
    const __m128i mins = _mm256_extracti128_si256(mins_scales, 1);
    for (int r = 0; r < kRN; ++r) {
      const __m256i bs = load256(ar[r][i].bsums);
      const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
      const __m128i prod = _mm_madd_epi16(mins, q8s);
      const float dmin = -ar[r][i].d * dminw;
      if constexpr (kFive) summs[r] = fma1(dmin, static_cast<float>(hsum4i(prod)), summs[r]);
      else accm[r] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm[r]);
    }
    const __m128i sc128 = _mm256_castsi256_si128(mins_scales);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    __m256i hbits;
    if constexpr (kFive) hbits = load256(x[i].qh);
    __m256i sumi[kRN];
    for (int r = 0; r < kRN; ++r) sumi[r] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i sl = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<short>(((4 * c + 1) << 8) | (4 * c))));
      const __m256i sh = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<short>(((4 * c + 3) << 8) | (4 * c + 2))));
      const __m256i qb = load256(x[i].qs + 32 * c);
      __m256i ql = _mm256_and_si256(qb, m4);
      __m256i qh = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
      if constexpr (kFive) {
        const __m256i one = _mm256_set1_epi8(1);
        ql = _mm256_or_si256(ql, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one), 4));
        qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one), 4));
      }
      for (int r = 0; r < kRN; ++r) {
        const int8_t* q8 = ar[r][i].qs + 64 * c;
        const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, load256(q8)));
        const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, load256(q8 + 32)));
        sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(pl, ph));
      }
    }
    for (int r = 0; r < kRN; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(ar[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
  }
  for (int r = 0; r < kRN; ++r) y[r * ys] = kFive ? hsum8(acc[r]) + summs[r] : hsum8(acc[r]) + hsum4(accm[r]);
}

void tile_q6_k(int64_t n, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* y, size_t ys) {
  const auto* x = reinterpret_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* ar[kRN];
  for (int r = 0; r < kRN; ++r) ar[r] = reinterpret_cast<const BlockQ8_K*>(a + r * as);
  const __m256i m32 = _mm256_set1_epi8(32);
  __m256 acc[kRN];
  for (int r = 0; r < kRN; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const float dw = h2f(x[i].d);
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    __m256i sumi[kRN];
    for (int r = 0; r < kRN; ++r) sumi[r] = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      __m256i q[4];
      unpack_q6_k_half(x[i], half, q);
      for (int k = 0; k < 4; ++k) {
        const __m256i s = scale_pair16(sc, 4 * half + k);
        for (int r = 0; r < kRN; ++r) {
          const __m256i a8 = load256(ar[r][i].qs + 128 * half + 32 * k);
          const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], a8), _mm256_maddubs_epi16(m32, a8));
          sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, p));
        }
      }
    }
    for (int r = 0; r < kRN; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(ar[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
  }
  for (int r = 0; r < kRN; ++r) y[r * ys] = hsum8(acc[r]);
}

inline float bf16_f(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

VecDotTile vec_dot_tile_avx2(DType weight) {
  if (const VecDotTile g = avx2::grouped_tile(weight); g.fn) return g;
  switch (weight) {
    case DType::F32: return {1, kRNF, tile_float<float, load_f32, id_f32>};
    case DType::F16: return {2, 2, tile_f16<2, 2>};
    case DType::BF16: return {1, kRNF, tile_float<uint16_t, load_bf16, bf16_f>};
    case DType::Q5_0: return {1, kRN, tile_q8s<BlockQ5_0, unpack_q5_0>};
    case DType::Q4_1: return {1, kRN, tile_q8u<BlockQ4_1, unpack_q4_1>};
    case DType::Q5_1: return {1, kRN, tile_q8u<BlockQ5_1, unpack_q5_1>};
    case DType::Q2_K: return {1, kRN, tile_q2_k};
    case DType::Q3_K: return {1, kRN, tile_q3_k};
    case DType::IQ4_NL: return {1, kRN, tile_iq4_nl};
    case DType::Q5_K: return {1, kRN, tile_q45_k<true, BlockQ5_K>};
    case DType::Q6_K: return {1, kRN, tile_q6_k};
    default: return {};
  }
}

}  // namespace mlxr
