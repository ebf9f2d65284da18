// decode(encode(x)) == x for every vocabulary kind on random Unicode (emoji, CJK, combining
// marks, whitespace runs) and invalid UTF-8 (which must round-trip byte for byte through byte
// fallback / byte-level tokens, and never crash); streaming output equals decode().
#include <gtest/gtest.h>

#include <random>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace mlxr {
namespace {

using testing::data_path;
using testing::quoted;

std::string random_text(std::mt19937& rng, bool allow_invalid) {
  static const uint32_t kPool[] = {
      'a', 'Z', ' ', ' ', ' ', '\n', '\t', '\r', '0', '7', '\'', '.', ',', '!', '<', '>', '/', '_',
      0xE9, 0x301, 0x308, 0x4E2D, 0x6587, 0x3042, 0xAC00, 0x0416, 0x03B1, 0x05D0, 0x0627, 0x0E01,
      0x1F999, 0x1F600, 0x200D, 0xFE0F, 0x2764, 0x1F1FA, 0x1F1F8, 0xA0, 0x200B, 0x3000, 0x2028,
      0xFFFD, 0x10FFFF, 0xE000, 0x1D11E, 0x85,
  };
  std::uniform_int_distribution<int> len(0, 40), pick(0, std::size(kPool) - 1), any(0x20, 0x2FFFF),
      byte(0, 255), mode(0, 9);
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i) {
    int m = mode(rng);
    if (allow_invalid && m == 0) {
      s += static_cast<char>(byte(rng));  // often an invalid byte
    } else if (m <= 2) {
      uint32_t cp = any(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      unicode::append_utf8(s, cp);
    } else {
      unicode::append_utf8(s, kPool[pick(rng)]);
    }
  }
  return s;
}

class RoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip, RandomUnicodeAndInvalidUtf8) {
  MLXR_REQUIRE_DATA(GetParam());
  auto tok = testing::cached_tokenizer(data_path(GetParam()));
  ASSERT_TRUE(tok) << tok.error();
  const Tokenizer& t = **tok;
  // Some vocabs cannot spell every byte with a byte token (DeepSeek's missing byte chars are
  // user-defined tokens that decode as text): there, invalid UTF-8 is only checked not to crash.
  bool bytes_exact = true;
  for (int b = 0; b < 256; ++b) {
    int32_t id = t.vocab().byte_token[b];
    bytes_exact = bytes_exact && id >= 0 &&
                  (t.vocab().type[id] == TokenType::kNormal || t.vocab().type[id] == TokenType::kByte);
  }
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 300; ++iter) {
    bool invalid = iter % 3 == 0;
    std::string text = random_text(rng, invalid);
    auto ids = t.encode(text, /*add_special=*/iter % 2 == 0, /*parse_special=*/false);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t.n_vocab());
    std::string back = t.decode(ids);
    // SentencePiece with remove_extra_whitespaces cannot give back the spaces it dropped; the
    // other kinds must reproduce the bytes exactly (invalid bytes included).
    if (!invalid || bytes_exact) {
      EXPECT_EQ(back, text) << quoted(text);
    }
    // Streaming gives the same text, except that it turns invalid bytes into U+FFFD.
    IncrementalDetokenizer d(t, /*strip_first_space=*/true);
    std::string streamed;
    for (int32_t id : ids) streamed += d.push(id);
    streamed += d.flush();
    if (!invalid) {
      EXPECT_EQ(streamed, text) << quoted(text);
    }
    // Parsing special text never crashes either.
    (void)t.encode(text + "<s></s><|endoftext|>", true, true);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, RoundTrip,
                         ::testing::Values("llama.cpp-vocab/ggml-vocab-llama-spm.gguf",
                                           "llama.cpp-vocab/ggml-vocab-llama-bpe.gguf",
                                           "llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
                                           "llama.cpp-vocab/ggml-vocab-deepseek-llm.gguf",
                                           "llama.cpp-vocab/ggml-vocab-phi-3.gguf",
                                           "llama.cpp-vocab/ggml-vocab-refact.gguf",
                                           "llama.cpp-vocab/ggml-vocab-starcoder.gguf",
                                           "llama.cpp-vocab/ggml-vocab-baichuan.gguf",
                                           "llama.cpp-vocab/ggml-vocab-gpt-neox.gguf",
                                           "stories260K/tok512.bin",
                                           "llama2-tokenizer/tokenizer.model"),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.rfind('/') + 1);
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(Detokenizer, NeverEmitsPartialUtf8) {
  MLXR_REQUIRE_DATA("stories260K/tok512.bin");
  auto tok = testing::cached_tokenizer(data_path("stories260K/tok512.bin"));
  ASSERT_TRUE(tok) << tok.error();
  // "🦙" is four byte tokens in this 512-token vocab: nothing comes out until the last one.
  auto ids = (*tok)->encode("a 🦙 b", true, false);
  IncrementalDetokenizer d(**tok);
  std::vector<std::string> outs;
  for (int32_t id : ids) outs.push_back(d.push(id));
  std::string all;
  for (auto& o : outs) {
    EXPECT_EQ(unicode::incomplete_utf8_tail(o), 0u);
    for (size_t i = 0; i < o.size();) {
      int l = unicode::valid_utf8_len(reinterpret_cast<const unsigned char*>(o.data()) + i, o.size() - i);
      ASSERT_GT(l, 0) << "invalid UTF-8 emitted";
      i += l;
    }
    all += o;
  }
  EXPECT_EQ(all + d.flush(), "a 🦙 b");
  // A dangling lead byte at the end comes out as U+FFFD on flush, never raw.
  IncrementalDetokenizer d2(**tok);
  EXPECT_EQ(d2.push(3 + 0xF0), "");
  EXPECT_EQ(d2.flush(), "\xEF\xBF\xBD");
}

TEST(StopStrings, HoldsBackAcrossTokens) {
  StopStringMatcher m({"</answer>", "STOP"});
  std::string out;
  out += m.push("The result is 4");
  out += m.push("2.</ans");
  EXPECT_EQ(out, "The result is 42.");  // "</ans" is held back
  out += m.push("wer> trailing");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "</answer>");
  EXPECT_EQ(out, "The result is 42.");
  StopStringMatcher n({"STOP"});
  std::string o2 = n.push("ST");
  o2 += n.push("ART");
  o2 += n.flush();
  EXPECT_FALSE(n.stopped());
  EXPECT_EQ(o2, "START");
}

}  // namespace
}  // namespace mlxr
