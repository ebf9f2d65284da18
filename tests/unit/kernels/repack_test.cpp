// Q4_0 weights repacked at upload (core/kernels/cpu/repack.h) give bit-identical results to the
// same weights in rows: decode (one activation row, straight from the x8 layout), prefill (groups
// unpacked back to rows, tiles and leftovers), and get_rows; the layout round-trips exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cpu/matmul.h"
#include "core/kernels/cpu/repack.h"
#include "core/quant/quant.h"

namespace mlxr {
namespace {

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct Weight {
  std::vector<uint8_t> bytes;
  TensorView view;
  Weight(int64_t k, int64_t n, std::mt19937& rng) {
    const size_t rb = *row_bytes(DType::Q4_0, static_cast<uint64_t>(k));
    bytes.resize(rb * n);
    for (int64_t r = 0; r < n; ++r) {
      auto v = random_floats(static_cast<size_t>(k), rng);
      EXPECT_TRUE(quantize_row(DType::Q4_0, v.data(), bytes.data() + r * rb, k).is_ok());
    }
    view.name = "w";
    view.type = DType::Q4_0;
    view.n_dims = 2;
    view.ne = {k, n, 1, 1};
    view.data = bytes.data();
    view.nbytes = bytes.size();
  }
};

TEST(Repack, RoundTripsExactly) {
  std::mt19937 rng(1);
  Weight w(160, 8, rng);
  std::vector<BlockQ4_0x8> packed(160 / 32);
  repack_q4_0x8(w.bytes.data(), w.view.row_size(), 160, packed.data());
  std::vector<uint8_t> rows(w.bytes.size());
  unpack_q4_0x8(packed.data(), 160, rows.data());
  EXPECT_EQ(rows, w.bytes);
  for (int r = 0; r < 8; ++r) {
    std::vector<float> a(160), b(160);
    dequantize_row(DType::Q4_0, w.bytes.data() + r * w.view.row_size(), a.data(), 160);
    dequantize_q4_0x8_row(packed.data(), 160, r, b.data());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << "row " << r;
  }
}

TEST(Repack, UploadedQ4_0EqualsRowsBitForBit) {
  if (!gemv_q4_0x8_best()) GTEST_SKIP() << "no AVX2: Q4_0 stays in rows";
  std::mt19937 rng(2);
  CpuBackend be(2);
  for (int64_t k : {96, 2048}) {
    Weight w(k, 72, rng);
    auto up = be.upload(w.view);
    ASSERT_TRUE(up) << up.error();
    ASSERT_EQ(up->layout, TensorView::Layout::kQ4_0x8);
    ASSERT_NE(up->data, w.view.data);
    ThreadPool pool(2);
    MatmulScratch scratch;
    for (int rows : {1, 3, 8, 13, 70}) {
      auto x = random_floats(static_cast<size_t>(rows) * k, rng);
      std::vector<float> want(static_cast<size_t>(rows) * 72), got(want.size());
      matmul(w.view, x.data(), rows, want.data(), pool, scratch);
      be.matmul(*up, x.data(), rows, got.data());
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * 4)) << "K=" << k << " rows=" << rows;
    }
    // get_rows through a batch of token ids.
    KVLayout kv{1, 4, 16, 1, 32, DType::F32};
    ASSERT_TRUE(be.init_kv(kv).is_ok());
    Batch b;
    b.block_tables.push_back({0});
    for (int32_t id : {0, 7, 8, 71, 33}) {
      b.tokens.push_back(id);
      b.positions.push_back(0);
      b.seq_of.push_back(0);
    }
    b.seq_lens.push_back(1);
    ASSERT_TRUE(be.set_batch(b).is_ok());
    std::vector<float> got(5 * static_cast<size_t>(k)), want(got.size());
    be.get_rows(*up, got.data());
    for (int t = 0; t < 5; ++t)
      dequantize_row(DType::Q4_0, w.bytes.data() + b.tokens[t] * w.view.row_size(), want.data() + t * k, k);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * 4)) << "K=" << k;
  }
}

TEST(Repack, OnlyWholeGroupsOfEightRowsAreRepacked) {
  std::mt19937 rng(3);
  CpuBackend be(1);
  Weight w(64, 12, rng);
  auto up = be.upload(w.view);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->layout, TensorView::Layout::kRows);
  EXPECT_EQ(up->data, w.view.data);
}

}  // namespace
}  // namespace mlxr
