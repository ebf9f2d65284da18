#include <gtest/gtest.h>

#include "core/formats/gguf.h"
#include "tests/support/test_data.h"

namespace mlxr {

TEST(GgufReader, ReadsStoriesF32) {
  MLXR_REQUIRE_DATA("stories260K/stories260K-f32.gguf");
  auto g = GgufFile::open(testing::data_path("stories260K/stories260K-f32.gguf"));
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ((*g)->version(), 3u);
  EXPECT_EQ((*g)->metadata().size(), 19u);
  EXPECT_EQ((*g)->tensors().size(), 48u);
  EXPECT_EQ((*g)->data_offset(), 14176u);
  EXPECT_EQ((*g)->get_string("general.architecture"), "llama");
  EXPECT_EQ((*g)->get_int("llama.context_length"), 128);
  auto tok = (*g)->find("tokenizer.ggml.tokens");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->strs.size(), 512u);
  auto emb = (*g)->tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
}

TEST(GgufReader, ReadsQuantBlocks) {
  MLXR_REQUIRE_DATA("quant-blocks/quant-blocks-ggml.gguf");
  auto g = GgufFile::open(testing::data_path("quant-blocks/quant-blocks-ggml.gguf"));
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ((*g)->tensors().size(), 27u);
  auto q = (*g)->tensor("q.q4_k");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, DType::Q4_K);
  EXPECT_EQ(q->nbytes, 4u * 144u);
}

}  // namespace mlxr
