// Quantisers against ggml: the legacy types must reproduce ggml's bytes for the shared input; the
// K-quants must reach ggml's accuracy (their scale search may round differently in rare cases).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/formats/gguf.h"
#include "core/quant/quant.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

constexpr const char* kBlocks = "quant-blocks/quant-blocks-ggml.gguf";

double rmse(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s / static_cast<double>(n));
}

struct Shared {
  std::shared_ptr<GgufFile> file;
  const float* input = nullptr;
  int64_t ne0 = 0, rows = 0;
};

Shared load() {
  Shared s;
  auto f = GgufFile::open(testing::data_path(kBlocks));
  EXPECT_TRUE(f.has_value());
  if (!f) return s;
  s.file = *f;
  const TensorView* in = s.file->tensor("input");
  EXPECT_NE(in, nullptr);
  if (!in) return s;
  s.input = static_cast<const float*>(in->data);
  s.ne0 = in->ne[0];
  s.rows = in->ne[1];
  return s;
}

class QuantizeVsGgml : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeVsGgml, BytesEqualGgml) {
  MLXR_REQUIRE_DATA(kBlocks);
  Shared s = load();
  ASSERT_TRUE(s.input);
  const std::string name = GetParam();
  const TensorView* q = s.file->tensor("q." + name);
  ASSERT_NE(q, nullptr);
  std::vector<uint8_t> out(q->nbytes, 0xAB);
  for (int64_t r = 0; r < s.rows; ++r)
    ASSERT_TRUE(quantize_row(q->type, s.input + r * s.ne0, out.data() + r * q->row_size(), s.ne0));
  const auto* want = static_cast<const uint8_t*>(q->data);
  for (size_t i = 0; i < q->nbytes; ++i)
    ASSERT_EQ(out[i], want[i]) << name << " byte " << i << " (row " << i / q->row_size() << ")";
}

INSTANTIATE_TEST_SUITE_P(Legacy, QuantizeVsGgml,
                         ::testing::Values("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "f16", "bf16"));

class KQuantVsGgml : public ::testing::TestWithParam<const char*> {};

TEST_P(KQuantVsGgml, ErrorAtMostGgmls) {
  MLXR_REQUIRE_DATA(kBlocks);
  Shared s = load();
  ASSERT_TRUE(s.input);
  const std::string name = GetParam();
  const TensorView* q = s.file->tensor("q." + name);
  const TensorView* dq = s.file->tensor("dq." + name);
  ASSERT_TRUE(q && dq);
  std::vector<uint8_t> out(q->nbytes);
  std::vector<float> back(static_cast<size_t>(s.ne0));
  size_t same_bytes = 0;
  for (int64_t r = 0; r < s.rows; ++r) {
    uint8_t* row = out.data() + r * q->row_size();
    ASSERT_TRUE(quantize_row(q->type, s.input + r * s.ne0, row, s.ne0));
    dequantize_row(q->type, row, back.data(), s.ne0);
    const float* x = s.input + r * s.ne0;
    const double ours = rmse(back.data(), x, s.ne0);
    const double ggml = rmse(static_cast<const float*>(dq->data) + r * s.ne0, x, s.ne0);
    EXPECT_LE(ours, ggml * 1.0001 + 1e-12) << name << " row " << r;
  }
  for (size_t i = 0; i < q->nbytes; ++i) same_bytes += out[i] == static_cast<const uint8_t*>(q->data)[i];
  // The same algorithm in the same float order: expect (nearly) all bytes to agree.
  EXPECT_GE(static_cast<double>(same_bytes), 0.99 * static_cast<double>(q->nbytes)) << name;
  if (same_bytes != q->nbytes)
    std::printf("[ info ] %s: %zu of %zu bytes equal ggml's\n", name.c_str(), same_bytes, q->nbytes);
}

INSTANTIATE_TEST_SUITE_P(KQuants, KQuantVsGgml,
                         ::testing::Values("q2_k", "q3_k", "q4_k", "q5_k", "q6_k"));

// Round trip on random data: the error of each type stays within its precision.
TEST(Quantize, RoundTripErrorBounded) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t n = 512;
  std::vector<float> x(n), back(n);
  for (auto& v : x) v = nd(rng);
  struct Case { DType t; double max_rel_rmse; };
  const Case cases[] = {{DType::F16, 1e-3}, {DType::BF16, 5e-3}, {DType::Q8_0, 0.01},
                        {DType::Q8_1, 0.01}, {DType::Q8_K, 0.01},  {DType::Q6_K, 0.03},
                        {DType::Q5_0, 0.06}, {DType::Q5_1, 0.06}, {DType::Q5_K, 0.05},
                        {DType::Q4_0, 0.12}, {DType::Q4_1, 0.12}, {DType::Q4_K, 0.1},
                        {DType::Q3_K, 0.2},  {DType::Q2_K, 0.4}};
  for (const Case& c : cases) {
    std::vector<uint8_t> buf(*row_bytes(c.t, n));
    ASSERT_TRUE(quantize_row(c.t, x.data(), buf.data(), n)) << dtype_name(c.t);
    dequantize_row(c.t, buf.data(), back.data(), n);
    EXPECT_LE(rmse(back.data(), x.data(), n), c.max_rel_rmse) << dtype_name(c.t);
  }
}

TEST(Quantize, AllZeroBlocksStayZero) {
  const int64_t n = 256;
  std::vector<float> x(n, 0.f), back(n, 1.f);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q8_1,
                  DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    std::vector<uint8_t> buf(*row_bytes(t, n), 0xCD);
    ASSERT_TRUE(quantize_row(t, x.data(), buf.data(), n));
    dequantize_row(t, buf.data(), back.data(), n);
    for (float v : back) ASSERT_EQ(v, 0.f) << dtype_name(t);
  }
}

TEST(Quantize, Q8KPartialSums) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> ud(-3.f, 3.f);
  std::vector<float> x(512);
  for (auto& v : x) v = ud(rng);
  std::vector<uint8_t> buf(*row_bytes(DType::Q8_K, 512));
  ASSERT_TRUE(quantize_row(DType::Q8_K, x.data(), buf.data(), 512));
  for (int b = 0; b < 2; ++b) {
    const uint8_t* blk = buf.data() + 292 * b;
    const auto* qs = reinterpret_cast<const int8_t*>(blk + 4);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += qs[16 * g + i];
      int16_t bs;
      std::memcpy(&bs, blk + 4 + 256 + 2 * g, 2);
      EXPECT_EQ(bs, sum);
    }
  }
}

TEST(Quantize, Errors) {
  std::vector<float> x(64, 1.f);
  std::vector<uint8_t> buf(1024);
  Status s = quantize_row(DType::Q4_K, x.data(), buf.data(), 64);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("256"), std::string::npos) << s.message();
  s = quantize_row(DType::IQ4_NL, x.data(), buf.data(), 64);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("IQ4_NL"), std::string::npos) << s.message();
  EXPECT_FALSE(quantize_row(DType::I32, x.data(), buf.data(), 64));
  EXPECT_FALSE(quantize_row(DType::Q8_0, x.data(), buf.data(), 31));
  EXPECT_FALSE(can_quantize(DType::IQ4_NL));
  EXPECT_TRUE(can_quantize(DType::Q6_K));
}

TEST(Quantize, VecDotTypes) {
  EXPECT_EQ(vec_dot_type(DType::Q4_0), DType::Q8_0);
  EXPECT_EQ(vec_dot_type(DType::Q5_0), DType::Q8_0);
  EXPECT_EQ(vec_dot_type(DType::Q8_0), DType::Q8_0);
  EXPECT_EQ(vec_dot_type(DType::IQ4_NL), DType::Q8_0);
  EXPECT_EQ(vec_dot_type(DType::Q4_1), DType::Q8_1);
  EXPECT_EQ(vec_dot_type(DType::Q5_1), DType::Q8_1);
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
    EXPECT_EQ(vec_dot_type(t), DType::Q8_K);
  EXPECT_EQ(vec_dot_type(DType::F16), DType::F16);
  EXPECT_EQ(vec_dot_type(DType::BF16), DType::BF16);
  EXPECT_EQ(vec_dot_type(DType::F32), DType::F32);
}

}  // namespace
}  // namespace mlxr
