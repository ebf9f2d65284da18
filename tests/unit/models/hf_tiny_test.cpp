// Forward pass of each hf-tiny family against the float32 logits transformers computed
// (../shared/data/hf-tiny/README.md: atol 1e-4; greedy continuation ids exact).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/model_harness.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

class HfTiny : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTiny, LogitsMatchTransformers) {
  const std::string rel = "hf-tiny/" + GetParam();
  MLXR_REQUIRE_DATA(rel + "/logits.json");
  std::ifstream in(testing::data_path(rel + "/logits.json"));
  auto ref = nlohmann::json::parse(in);
  std::vector<int32_t> prompt = ref["prompt_ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> greedy = ref["greedy_continuation_ids"].get<std::vector<int32_t>>();
  testing::LoadedModel l = testing::load_for_test(testing::data_path(rel), 128);
  ASSERT_TRUE(l.model);
  const int V = l.file->hparams.n_vocab;

  std::vector<float> logits = testing::logits_of(l, prompt);
  double max_diff = 0;
  for (size_t i = 0; i < prompt.size(); ++i)
    for (int v = 0; v < V; ++v)
      max_diff = std::max(max_diff, std::fabs(double(logits[i * V + v]) - ref["logits"][i][v].get<double>()));
  EXPECT_LT(max_diff, 1e-4) << GetParam();

  // Greedy continuation, one token per step through the KV cache.
  std::vector<int32_t> seq = prompt;
  std::vector<float> step;
  int32_t next = static_cast<int32_t>(std::max_element(logits.end() - V, logits.end()) - (logits.end() - V));
  std::vector<int32_t> got;
  for (size_t i = 0; i < greedy.size(); ++i) {
    got.push_back(next);
    seq.push_back(next);
    step = testing::logits_of(l, {next}, static_cast<int>(seq.size()) - 1);
    next = static_cast<int32_t>(std::max_element(step.begin(), step.end()) - step.begin());
  }
  EXPECT_EQ(got, greedy) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Families, HfTiny,
                         ::testing::Values("llama", "llama-sharded", "llama3-rope-tied", "mistral", "qwen2", "mixtral"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace mlxr
