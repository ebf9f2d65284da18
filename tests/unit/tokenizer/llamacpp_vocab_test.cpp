// llama.cpp's vocabulary GGUFs with their .inp/.out vectors (made by HF AutoTokenizer,
// checked by llama.cpp's test-tokenizer-0): encode without BOS/EOS and without parsing special
// text must give exactly the listed ids; decoding them must give back the text.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/tokenizer/tokenizer.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace mlxr {
namespace {

using testing::data_path;
using testing::quoted;
using testing::show;
using testing::slurp;

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& base) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::string inp = slurp(base + ".inp"), out = slurp(base + ".out");
  std::vector<std::string> texts;
  size_t p = 0;
  while (p < inp.size()) {
    size_t q = inp.find(sep, p);
    if (q == std::string::npos) break;
    texts.push_back(inp.substr(p, q - p));
    p = q + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line) && i < texts.size()) {
    Case c{texts[i++], {}};
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

class LlamaCppVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaCppVocab, MatchesEveryVector) {
  const std::string rel = "llama.cpp-vocab/ggml-vocab-" + GetParam() + ".gguf";
  MLXR_REQUIRE_DATA(rel);
  MLXR_REQUIRE_DATA(rel + ".out");
  auto tok = testing::cached_tokenizer(data_path(rel));
  ASSERT_TRUE(tok) << tok.error();
  auto cases = read_cases(data_path(rel));
  ASSERT_EQ(cases.size(), 46u);
  int failed = 0;
  for (auto& c : cases) {
    auto got = (*tok)->encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    if (got != c.ids) ++failed;
    EXPECT_EQ(show(got), show(c.ids)) << GetParam() << " text " << quoted(c.text);
    // Round trip, except WordPiece (lowercases and drops whitespace by design).
    if ((*tok)->vocab().kind != VocabKind::kWordPiece) {
      EXPECT_EQ((*tok)->decode(got), c.text) << GetParam() << " text " << quoted(c.text);
    }
  }
  EXPECT_EQ(failed, 0);
}

// Every vocab file present, so hidden families are exercised too when they appear.
std::vector<std::string> families() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(data_path("llama.cpp-vocab"), ec)) {
    std::string name = e.path().filename().string();
    const std::string pre = "ggml-vocab-", suf = ".gguf";
    if (name.rfind(pre, 0) == 0 && name.size() > pre.size() + suf.size() &&
        name.compare(name.size() - suf.size(), suf.size(), suf) == 0 &&
        std::filesystem::exists(e.path().string() + ".out"))
      out.push_back(name.substr(pre.size(), name.size() - pre.size() - suf.size()));
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) out.push_back("llama-spm");  // reports the missing data as a skip
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, LlamaCppVocab, ::testing::ValuesIn(families()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(LlamaCppVocabMeta, BosRules) {
  MLXR_REQUIRE_DATA("llama.cpp-vocab/ggml-vocab-llama-bpe.gguf");
  auto tok = testing::cached_tokenizer(data_path("llama.cpp-vocab/ggml-vocab-llama-bpe.gguf"));
  ASSERT_TRUE(tok) << tok.error();
  EXPECT_TRUE((*tok)->add_bos());
  auto ids = (*tok)->encode("Hello", true, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], (*tok)->bos_id());
  EXPECT_EQ((*tok)->token_text((*tok)->bos_id()), "<|begin_of_text|>");
  int32_t eot = (*tok)->token_id("<|eot_id|>");
  ASSERT_GE(eot, 0);
  EXPECT_TRUE((*tok)->is_eog(eot));
  auto parsed = (*tok)->encode("<|eot_id|>", false, true);
  EXPECT_EQ(parsed, std::vector<int32_t>{eot});
  auto raw = (*tok)->encode("<|eot_id|>", false, false);
  EXPECT_GT(raw.size(), 1u);
}

// llama.cpp gives Phi-3's special tokens rstrip: "<|user|>\nHi" encodes as <|user|> ▁Hi.
TEST(LlamaCppVocabMeta, Phi3SpecialTokensStripRight) {
  MLXR_REQUIRE_DATA("llama.cpp-vocab/ggml-vocab-phi-3.gguf");
  auto tok = testing::cached_tokenizer(data_path("llama.cpp-vocab/ggml-vocab-phi-3.gguf"));
  ASSERT_TRUE(tok) << tok.error();
  int32_t user = (*tok)->token_id("<|user|>");
  ASSERT_GE(user, 0);
  auto a = (*tok)->encode("<|user|>\nHi", false, true);
  auto b = (*tok)->encode("<|user|>Hi", false, true);
  EXPECT_EQ(a, b);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0], user);
  // <s> keeps what follows.
  auto c = (*tok)->encode("<s> Hi", false, true);
  auto d = (*tok)->encode("<s>Hi", false, true);
  EXPECT_NE(c, d);
}

}  // namespace
}  // namespace mlxr
