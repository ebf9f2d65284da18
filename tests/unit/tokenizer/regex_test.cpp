// The regex engine and the hand-written pre-tokenizer matchers: the fast GPT-2/Llama-3/Qwen2
// matchers must split exactly like the engine running the original patterns, and the engine
// must handle the constructs tokenizer.json patterns use.
#include <gtest/gtest.h>

#include <random>

#include "core/tokenizer/pretokenize.h"
#include "core/tokenizer/regex.h"
#include "core/tokenizer/unicode.h"

namespace mlxr {
namespace {

std::vector<std::string> split(const PreTokenizer& p, const std::string& text) {
  std::vector<std::pair<size_t, size_t>> w;
  p.split(text, w);
  std::vector<std::string> out;
  for (auto [b, e] : w) out.push_back(text.substr(b, e - b));
  return out;
}

TEST(Regex, Basics) {
  auto r = Regex::compile("(?i:'s|'t)|\\p{L}+|\\s+(?!\\S)|\\s+");
  ASSERT_TRUE(r) << r.error();
  auto cps = unicode::decode("Don'T  stop");
  size_t b, e;
  ASSERT_TRUE((*r)->search(cps.data(), 0, 0, cps.size(), b, e));
  EXPECT_EQ(b, 0u);
  EXPECT_EQ(e, 3u);  // "Don"
  EXPECT_EQ((*r)->match_at(cps.data(), 3, cps.size()), 5u);  // "'T" case-insensitive
  EXPECT_EQ((*r)->match_at(cps.data(), 5, cps.size()), 6u);  // \s+(?!\S) leaves the last space
  EXPECT_FALSE(Regex::compile("(ab)+"));                        // rejected with a message
  EXPECT_FALSE(Regex::compile("[z-a]"));
  EXPECT_FALSE(Regex::compile("\\p{Xx}"));
  auto anchored = Regex::compile("\\s+$");
  ASSERT_TRUE(anchored);
  auto c2 = unicode::decode("a  ");
  EXPECT_EQ((*anchored)->match_at(c2.data(), 1, c2.size()), 3u);
  auto c3 = unicode::decode("a  b");
  EXPECT_EQ((*anchored)->match_at(c3.data(), 1, c3.size()), SIZE_MAX);
}

TEST(PreTokenizer, Llama3Examples) {
  auto p = PreTokenizer::from_patterns({kLlama3Pattern}, /*use_fast=*/false);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(split(*p, "Hello world's 12345  \n\n x!!\n"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", "123", "45", "  \n\n", " x", "!!\n"}));
}

TEST(PreTokenizer, FastMatchersEqualTheRegexEngine) {
  const uint32_t pool[] = {'a', 'B', 'z', ' ', ' ', ' ', '\n', '\r', '\t', '\'', 's', 'S', 'l', 'L',
                           'd', 'e', '1', '9', '!', '.', '(', 0xA0, 0x3000, 0x85, 0x2028, 0xE9, 0x301,
                           0x4E2D, 0x1F600, 0x0661, 0x2163, 0xB2, 0x5F, 0x24, 0x200D, 0x0E01};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, std::size(pool) - 1), len(0, 30);
  for (const char* pat : {kGpt2Pattern, kLlama3Pattern, kQwen2Pattern}) {
    auto slow = PreTokenizer::from_patterns({pat}, false);
    auto fast = PreTokenizer::from_patterns({pat}, true);
    ASSERT_TRUE(slow && fast);
    ASSERT_NE(fast->rules[0].fast, PreTokenizer::Fast::kNone);
    for (int i = 0; i < 3000; ++i) {
      std::string s;
      int n = len(rng);
      for (int k = 0; k < n; ++k) unicode::append_utf8(s, pool[pick(rng)]);
      ASSERT_EQ(split(*slow, s), split(*fast, s)) << pat << " on [" << s << "]";
    }
  }
}

TEST(Unicode, CategoriesAndNormalization) {
  EXPECT_EQ(unicode::category('A'), unicode::kLu);
  EXPECT_EQ(unicode::category(0x4E2D), unicode::kLo);
  EXPECT_EQ(unicode::category(0x1F600), unicode::kSo);
  EXPECT_TRUE(unicode::is_whitespace(0x3000));
  EXPECT_TRUE(unicode::is_whitespace(0x85));
  EXPECT_FALSE(unicode::is_whitespace(0x200B));
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");                 // e + acute -> é
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // Hangul L+V -> 가
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");              // Angstrom sign -> Å
  EXPECT_EQ(unicode::encode(unicode::decode("a\xFF\xC3")), "a\xFF\xC3");  // invalid bytes kept
  for (uint32_t c = 0; c < 128; ++c) EXPECT_EQ(unicode::kAsciiFlags[c], unicode::flags_slow(c)) << c;
}

}  // namespace
}  // namespace mlxr
