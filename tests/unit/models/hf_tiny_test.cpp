// Forward pass of each hf-tiny family against the float32 logits transformers computed
// (../shared/data/hf-tiny/README.md: atol 1e-4; greedy continuation ids exact).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/models/model.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

struct Loaded {
  std::shared_ptr<ModelFile> file;
  std::unique_ptr<CpuBackend> backend;
  std::unique_ptr<Model> model;
};

Loaded load(const std::string& dir, int n_ctx) {
  Loaded l;
  auto f = open_model(dir);
  EXPECT_TRUE(f) << f.error();
  if (!f) return l;
  l.file = *f;
  l.backend = std::make_unique<CpuBackend>(2);
  auto m = load_model(l.file, *l.backend);
  EXPECT_TRUE(m) << m.error();
  if (!m) return l;
  l.model = std::move(*m);
  const auto& hp = l.file->hparams;
  KVLayout kv{hp.n_layer, (n_ctx + 15) / 16, 16, hp.n_head_kv, hp.head_dim, DType::F32};
  EXPECT_TRUE(l.backend->init_kv(kv).is_ok());
  return l;
}

Batch sequence_batch(const std::vector<int32_t>& ids, int n_blocks) {
  Batch b;
  b.block_tables.emplace_back();
  for (int i = 0; i < n_blocks; ++i) b.block_tables[0].push_back(i);
  b.seq_lens.push_back(static_cast<int>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    b.tokens.push_back(ids[i]);
    b.positions.push_back(static_cast<int>(i));
    b.seq_of.push_back(0);
    b.output_rows.push_back(static_cast<int>(i));
  }
  return b;
}

class HfTiny : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTiny, LogitsMatchTransformers) {
  const std::string rel = "hf-tiny/" + GetParam();
  MLXR_REQUIRE_DATA(rel + "/logits.json");
  std::ifstream in(testing::data_path(rel + "/logits.json"));
  auto ref = nlohmann::json::parse(in);
  std::vector<int32_t> prompt = ref["prompt_ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> greedy = ref["greedy_continuation_ids"].get<std::vector<int32_t>>();
  Loaded l = load(testing::data_path(rel), 128);
  ASSERT_TRUE(l.model);
  const int V = l.file->hparams.n_vocab;

  Batch b = sequence_batch(prompt, 8);
  std::vector<float> logits(prompt.size() * V);
  ASSERT_TRUE(l.model->forward(b, logits.data()).is_ok());
  double max_diff = 0;
  for (size_t i = 0; i < prompt.size(); ++i)
    for (int v = 0; v < V; ++v)
      max_diff = std::max(max_diff, std::fabs(double(logits[i * V + v]) - ref["logits"][i][v].get<double>()));
  EXPECT_LT(max_diff, 1e-4) << GetParam();

  // Greedy continuation, one token per step through the KV cache.
  std::vector<int32_t> seq = prompt;
  std::vector<float> step(V);
  int32_t next = static_cast<int32_t>(std::max_element(logits.end() - V, logits.end()) - (logits.end() - V));
  std::vector<int32_t> got;
  for (size_t i = 0; i < greedy.size(); ++i) {
    got.push_back(next);
    seq.push_back(next);
    Batch d;
    d.block_tables = b.block_tables;
    d.seq_lens = {static_cast<int>(seq.size())};
    d.tokens = {next};
    d.positions = {static_cast<int>(seq.size()) - 1};
    d.seq_of = {0};
    d.output_rows = {0};
    ASSERT_TRUE(l.model->forward(d, step.data()).is_ok());
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
