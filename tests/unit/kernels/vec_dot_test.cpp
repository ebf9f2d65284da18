// vec_dot kernels: the scalar reference against a double-precision oracle on dequantised values,
// every AVX2 kernel against the scalar one, and the AVX2 activation quantisers byte for byte
// against the scalar reference quantisers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/kernels/cpu/vec_dot.h"
#include "core/quant/quant.h"
#include "tests/unit/kernels/vec_dot_test_util.h"

namespace mlxr {
namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::IQ4_NL, DType::Q2_K,
                              DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<int64_t> odd_lengths(DType t) {
  const int64_t b = dtype_info(t).block_elems;
  if (b == 1) return {1, 7, 37, 48, 333, 1031, 1040};  // F16: both K % 16 branches
  if (b == 32) return {32, 96, 224, 416, 1056};
  return {256, 768, 1280, 2816};
}

// Exact-ish oracle: dequantised weight · dequantised activation, summed in double. Also returns
// sum |w_i a_i|, the scale of the rounding error of a float accumulation.
// Q8_1 carries s = fp16(d*sum(q)), which the kernels use for the min term of Q4_1/Q5_1: the
// oracle splits those weights into d*q (m zeroed) plus sum of m*s.
double oracle(DType wt, const void* w, DType at, const void* a, int64_t n, double* abs_sum) {
  std::vector<float> wf(n), af(n);
  std::vector<uint8_t> wc(static_cast<const uint8_t*>(w),
                          static_cast<const uint8_t*>(w) + *row_bytes(wt, n));
  double s = 0, as = 0;
  if (wt == DType::Q4_1 || wt == DType::Q5_1) {
    const size_t bb = dtype_info(wt).block_bytes;
    for (int64_t b = 0; b < n / 32; ++b) {
      uint16_t m, sa;
      std::memcpy(&m, wc.data() + b * bb + 2, 2);
      std::memcpy(&sa, static_cast<const uint8_t*>(a) + b * 36 + 2, 2);
      s += double(fp16_to_fp32(m)) * fp16_to_fp32(sa);
      as += std::fabs(double(fp16_to_fp32(m)) * fp16_to_fp32(sa));
      std::memset(wc.data() + b * bb + 2, 0, 2);
    }
  }
  dequantize_row(wt, wc.data(), wf.data(), n);
  dequantize_row(at, a, af.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    s += double(wf[i]) * af[i];
    as += std::fabs(double(wf[i]) * af[i]);
  }
  *abs_sum = as;
  return s;
}

// Relative (to sum |w a|) tolerance of the float accumulation of each kernel.
double tolerance(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: return 2e-6;
    default: return 1e-5;
  }
}

TEST(VecDot, ScalarMatchesOracle) {
  std::mt19937 rng(11);
  for (DType t : kWeightTypes) {
    const DType at = vec_dot_type(t);
    VecDotFn dot = vec_dot_scalar(t);
    ASSERT_NE(dot, nullptr) << dtype_name(t);
    for (int64_t n : odd_lengths(t)) {
      auto w = testing::random_row(t, n, rng);
      auto x = testing::random_activations(n, rng);
      std::vector<uint8_t> a(*row_bytes(at, n));
      ASSERT_TRUE(quantize_row(at, x.data(), a.data(), n));
      double abs_sum;
      const double want = oracle(t, w.data(), at, a.data(), n, &abs_sum);
      const float got = dot(n, w.data(), a.data());
      EXPECT_NEAR(got, want, tolerance(t) * abs_sum + 1e-30)
          << dtype_name(t) << " n=" << n;
    }
  }
}

TEST(VecDot, Avx2MatchesScalar) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2/FMA/F16C";
  std::mt19937 rng(12);
  for (DType t : kWeightTypes) {
    const DType at = vec_dot_type(t);
    VecDotFn ref = vec_dot_scalar(t), fast = vec_dot_avx2(t);
    ASSERT_NE(fast, nullptr) << dtype_name(t);
    EXPECT_EQ(vec_dot_best(t), fast);
    for (int rep = 0; rep < 4; ++rep) {
      for (int64_t n : odd_lengths(t)) {
        auto w = testing::random_row(t, n, rng, rep == 3 ? 3.f : 0.01f);
        auto x = testing::random_activations(n, rng);
        std::vector<uint8_t> a(*row_bytes(at, n));
        ASSERT_TRUE(quantize_row(at, x.data(), a.data(), n));
        double abs_sum;
        oracle(t, w.data(), at, a.data(), n, &abs_sum);
        const float r = ref(n, w.data(), a.data());
        const float f = fast(n, w.data(), a.data());
        EXPECT_NEAR(f, r, 2 * tolerance(t) * abs_sum + 1e-30) << dtype_name(t) << " n=" << n;
      }
    }
  }
}

// Activations at the edges of the int8 range (every quant ±127) with weights at the edges of
// theirs: the AVX2 kernels' 16-bit intermediate sums must not saturate.
TEST(VecDot, Avx2ExtremeValues) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2/FMA/F16C";
  std::mt19937 rng(13);
  for (DType t : kWeightTypes) {
    const DType at = vec_dot_type(t);
    const int64_t n = dtype_info(t).block_elems == 256 ? 512 : 64;
    for (uint8_t fill : {0x00, 0xFF, 0x88, 0x77}) {
      auto w = testing::random_row(t, n, rng);
      if (dtype_info(t).quantized) {
        auto d = testing::random_row(t, n, rng);  // keep random scales, saturate the quants
        const auto fields = testing::fp16_fields(t);
        const size_t bb = dtype_info(t).block_bytes;
        for (size_t i = 0; i < w.size(); ++i) {
          bool scale_byte = false;
          for (int off : fields) scale_byte |= (i % bb) == size_t(off) || (i % bb) == size_t(off + 1);
          // Q6_K/Q2_K/Q3_K/Q4_K scales are quants of their own: saturate them too.
          if (!scale_byte) w[i] = fill;
        }
      }
      std::vector<float> x(n);
      for (int64_t i = 0; i < n; ++i) x[i] = (i % 2 ? 1.f : -1.f) * (fill & 1 ? 1.f : -1.f);
      std::vector<uint8_t> a(*row_bytes(at, n));
      ASSERT_TRUE(quantize_row(at, x.data(), a.data(), n));
      double abs_sum;
      const double want = oracle(t, w.data(), at, a.data(), n, &abs_sum);
      const float f = vec_dot_avx2(t)(n, w.data(), a.data());
      EXPECT_NEAR(f, want, 2 * tolerance(t) * abs_sum + 1e-30)
          << dtype_name(t) << " fill=" << int(fill);
    }
  }
}

TEST(VecDot, Avx2ActivationConvertersMatchScalarBytes) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2/FMA/F16C";
  std::mt19937 rng(14);
  for (DType at : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q8_1, DType::Q8_K}) {
    for (int rep = 0; rep < 20; ++rep) {
      const int64_t n = 256 * (1 + rep % 3);
      auto x = testing::random_activations(n, rng);
      if (rep == 1) std::fill(x.begin(), x.begin() + 256, 0.f);  // an all-zero block
      if (rep == 2)  // ties: multiples of a half step
        for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int>(i % 255) - 127) * 0.5f;
      if (rep == 3)  // the largest magnitude appears with both signs
        for (int64_t i = 0; i < n; ++i) x[i] = (i % 3 == 0) ? 4.f : (i % 3 == 1 ? -4.f : 1.f);
      std::vector<uint8_t> want(*row_bytes(at, n)), got(want.size(), 0xCD);
      from_float_scalar(at)(x.data(), want.data(), n);
      from_float_best(at)(x.data(), got.data(), n);
      ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size())) << dtype_name(at) << " rep " << rep;
    }
  }
}

// Each of the tile's rm x rn pairs equals the single-row AVX2 kernel bit for bit.
void expect_tile_matches_dots(DType t, const VecDotTile& tile, std::mt19937& rng) {
  const DType at = vec_dot_type(t);
  for (int64_t n : odd_lengths(t)) {
    if (t == DType::F16 && n % 16 != 0) continue;  // matmul uses the F16 tile only then
    const size_t wrow = *row_bytes(t, n), arow = tile_act_row_bytes(at, n) + 8;  // padded stride
    std::vector<uint8_t> w, a(arow * tile.rn);
    for (int m = 0; m < tile.rm; ++m) {
      auto row = testing::random_row(t, n, rng);
      w.insert(w.end(), row.begin(), row.end());
    }
    for (int r = 0; r < tile.rn; ++r) {
      auto x = testing::random_activations(n, rng);
      ASSERT_TRUE(quantize_row(at, x.data(), a.data() + r * arow, n));
      tile_act_finish(at, a.data() + r * arow, n);
    }
    const size_t ys = 5;
    std::vector<float> y(ys * tile.rn, NAN);
    if (tile.grouped) {  // the rows interleaved, at an offset that is not a multiple of 32
      std::vector<uint8_t> g(tile_act_group_bytes(t, n, tile.rn) + 4);
      tile_act_group(t, n, a.data(), arow, tile.rn, g.data() + 4);
      tile.fn(n, w.data(), wrow, g.data() + 4, 0, y.data(), ys);
    } else {
      tile.fn(n, w.data(), wrow, a.data(), arow, y.data(), ys);
    }
    for (int m = 0; m < tile.rm; ++m)
      for (int r = 0; r < tile.rn; ++r) {
        double abs_sum;
        oracle(t, w.data() + m * wrow, at, a.data() + r * arow, n, &abs_sum);
        const float want = vec_dot_scalar(t)(n, w.data() + m * wrow, a.data() + r * arow);
        EXPECT_NEAR(y[r * ys + m], want, 2 * tolerance(t) * abs_sum + 1e-30)
            << dtype_name(t) << " n=" << n << " m=" << m << " r=" << r;
        // Bitwise: a tile sums in its single-row kernel's order, so a row's result does not
        // depend on how many rows share the matmul (batched equals unbatched).
        EXPECT_EQ(y[r * ys + m], vec_dot_avx2(t)(n, w.data() + m * wrow, a.data() + r * arow))
            << dtype_name(t) << " n=" << n;
      }
  }
}

// Every prefill tile: a row's result does not depend on how many rows share the matmul.
TEST(VecDot, TilesMatchSingleDots) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2/FMA/F16C";
  std::mt19937 rng(15);
  int tiles = 0;
  for (DType t : kWeightTypes) {
    const VecDotTile tile = vec_dot_tile_best(t);
    if (!tile.fn) continue;
    ++tiles;
    expect_tile_matches_dots(t, tile, rng);
  }
  EXPECT_EQ(tiles, 14);  // every weight type with a vec_dot has a tile
}

// The decode kernels over a finished activation row (lengths cover their 8-block steps and tails).
TEST(VecDot, GemvMatchesSingleDots) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "CPU without AVX2/FMA/F16C";
  std::mt19937 rng(17);
  int kernels = 0;
  for (DType t : kWeightTypes) {
    const VecDotTile gemv = vec_dot_gemv_best(t);
    if (!gemv.fn) continue;
    ++kernels;
    EXPECT_EQ(gemv.rn, 1);
    EXPECT_FALSE(gemv.grouped);
    for (int rep = 0; rep < 3; ++rep) expect_tile_matches_dots(t, gemv, rng);
  }
  EXPECT_EQ(kernels, 2);  // Q4_0 and Q8_0
}

// Activations are rounded as llama.cpp's x86 CPU backend rounds them (id = 127/amax, half to
// even), not as the file quantiser quantize_row (id = 1/d, half away from zero).
TEST(VecDot, ActivationRoundingFollowsLlamaCppCpu) {
  std::vector<float> x(32, 0.f);
  x[0] = 127.f;  // amax 127: id = 1, d = 1
  x[1] = 0.5f;
  x[2] = 1.5f;
  x[3] = 2.5f;
  x[4] = -2.5f;
  for (auto conv : {from_float_scalar(DType::Q8_0), from_float_best(DType::Q8_0)}) {
    std::vector<uint8_t> q(34);
    conv(x.data(), q.data(), 32);
    const auto* qs = reinterpret_cast<const int8_t*>(q.data() + 2);
    EXPECT_EQ(qs[0], 127);
    EXPECT_EQ(qs[1], 0);
    EXPECT_EQ(qs[2], 2);
    EXPECT_EQ(qs[3], 2);
    EXPECT_EQ(qs[4], -2);
  }
  std::vector<uint8_t> ref(34);
  ASSERT_TRUE(quantize_row(DType::Q8_0, x.data(), ref.data(), 32));
  EXPECT_EQ(static_cast<int8_t>(ref[2 + 1]), 1);  // ggml's _ref: roundf(0.5) = 1
  EXPECT_EQ(static_cast<int8_t>(ref[2 + 3]), 3);
}

TEST(VecDot, TypesWithoutKernel) {
  EXPECT_EQ(vec_dot_scalar(DType::Q8_K), nullptr);
  EXPECT_EQ(vec_dot_best(DType::I32), nullptr);
  EXPECT_EQ(from_float_scalar(DType::Q4_0), nullptr);
}

}  // namespace
}  // namespace mlxr
