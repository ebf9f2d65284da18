// The decode kernel over repacked Q4_0 (repack.h). Per row it forms dot_q4_0's int32 lanes (q*a
// minus the activation's 8*a pair sums, from the finished row) and adds them with one FMA per
// block in block order, as dot_q4_0 does; the 8 rows are 8 independent chains.
#include <immintrin.h>

#include "core/kernels/cpu/repack.h"
#include "core/kernels/cpu/vec_dot.h"
#include "core/kernels/cpu/vec_dot_avx2_impl.h"

namespace mlxr {
namespace {

using namespace avx2;

void gemv_q4_0x8(int64_t n, const BlockQ4_0x8* x, const uint8_t* a, float* y) {
  const auto* q8 = reinterpret_cast<const BlockQ8_0*>(a);
  const auto* da = reinterpret_cast<const float*>(a + q8_0_extra_offset(n));
  const uint8_t* m8 = a + q8_0_m8_offset(n);
  const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
  __m256 acc[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
  alignas(32) float ds[8];
  for (int64_t i = 0; i < n / 32; ++i) {
    prefetch_ahead(x + i, sizeof(BlockQ4_0x8));
    // The 8 rows' scale products in one multiply; each row broadcasts its own from memory.
    const __m128i d16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].d));
    _mm256_store_ps(ds, _mm256_mul_ps(_mm256_cvtph_ps(d16), _mm256_broadcast_ss(da + i)));
    const __m256i a8 = load256(q8[i].qs), m8v = load256(m8 + 32 * i);
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
      const __m256i l = load256(x[i].qs[p]);
      const __m256i q0 = _mm256_and_si256(l, m4), q1 = _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
      const __m256i s0 = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q0, a8), m8v), ones);
      const __m256i s1 = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q1, a8), m8v), ones);
      acc[2 * p] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + 2 * p), _mm256_cvtepi32_ps(s0), acc[2 * p]);
      acc[2 * p + 1] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + 2 * p + 1), _mm256_cvtepi32_ps(s1), acc[2 * p + 1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) y[r] = hsum8(acc[r]);
}

}  // namespace

GemvQ4_0x8Fn gemv_q4_0x8_avx2() { return gemv_q4_0x8; }

}  // namespace mlxr
