// cpu::top_k_rows (the reference of Backend::top_k_rows) against a stable sort of the whole row:
// values bit for bit, indices equal (ties by ascending index, NaN as -inf, -0 equal to +0), and
// the log-sum-exp against a long double sum. CpuBackend's threaded path gives the same bits.
#include <gtest/gtest.h>

#include <cstring>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/topk.h"
#include "tests/support/logit_rows.h"

namespace mlxr {
namespace {

using testing::RowKind;

using Out = testing::TopKRows;

Out run_cpu(const std::vector<float>& x, int rows, int n, int k) {
  Out o(rows, k);
  cpu::top_k_rows(x.data(), rows, n, k, o.vals.data(), o.idx.data(), o.lse.data());
  return o;
}

void expect_matches_oracle(const std::vector<float>& x, int rows, int n, int k, const Out& o, const char* what) {
  for (int r = 0; r < rows; ++r) {
    const testing::TopK want = testing::naive_top_k(x.data() + static_cast<size_t>(r) * n, n, k);
    const float* got_v = o.vals.data() + static_cast<size_t>(r) * k;
    const int32_t* got_i = o.idx.data() + static_cast<size_t>(r) * k;
    ASSERT_EQ(0, std::memcmp(got_v, want.vals.data(), k * sizeof(float))) << what << " row " << r << " k " << k;
    ASSERT_EQ(0, std::memcmp(got_i, want.idx.data(), k * sizeof(int32_t))) << what << " row " << r << " k " << k;
    if (std::isinf(want.lse)) {
      EXPECT_EQ(o.lse[r], static_cast<float>(want.lse)) << what << " row " << r;
    } else {
      EXPECT_NEAR(o.lse[r], want.lse, 1e-6 * std::max(1.0, std::fabs(want.lse))) << what << " row " << r;
    }
  }
}

TEST(TopK, EqualsAStableSortOfTheRow) {
  const struct {
    RowKind kind;
    const char* name;
  } kinds[] = {{RowKind::kNormal, "normal"},
               {RowKind::kTies, "ties"},
               {RowKind::kMostlyMasked, "masked"},
               {RowKind::kConstant, "constant"},
               {RowKind::kSignedZeros, "signed zeros"}};
  uint32_t seed = 1;
  for (const auto& kind : kinds) {
    for (int n : {1, 7, 1000, 32001}) {
      for (int k : {1, 40, 100, 1024}) {
        if (k > n) continue;
        const int rows = 3;
        const auto x = testing::logit_rows(rows, n, kind.kind, seed++);
        expect_matches_oracle(x, rows, n, k, run_cpu(x, rows, n, k), kind.name);
      }
    }
  }
}

TEST(TopK, WholeRowAndInfinities) {
  // k == n is a full sort; +inf anywhere makes the log-sum-exp +inf.
  std::vector<float> x = {0.5f, -INFINITY, 2.0f, NAN, 2.0f, INFINITY, -1.0f, -0.0f, 0.0f};
  const int n = static_cast<int>(x.size());
  Out o = run_cpu(x, 1, n, n);
  expect_matches_oracle(x, 1, n, n, o, "inf row");
  EXPECT_EQ(o.idx[0], 5);
  EXPECT_EQ(o.idx[1], 2);  // 2.0 at index 2 before 2.0 at index 4
  EXPECT_EQ(o.idx[n - 2], 1);  // -inf at 1 before NaN (as -inf) at 3
  EXPECT_EQ(o.vals[n - 1], -INFINITY);
  EXPECT_EQ(o.lse[0], INFINITY);
  const std::vector<float> masked = {-INFINITY, NAN, -INFINITY};
  o = run_cpu(masked, 1, 3, 2);
  EXPECT_EQ(o.idx, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(o.lse[0], -INFINITY);
}

TEST(TopK, BackendSplitsRowsOverThreadsWithTheSameBits) {
  const int rows = 13, n = 5003, k = 64;
  const auto x = testing::logit_rows(rows, n, RowKind::kTies, 99);
  const Out want = run_cpu(x, rows, n, k);
  CpuBackend be(4);
  Out got(rows, k);
  be.top_k_rows(x.data(), rows, n, k, got.vals.data(), got.idx.data(), got.lse.data());
  EXPECT_EQ(0, std::memcmp(got.vals.data(), want.vals.data(), want.vals.size() * sizeof(float)));
  EXPECT_EQ(got.idx, want.idx);
  EXPECT_EQ(0, std::memcmp(got.lse.data(), want.lse.data(), want.lse.size() * sizeof(float)));
  // Without lse (no logprobs wanted): the same candidates, and no sum is written anywhere.
  Out bare(rows, k);
  be.top_k_rows(x.data(), rows, n, k, bare.vals.data(), bare.idx.data(), nullptr);
  EXPECT_EQ(0, std::memcmp(bare.vals.data(), want.vals.data(), want.vals.size() * sizeof(float)));
  EXPECT_EQ(bare.idx, want.idx);
}

}  // namespace
}  // namespace mlxr
