// Dequantisation against ggml's own output: every q.<type> tensor of the shared quant-blocks file
// must dequantise bit-exactly to its dq.<type> tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/formats/gguf.h"
#include "core/quant/quant.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

constexpr const char* kBlocks = "quant-blocks/quant-blocks-ggml.gguf";

std::shared_ptr<GgufFile> open_blocks() {
  auto f = GgufFile::open(testing::data_path(kBlocks));
  EXPECT_TRUE(f.has_value()) << (f ? "" : f.error());
  return f ? *f : nullptr;
}

TEST(Dequantize, MatchesGgmlBitExactly) {
  MLXR_REQUIRE_DATA(kBlocks);
  auto f = open_blocks();
  ASSERT_TRUE(f);
  int checked = 0;
  for (const TensorView& q : f->tensors()) {
    if (q.name.rfind("q.", 0) != 0) continue;
    const TensorView* dq = f->tensor("dq." + q.name.substr(2));
    ASSERT_NE(dq, nullptr) << q.name;
    ASSERT_EQ(dq->type, DType::F32);
    ASSERT_TRUE(can_dequantize(q.type)) << dtype_name(q.type);
    const int64_t n = q.n_elements();
    ASSERT_EQ(dq->n_elements(), n);
    std::vector<float> out(static_cast<size_t>(n), -12345.f);
    dequantize_row(q.type, q.data, out.data(), n);
    const auto* want = static_cast<const float*>(dq->data);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t a, b;
      std::memcpy(&a, &out[i], 4);
      std::memcpy(&b, &want[i], 4);
      if (a != b && ++mismatches <= 3)
        ADD_FAILURE() << q.name << " element " << i << ": got " << out[i] << " want " << want[i];
    }
    EXPECT_EQ(mismatches, 0) << q.name;
    ++checked;
  }
  EXPECT_GE(checked, 13);  // q4_0 q4_1 q5_0 q5_1 q8_0 q2_k..q6_k iq4_nl f16 bf16
}

TEST(Dequantize, RowByRowEqualsWholeTensor) {
  // Rows are independent: dequantising one row at a time gives the same values.
  MLXR_REQUIRE_DATA(kBlocks);
  auto f = open_blocks();
  ASSERT_TRUE(f);
  const TensorView* q = f->tensor("q.q4_k");
  ASSERT_NE(q, nullptr);
  std::vector<float> whole(static_cast<size_t>(q->n_elements())), rows(whole.size());
  dequantize_row(q->type, q->data, whole.data(), q->n_elements());
  for (int64_t r = 0; r < q->ne[1]; ++r)
    dequantize_row(q->type, static_cast<const uint8_t*>(q->data) + r * q->row_size(),
                   rows.data() + r * q->ne[0], q->ne[0]);
  EXPECT_EQ(0, std::memcmp(whole.data(), rows.data(), whole.size() * 4));
}

TEST(Dequantize, CheckRowRejectsBadInput) {
  EXPECT_TRUE(check_row(DType::Q4_0, 64, false));
  Status s = check_row(DType::Q4_0, 33, false);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("block size 32"), std::string::npos) << s.message();
  s = check_row(DType::I32, 4, false);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("I32"), std::string::npos) << s.message();
  EXPECT_FALSE(check_row(DType::Q6_K, 128, false));
}

}  // namespace
}  // namespace mlxr
