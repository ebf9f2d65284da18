// AVX2/FMA/F16C dot products and activation quantisers. Compiled with -mavx2 -mfma -mf16c and
// called only after cpu_has_avx2(). The integer block sums equal the scalar kernels' exactly;
// the float accumulation is vectorised (8 lanes), as in llama.cpp's AVX2 kernels.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/base/fp16.h"
#include "core/kernels/cpu/vec_dot.h"
#include "core/kernels/cpu/vec_dot_avx2_impl.h"
#include "core/quant/blocks.h"

namespace mlxr {
namespace {

using namespace avx2;

// F16 as llama.cpp's AVX-512 build computes it. K % 16 == 0: its tinyBLAS kernel, one 16-lane
// accumulator. Otherwise ggml_vec_dot_f16: four 16-lane accumulators over steps of 64, reduced
// (0+2, 1+3, then 0+1), and the tail added in double.
float dot_f16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  if (n % 16 == 0) {
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (int64_t i = 0; i < n; i += 16) {
      prefetch_ahead(x + i, 32);
      lo = _mm256_fmadd_ps(load_f16(x + i), load_f16(y + i), lo);
      hi = _mm256_fmadd_ps(load_f16(x + i + 8), load_f16(y + i + 8), hi);
    }
    return reduce16(lo, hi);
  }
  const int64_t np = n & ~int64_t{63};
  __m256 lo[4], hi[4];
  for (int j = 0; j < 4; ++j) lo[j] = hi[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < np; i += 64) {
    for (int j = 0; j < 4; ++j) {
      lo[j] = _mm256_fmadd_ps(load_f16(x + i + 16 * j), load_f16(y + i + 16 * j), lo[j]);
      hi[j] = _mm256_fmadd_ps(load_f16(x + i + 16 * j + 8), load_f16(y + i + 16 * j + 8), hi[j]);
    }
  }
  for (int j = 0; j < 2; ++j) {
    lo[j] = _mm256_add_ps(lo[j], lo[j + 2]);
    hi[j] = _mm256_add_ps(hi[j], hi[j + 2]);
  }
  double sum = reduce16(_mm256_add_ps(lo[0], lo[1]), _mm256_add_ps(hi[0], hi[1]));
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(h2f(x[i]) * h2f(y[i]));
  return static_cast<float>(sum);
}

inline __m256 load_f32(const float* p) { return _mm256_loadu_ps(p); }
inline float same_f32(float x) { return x; }

// F32 and BF16 rows: four 8-lane accumulators over steps of 32, an 8-lane tail, then scalar FMAs.
template <typename T, __m256 (*Load)(const T*), float (*ToF32)(T)>
float dot_lanes(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const T*>(w);
  const auto* y = static_cast<const T*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(Load(x + i), Load(y + i), s0);
    s1 = _mm256_fmadd_ps(Load(x + i + 8), Load(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(Load(x + i + 16), Load(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(Load(x + i + 24), Load(y + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(Load(x + i), Load(y + i), s0);
  float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) s = fma1(ToF32(x[i]), ToF32(y[i]), s);
  return s;
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  // (q - 8) * a as q*a - 8*a: two unsigned-by-signed multiplies instead of the sign trick (same
  // integers); one accumulator, in block order, as llama.cpp sums.
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i a8 = load256(y[i].qs);
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles32(x[i].qs), a8), _mm256_maddubs_epi16(eight, a8));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), acc);
  }
  return hsum8(acc);
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    summs = fma1(h2f(x[i].m), h2f(y[i].s), summs);
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    const __m256i p = dot_us8(nibbles32(x[i].qs), load256(y[i].qs));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  return hsum8(acc) + summs;
}

float dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    // q5 - 16 as a signed byte: the nibble with 0xF0 set where the 5th bit is clear.
    const __m256i hi = _mm256_andnot_si256(bits32(x[i].qh), _mm256_set1_epi8(static_cast<char>(0xF0)));
    const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), hi);
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_ss8(qx, load256(y[i].qs))), acc);
  }
  return hsum8(acc);
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    summs = fma1(h2f(x[i].m), h2f(y[i].s), summs);
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    const __m256i hi = _mm256_and_si256(bits32(x[i].qh), _mm256_set1_epi8(0x10));
    const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), hi);
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_us8(qx, load256(y[i].qs))), acc);
  }
  return hsum8(acc) + summs;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_ss8(load256(x[i].qs), load256(y[i].qs))), acc);
  }
  return hsum8(acc);
}

float dot_iq4_nl(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const __m128i v128 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
  const __m256i values = _mm256_set_m128i(v128, v128);
  // As ggml_vec_dot_iq4_nl_q8_0: pairs of blocks into two accumulators, an odd last block in
  // scalar float.
  __m256 acc1 = _mm256_setzero_ps(), acc2 = acc1;
  const int64_t nb = n / 32;
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    const __m256i q1 = _mm256_shuffle_epi8(values, nibbles32(x[i].qs));
    const __m256i q2 = _mm256_shuffle_epi8(values, nibbles32(x[i + 1].qs));
    const __m256i p1 = dot_ss8(q1, load256(y[i].qs));
    const __m256i p2 = dot_ss8(q2, load256(y[i + 1].qs));
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(y[i].d) * h2f(x[i].d)), _mm256_cvtepi32_ps(p1), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(y[i + 1].d) * h2f(x[i + 1].d)), _mm256_cvtepi32_ps(p2), acc2);
  }
  float sumf = hsum8(_mm256_add_ps(acc1, acc2));
  for (; i < nb; ++i) {
    const float d = h2f(y[i].d) * h2f(x[i].d);
    int s1 = 0, s2 = 0;
    for (int j = 0; j < 16; ++j) {
      s1 += y[i].qs[j] * kIQ4NLValues[x[i].qs[j] & 0xF];
      s2 += y[i].qs[j + 16] * kIQ4NLValues[x[i].qs[j] >> 4];
    }
    sumf = fma1(d, static_cast<float>(s1 + s2), sumf);
  }
  return sumf;
}

float dot_q2_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const float dall = y[i].d * h2f(x[i].d);
    const float dmin = -y[i].d * h2f(x[i].dmin);
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const __m128i sc = _mm_and_si128(raw, _mm_set1_epi8(0xF));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF)));
    // The min term goes into the same accumulator first, as ggml's AVX2 kernel does.
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, load256(y[i].bsums))), acc);
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q2 = load256(x[i].qs + 32 * half);
      for (int k = 0; k < 4; ++k, q8 += 32) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), m3);
        const __m256i p = _mm256_maddubs_epi16(q, load256(q8));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair16(sc, 4 * half + k), p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

float dot_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const float d = h2f(x[i].d) * y[i].d;
    const __m128i sc = q3k_scales16(x[i].scales);
    const __m256i hbits = load256(x[i].hmask);
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q2 = load256(x[i].qs + 32 * half);
      for (int k = 0; k < 4; ++k, q8 += 32) {
        const int g = 4 * half + k;
        const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hbits, g), one);
        // (q2 | hbit<<2) - 4 in -4..3: multiply the unsigned part and subtract 4*q8.
        const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), m3),
                                          _mm256_slli_epi16(hb, 2));
        const __m256i a8 = load256(q8);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a8), _mm256_maddubs_epi16(four, a8));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair16(sc, g), p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

template <bool kFive, typename Block>
float dot_q45_k(int64_t n, const Block* x, const BlockQ8_K* y) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  __m128 accm = _mm_setzero_ps();
  float summs = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    prefetch_ahead(x + i, sizeof(Block));
    const float d = y[i].d * h2f(x[i].d);
    const float dmin = -y[i].d * h2f(x[i].dmin);
    const __m256i mins_scales = _mm256_cvtepu8_epi16(k4_scales_mins(x[i].scales));
    const __m256i bs = load256(y[i].bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_scales, 1), q8s);
    // ggml keeps the min term of Q4_K in 4 float lanes and that of Q5_K in one float.
    if constexpr (kFive) summs = fma1(dmin, static_cast<float>(hsum4i(prod)), summs);
    else accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
    const __m128i sc128 = _mm256_castsi256_si128(mins_scales);
    const __m256i scales = _mm256_set_m128i(sc128, sc128);
    __m256i hbits;
    if constexpr (kFive) hbits = load256(x[i].qh);
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c, q8 += 64) {
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
      const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, load256(q8)));
      const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, load256(q8 + 32)));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  if constexpr (kFive) return hsum8(acc) + summs;
  return hsum8(acc) + hsum4(accm);
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
  return dot_q45_k<false>(n, static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a));
}
float dot_q5_k(int64_t n, const void* w, const void* a) {
  return dot_q45_k<true>(n, static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m32 = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    prefetch_ahead(x + i, sizeof(BlockQ6_K));
    const float d = y[i].d * h2f(x[i].d);
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half, q8 += 128) {
      __m256i q[4];
      unpack_q6_k_half(x[i], half, q);
      for (int k = 0; k < 4; ++k) {
        const __m256i a8 = load256(q8 + 32 * k);
        // (q6 - 32) * a as q6*a - 32*a, both within int16 after maddubs.
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], a8), _mm256_maddubs_epi16(m32, a8));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair16(sc, 4 * half + k), p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

// --- activation quantisers, byte-identical with the scalar reference ------------------------

inline float absmax8(__m256 m) {
  __m128 r = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
  r = _mm_max_ps(r, _mm_movehl_ps(r, r));
  r = _mm_max_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// 4 x 8 int32 -> 32 int8 in element order.
inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  const __m256i r = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// llama.cpp's x86 activation quantiser (see to_q8_cpu in vec_dot.cpp): id = 127/amax, round half
// to even.
template <bool kSum>
void q8_32(const float* x, int8_t* qs, uint16_t* d_out, uint16_t* s_out) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 v[4];
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    m = _mm256_max_ps(m, _mm256_and_ps(v[k], abs_mask));
  }
  const float amax = absmax8(m);
  const float d = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  *d_out = fp32_to_fp16(d);
  const __m256 vid = _mm256_set1_ps(id);
  __m256i q[4];
  for (int k = 0; k < 4; ++k)
    q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if constexpr (kSum) {
    const int sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    *s_out = fp32_to_fp16(d * static_cast<float>(sum));
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), pack32(q[0], q[1], q[2], q[3]));
}

void to_q8_0(const float* x, void* yv, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(yv);
  for (int64_t i = 0; i < n / 32; ++i) q8_32<false>(x + 32 * i, y[i].qs, &y[i].d, nullptr);
}

void to_q8_1(const float* x, void* yv, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(yv);
  for (int64_t i = 0; i < n / 32; ++i) q8_32<true>(x + 32 * i, y[i].qs, &y[i].d, &y[i].s);
}

void to_q8_k(const float* x, void* yv, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(yv);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t i = 0; i < n / 256; ++i, x += 256) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 32; ++k) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8 * k), abs_mask));
    const float amax = absmax8(m);
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    float max = 0;  // the first value of largest magnitude, with its sign
    for (int j = 0; j < 256; ++j)
      if (std::fabs(x[j]) == amax) {
        max = x[j];
        break;
      }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    // Round half to even (the default rounding of cvtps2dq) like ggml's nearest_int; clamp at 127.
    const __m256i hi = _mm256_set1_epi32(127);
    for (int k = 0; k < 8; ++k) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_min_epi32(hi, _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * k + 8 * j), vs)));
      const __m256i packed = pack32(q[0], q[1], q[2], q[3]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * k), packed);
      // Sums of each 16: widen to int16 and add pairs down.
      const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(packed));
      const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(packed, 1));
      const __m256i s0 = _mm256_madd_epi16(w0, _mm256_set1_epi16(1));
      const __m256i s1 = _mm256_madd_epi16(w1, _mm256_set1_epi16(1));
      y[i].bsums[2 * k] = static_cast<int16_t>(hsum8i(s0));
      y[i].bsums[2 * k + 1] = static_cast<int16_t>(hsum8i(s1));
    }
    y[i].d = 1 / iscale;
  }
}

void to_f16(const float* x, void* yv, int64_t n) {
  auto* y = static_cast<uint16_t*>(yv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

}  // namespace

VecDotFn vec_dot_avx2(DType weight) {
  switch (weight) {
    case DType::F32: return dot_lanes<float, load_f32, same_f32>;
    case DType::F16: return dot_f16;
    case DType::BF16: return dot_lanes<uint16_t, load_bf16, bf16_to_fp32>;
    case DType::Q4_0: return dot_q4_0;
    case DType::Q4_1: return dot_q4_1;
    case DType::Q5_0: return dot_q5_0;
    case DType::Q5_1: return dot_q5_1;
    case DType::Q8_0: return dot_q8_0;
    case DType::IQ4_NL: return dot_iq4_nl;
    case DType::Q2_K: return dot_q2_k;
    case DType::Q3_K: return dot_q3_k;
    case DType::Q4_K: return dot_q4_k;
    case DType::Q5_K: return dot_q5_k;
    case DType::Q6_K: return dot_q6_k;
    default: return nullptr;
  }
}

FromFloatFn from_float_avx2(DType act) {
  switch (act) {
    case DType::F16: return to_f16;
    case DType::Q8_0: return to_q8_0;
    case DType::Q8_1: return to_q8_1;
    case DType::Q8_K: return to_q8_k;
    default: return nullptr;  // F32 and BF16: the scalar converters are already memory-bound
  }
}

}  // namespace mlxr
