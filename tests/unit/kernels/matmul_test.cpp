// matmul against matmul_reference for every weight type, odd shapes, 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/kernels/cpu/matmul.h"
#include "core/quant/quant.h"
#include "tests/unit/kernels/vec_dot_test_util.h"

namespace mlxr {
namespace {

TensorView make_view(DType t, int64_t k, int64_t n, const std::vector<uint8_t>& data) {
  TensorView v;
  v.name = "w";
  v.type = t;
  v.n_dims = 2;
  v.ne = {k, n, 1, 1};
  v.data = data.data();
  v.nbytes = data.size();
  return v;
}

void check(DType t, int64_t k, int64_t n, int rows, ThreadPool& pool, MatmulScratch& scratch,
           std::mt19937& rng) {
  auto w = testing::random_row(t, k * n, rng);
  auto x = testing::random_activations(k * rows, rng);
  const TensorView v = make_view(t, k, n, w);
  std::vector<float> y(static_cast<size_t>(rows * n), NAN), want(y.size());
  matmul(v, x.data(), rows, y.data(), pool, scratch);
  matmul_reference(v, x.data(), rows, want.data());
  // Scale of the float rounding: sum over k of |w| |x| for each output, via a second reference
  // run on absolute values would need dequantised |w|; bound it with max|w| * sum|x| instead.
  std::vector<float> wf(static_cast<size_t>(k * n));
  dequantize_row(t, w.data(), wf.data(), k * n);
  for (int r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < n; ++o) {
      double abs_sum = 0;
      for (int64_t i = 0; i < k; ++i) abs_sum += std::fabs(double(wf[o * k + i]) * x[r * k + i]);
      // 1e-5 covers float accumulation; the activation conversion is identical in both.
      ASSERT_NEAR(y[r * n + o], want[r * n + o], 1e-5 * abs_sum + 1e-30)
          << dtype_name(t) << " k=" << k << " n=" << n << " rows=" << rows << " r=" << r
          << " o=" << o << " threads=" << pool.size();
    }
  }
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, EqualsReference) {
  const DType t = GetParam();
  ASSERT_TRUE(matmul_supported(t));
  std::mt19937 rng(static_cast<unsigned>(t) + 100);
  const int64_t k = dtype_info(t).block_elems == 256 ? 768 : 224;
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;  // reused across shapes, as the backend does
    for (int rows : {1, 3, 17, 70})
      for (int64_t n : {1, 7, 33}) check(t, k, n, rows, pool, scratch, rng);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, MatmulTest,
    ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                      DType::Q5_1, DType::Q8_0, DType::IQ4_NL, DType::Q2_K, DType::Q3_K,
                      DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K),
    [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

TEST(Matmul, LargerKAndRowsSpanningTiles) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  MatmulScratch scratch;
  check(DType::Q4_K, 2048, 45, 131, pool, scratch, rng);
  check(DType::Q8_0, 1024, 45, 131, pool, scratch, rng);
  // Decode shapes large enough to be split across both threads (small ones stay on the caller).
  for (DType t : {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::Q8_K})
    check(t, 4096, 37, 1, pool, scratch, rng);
}

// A row's output does not depend on the other rows in the call: prefill tiles and the decode
// kernel sum in the same order.
TEST(Matmul, BatchedRowsEqualSingleRows) {
  std::mt19937 rng(9);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                  DType::Q5_1, DType::Q8_0, DType::IQ4_NL, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K}) {
    // 13 blocks: the decode kernels' 8-block steps and a tail; 19 rows: two groups of 8 and 3 more.
    const int64_t k = dtype_info(t).block_elems == 256 ? 768 : 416, n = 19;
    const int rows = 19;
    auto w = testing::random_row(t, k * n, rng);
    auto x = testing::random_activations(k * rows, rng);
    const TensorView v = make_view(t, k, n, w);
    std::vector<float> batched(static_cast<size_t>(rows * n)), single(static_cast<size_t>(n));
    matmul(v, x.data(), rows, batched.data(), pool, scratch);
    for (int r = 0; r < rows; ++r) {
      matmul(v, x.data() + r * k, 1, single.data(), pool, scratch);
      for (int64_t o = 0; o < n; ++o)
        ASSERT_EQ(batched[r * n + o], single[o]) << dtype_name(t) << " r=" << r << " o=" << o;
    }
  }
}

TEST(Matmul, SupportedTypes) {
  EXPECT_TRUE(matmul_supported(DType::Q6_K));
  EXPECT_FALSE(matmul_supported(DType::I32));
}

}  // namespace
}  // namespace mlxr
