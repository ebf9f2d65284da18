// Golden end-to-end tests on the trained stories260K model: prompt tokens and greedy tokens
// equal llama2.c's (from the .bin and the F32 GGUF) and llama.cpp's (from every GGUF),
// and the logits equal llama2.c's within the README's tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/runtime/generate.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

std::unique_ptr<ModelRunner> open_runner(const std::string& rel, DType kv = DType::F16) {
  RunnerOptions o;
  o.device = "cpu";
  o.threads = 2;
  o.n_ctx = 512;
  o.kv_dtype = kv;
  auto r = ModelRunner::create(testing::data_path(rel), o);
  EXPECT_TRUE(r) << r.error();
  return r ? std::move(*r) : nullptr;
}

std::vector<int32_t> greedy(ModelRunner& r, const std::vector<int32_t>& prompt, int n) {
  GenerateOptions g;
  g.sampling.temperature = 0;
  g.max_tokens = n;
  g.stop_at_eog = false;  // llama2.c stops only at BOS; none of the references stop early
  auto out = generate(r, prompt, g);
  EXPECT_TRUE(out) << out.error();
  return out ? out->tokens : std::vector<int32_t>{};
}

void check_llama2c_references(const std::string& model_rel) {
  MLXR_REQUIRE_DATA("stories260K/reference_greedy.jsonl");
  auto runner = open_runner(model_rel);
  ASSERT_TRUE(runner);
  for (const auto& row : read_jsonl(testing::data_path("stories260K/reference_greedy.jsonl"))) {
    const std::string prompt = row["prompt"];
    auto ids = runner->tokenizer().encode(prompt, true, false);
    EXPECT_EQ(ids, row["prompt_tokens"].get<std::vector<int32_t>>()) << model_rel << " prompt '" << prompt << "'";
    auto expected = row["generated_tokens"].get<std::vector<int32_t>>();
    EXPECT_EQ(greedy(*runner, ids, static_cast<int>(expected.size())), expected) << model_rel << " prompt '" << prompt << "'";
  }
}

TEST(StoriesGolden, Llama2cCheckpointMatchesLlama2c) { check_llama2c_references("stories260K/stories260K.bin"); }
TEST(StoriesGolden, F32GgufMatchesLlama2c) { check_llama2c_references("stories260K/stories260K-f32.gguf"); }

TEST(StoriesGolden, EveryGgufMatchesLlamaCpp) {
  MLXR_REQUIRE_DATA("stories260K/reference_greedy_llamacpp.jsonl");
  std::map<std::string, std::unique_ptr<ModelRunner>> runners;
  for (const auto& row : read_jsonl(testing::data_path("stories260K/reference_greedy_llamacpp.jsonl"))) {
    const std::string model = row["model"];
    auto& r = runners[model];
    if (!r) r = open_runner("stories260K/" + model);
    ASSERT_TRUE(r);
    auto ids = r->tokenizer().encode(row["prompt"].get<std::string>(), true, false);
    EXPECT_EQ(ids, row["prompt_tokens"].get<std::vector<int32_t>>()) << model;
    auto expected = row["generated_tokens"].get<std::vector<int32_t>>();
    auto got = greedy(*r, ids, static_cast<int>(expected.size()));
    size_t same = 0;
    while (same < got.size() && same < expected.size() && got[same] == expected[same]) ++same;
    const std::string what = model + " prompt '" + row["prompt"].get<std::string>() + "': first " +
                             std::to_string(same) + " of " + std::to_string(expected.size()) + " tokens agree";
    if (model == "stories260K-Q4_K_M.gguf") {
      // The reference came from llama.cpp's AVX-512 build; on this file even llama.cpp's own
      // AVX2 build diverges from it late (tools/llamacpp/verify_reference.mjs: from token 85).
      // We follow the AVX-512 summation order and must agree for at least 90 tokens.
      EXPECT_GE(same, 90u) << what;
    } else {
      EXPECT_EQ(got, expected) << what;
    }
  }
}

TEST(StoriesGolden, LogitsMatchLlama2c) {
  MLXR_REQUIRE_DATA("stories260K/reference_logits_llama2c.json");
  std::ifstream in(testing::data_path("stories260K/reference_logits_llama2c.json"));
  auto ref = nlohmann::json::parse(in);
  auto ids = ref["input_tokens"].get<std::vector<int32_t>>();
  for (const char* model : {"stories260K/stories260K.bin", "stories260K/stories260K-f32.gguf"}) {
    auto r = open_runner(model, DType::F32);
    ASSERT_TRUE(r);
    auto logits = prompt_logits(*r, ids);
    ASSERT_TRUE(logits) << logits.error();
    const int V = r->hparams().n_vocab;
    double max_diff = 0;
    const auto& rows = ref["logits"];
    for (size_t i = 0; i < rows.size(); ++i)
      for (int v = 0; v < V; ++v)
        max_diff = std::max(max_diff, std::fabs(double((*logits)[i * V + v]) - rows[i][v].get<double>()));
    EXPECT_LT(max_diff, 1e-4) << model;
  }
}

}  // namespace
}  // namespace mlxr
