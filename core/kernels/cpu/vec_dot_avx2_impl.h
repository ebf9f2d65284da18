// Shared AVX2 helpers of vec_dot_avx2.cpp and vec_dot_tile_avx2.cpp. Include only from files
// compiled with -mavx2 -mfma -mf16c (named *_avx2.cpp).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/kernels/cpu/vec_dot.h"
#include "core/quant/blocks.h"

namespace mlxr::avx2 {

// The tiles over grouped activation rows (vec_dot_prepared_avx2.cpp); none for other types.
VecDotTile grouped_tile(DType weight);

// fp16 -> fp32 with the F16C instruction (exact, like the scalar conversion, but one instruction).
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// c + a*b with one rounding, written out so that every kernel and its tile agree (a plain
// expression may or may not be contracted to an FMA by the compiler).
inline float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

inline float hsum4(__m128 x) {
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

inline int hsum4i(__m128i r) {
  r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
  r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
  return _mm_cvtsi128_si32(r);
}

inline int hsum8i(__m256i x) {
  __m128i r = _mm_add_epi32(_mm256_extracti128_si256(x, 1), _mm256_castsi256_si128(x));
  r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
  r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
  return _mm_cvtsi128_si32(r);
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high nibbles (16..31).
inline __m256i nibbles32(const uint8_t* p) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
  return _mm256_and_si256(b, _mm256_set1_epi8(0xF));
}

// 32 bits -> 32 bytes, 0xFF where the bit is set.
inline __m256i bits32(const uint8_t* p) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                         0x0101010101010101, 0x0000000000000000);
  __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x)), shuf);
  b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

// Sum of products of unsigned bytes ux with signed bytes sy, as 8 int32 lanes.
inline __m256i dot_us8(__m256i ux, __m256i sy) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1));
}
// Same for two signed byte vectors.
inline __m256i dot_ss8(__m256i x, __m256i y) {
  return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Decode streams each weight row once from DRAM; asking for the lines kPrefetchAhead bytes ahead
// (into the next rows at a row's end) was measured ~15% faster with two threads than leaving it
// to the hardware prefetcher. A prefetch never faults, so running past the tensor is harmless.
constexpr int kPrefetchAhead = 2048;
// Prefetches the lines of [p, p + bytes) shifted kPrefetchAhead ahead.
inline void prefetch_ahead(const void* p, int bytes) {
  const char* c = static_cast<const char*>(p) + kPrefetchAhead;
  for (int l = 0; l < bytes; l += 64) _mm_prefetch(c + l, _MM_HINT_T0);
}


inline __m256 load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_bf16(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

// F16 weights follow llama.cpp's AVX-512 build (the machine the shared golden outputs came from):
// 16-lane accumulators, emulated here as (lo, hi) pairs of 8 lanes, and its reduction order.
// Sum of a 16-lane vector as GCC's _mm512_reduce_add_ps pairs it.
inline float reduce16(__m256 lo, __m256 hi) {
  const __m256 t3 = _mm256_add_ps(hi, lo);
  const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
  const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_cvtss_f32(_mm_add_ss(t8, _mm_movehdup_ps(t8)));
}

// 16 int16 lanes: scale byte 2k in lanes 0..7 and byte 2k+1 in lanes 8..15 (signed), for
// K-quants whose sub-blocks are 16 elements long (one 32-element vector spans two).
inline __m256i scale_pair16(__m128i sc8, int k) {
  const char lo = static_cast<char>(2 * k), hi = static_cast<char>(2 * k + 1);
  const __m128i sh = _mm_set_epi8(hi, hi, hi, hi, hi, hi, hi, hi, lo, lo, lo, lo, lo, lo, lo, lo);
  return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, sh));
}

// Q4_K/Q5_K scales: 8 6-bit scales (bytes 0..7) and 8 mins (bytes 8..15).
inline __m128i k4_scales_mins(const uint8_t* s) {
  uint32_t u[4];
  std::memcpy(u, s, 12);
  const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
  u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
  const uint32_t mins_lo = u[1] & m1;
  u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
  u[2] = mins_lo;
  u[0] &= m1;
  return _mm_set_epi32(static_cast<int>(u[3]), static_cast<int>(u[2]), static_cast<int>(u[1]),
                       static_cast<int>(u[0]));
}

// Q3_K scales: the 16 6-bit scales minus 32, as signed bytes.
inline __m128i q3k_scales16(const uint8_t* s) {
  uint32_t a[4];
  std::memcpy(a, s, 12);
  const uint32_t m1 = 0x03030303, m2 = 0x0f0f0f0f;
  const uint32_t t = a[2];
  a[2] = ((a[0] >> 4) & m2) | (((t >> 4) & m1) << 4);
  a[3] = ((a[1] >> 4) & m2) | (((t >> 6) & m1) << 4);
  a[0] = (a[0] & m2) | (((t >> 0) & m1) << 4);
  a[1] = (a[1] & m2) | (((t >> 2) & m1) << 4);
  return _mm_sub_epi8(_mm_set_epi32(static_cast<int>(a[3]), static_cast<int>(a[2]),
                                    static_cast<int>(a[1]), static_cast<int>(a[0])),
                      _mm_set1_epi8(32));
}

// One 128-element half of a Q6_K block as four vectors of 32 unsigned 6-bit quants (0..63),
// low nibbles from ql, top two bits from qh.
inline void unpack_q6_k_half(const BlockQ6_K& b, int half, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3);
  const __m256i l1 = load256(b.ql + 64 * half);
  const __m256i l2 = load256(b.ql + 64 * half + 32);
  const __m256i hb = load256(b.qh + 32 * half);
  q[0] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(l2, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
}

}  // namespace mlxr::avx2
