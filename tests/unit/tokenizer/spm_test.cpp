// SentencePiece-style tokenizers against their references: SentencePiece itself (encode
// vectors of the Llama 2 and tok512 models), llama2.c run.c (prompt_tokens of the stories260K
// greedy runs) and llama.cpp (the F32 GGUF of stories260K).
#include <gtest/gtest.h>

#include "core/tokenizer/tokenizer.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace mlxr {
namespace {

using testing::data_path;
using testing::ids_of;
using testing::quoted;
using testing::read_jsonl;
using testing::show;

std::shared_ptr<Tokenizer> load(const std::string& rel) {
  auto t = testing::cached_tokenizer(data_path(rel));
  EXPECT_TRUE(t.has_value()) << (t ? "" : t.error());
  return t ? *t : nullptr;
}

void check_vectors(const Tokenizer& tok, const std::string& jsonl, const char* agree_key,
                   const char* other_ids_key, int& n_checked) {
  for (const Json& row : read_jsonl(data_path(jsonl))) {
    std::string text = row.get_string("text");
    std::vector<int32_t> want = ids_of(*row.find("ids"));
    // Where the reference of this tokenizer source disagrees with SentencePiece, the vectors
    // carry that reference's ids: use them.
    if (agree_key && !row.get_bool(agree_key, true)) want = ids_of(*row.find(other_ids_key));
    auto got = tok.encode(text, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(show(got), show(want)) << "text " << quoted(text);
    if (row.find("decoded") && (!agree_key || row.get_bool(agree_key, true))) {
      EXPECT_EQ(tok.decode(got), row.get_string("decoded")) << "text " << quoted(text);
    }
    ++n_checked;
  }
}

TEST(Spm, Llama2ModelMatchesSentencePiece) {
  MLXR_REQUIRE_DATA("llama2-tokenizer/tokenizer.model");
  auto tok = load("llama2-tokenizer/tokenizer.model");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 32000);
  int n = 0;
  check_vectors(*tok, "llama2-tokenizer/sentencepiece_vectors.jsonl", nullptr, nullptr, n);
  EXPECT_GE(n, 12);
}

TEST(Spm, Llama2BinAndGgufMatchSentencePiece) {
  MLXR_REQUIRE_DATA("llama2-tokenizer/tokenizer.bin");
  MLXR_REQUIRE_DATA("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  for (const char* f : {"llama2-tokenizer/tokenizer.bin", "llama.cpp-vocab/ggml-vocab-llama-spm.gguf"}) {
    SCOPED_TRACE(f);
    auto tok = load(f);
    ASSERT_TRUE(tok);
    int n = 0;
    // The Llama 2 model has remove_extra_whitespaces=false: every source agrees.
    check_vectors(*tok, "llama2-tokenizer/sentencepiece_vectors.jsonl", nullptr, nullptr, n);
  }
}

TEST(Spm, Tok512ModelMatchesSentencePieceIncludingWhitespaceCollapse) {
  MLXR_REQUIRE_DATA("stories260K/tok512.model");
  auto tok = load("stories260K/tok512.model");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 512);
  int n = 0;
  check_vectors(*tok, "stories260K/tok512_sentencepiece_vectors.jsonl", nullptr, nullptr, n);
  EXPECT_GE(n, 12);
}

TEST(Spm, Tok512BinMatchesLlama2c) {
  MLXR_REQUIRE_DATA("stories260K/tok512.bin");
  auto tok = load("stories260K/tok512.bin");
  ASSERT_TRUE(tok);
  int n = 0;
  check_vectors(*tok, "stories260K/tok512_sentencepiece_vectors.jsonl", "llama2c_agrees",
                "llama2c_ids", n);
}

TEST(Spm, Stories260KGgufMatchesLlamaCpp) {
  MLXR_REQUIRE_DATA("stories260K/stories260K-f32.gguf");
  auto tok = load("stories260K/stories260K-f32.gguf");
  ASSERT_TRUE(tok);
  int n = 0;
  check_vectors(*tok, "stories260K/tok512_sentencepiece_vectors.jsonl", "llama_cpp_agrees",
                "llama_cpp_ids", n);
}

// run.c's prompt tokens (BOS + dummy prefix + merges), from tokenizer.bin and from the GGUF.
TEST(Spm, Stories260KPromptTokensEqualLlama2c) {
  MLXR_REQUIRE_DATA("stories260K/reference_greedy.jsonl");
  for (const char* f : {"stories260K/tok512.bin", "stories260K/stories260K-f32.gguf"}) {
    SCOPED_TRACE(f);
    auto tok = load(f);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->bos_id(), 1);
    EXPECT_EQ(tok->eos_id(), 2);
    EXPECT_TRUE(tok->add_bos());
    int n = 0;
    for (const Json& row : read_jsonl(data_path("stories260K/reference_greedy.jsonl"))) {
      std::string prompt = row.get_string("prompt");
      auto got = tok->encode(prompt, /*add_special=*/true, /*parse_special=*/false);
      EXPECT_EQ(show(got), show(ids_of(*row.find("prompt_tokens")))) << quoted(prompt);
      ++n;
    }
    EXPECT_GE(n, 4);
  }
}

// run.c prints the prompt from its tokens, then the continuation: the whole stdout is the
// streaming detokenization of prompt + generated tokens.
TEST(Spm, Stories260KStreamedOutputEqualsLlama2cStdout) {
  MLXR_REQUIRE_DATA("stories260K/reference_greedy.jsonl");
  auto tok = load("stories260K/tok512.bin");
  ASSERT_TRUE(tok);
  for (const Json& row : read_jsonl(data_path("stories260K/reference_greedy.jsonl"))) {
    IncrementalDetokenizer detok(*tok);
    std::string out;
    for (int32_t id : ids_of(*row.find("prompt_tokens"))) out += detok.push(id);
    for (int32_t id : ids_of(*row.find("generated_tokens"))) out += detok.push(id);
    out += detok.flush();
    EXPECT_EQ(out, row.get_string("output")) << quoted(row.get_string("prompt"));
  }
}

TEST(Spm, ParseSpecialOnlyWhenAsked) {
  MLXR_REQUIRE_DATA("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  auto tok = load("llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(tok);
  auto plain = tok->encode("a</s>b", false, false);
  auto parsed = tok->encode("a</s>b", false, true);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), 2), 1);
  auto with_bos = tok->encode("Hello", true, false);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos[0], 1);
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(1));
}

}  // namespace
}  // namespace mlxr
