// Whole models on the GPU against the CPU backend: synthetic llama/qwen2-style models of every
// device weight type (logits over a prompt, then decode steps through the cache), the hf-tiny
// llama and qwen2 checkpoints (also against transformers' logits), and greedy generation on
// stories260K (identical tokens to the CPU and to llama2.c).
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/models/model.h"
#include "core/runtime/generate.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/gpu/synthetic_model.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

using gputest::rel_err;

struct ModelRun {
  std::vector<std::vector<float>> logits;  // per step
  std::vector<int32_t> greedy;
};

// Prompt (all rows out), then n_decode greedy steps through the cache.
// forced (optional): the decode inputs, so both backends see the same tokens even where random
// weights make the argmax a near tie.
ModelRun run_model(std::shared_ptr<ModelFile> file, Backend& be, DType kv_type, const std::vector<int32_t>& prompt,
              int n_decode, const std::vector<int32_t>& forced = {}) {
  ModelRun out;
  auto m = load_model(file, be);
  EXPECT_TRUE(m) << m.error();
  if (!m) return out;
  const auto& hp = file->hparams;
  const int n_blocks = 16;
  KVLayout kv{hp.n_layer, n_blocks, 16, hp.n_head_kv, hp.head_dim, kv_type};
  EXPECT_TRUE(be.init_kv(kv).is_ok());
  Batch b = gputest::simple_batch(prompt, n_blocks);
  std::reverse(b.block_tables[0].begin(), b.block_tables[0].end());  // non-trivial table
  const int V = hp.n_vocab;
  std::vector<float> logits(prompt.size() * V);
  auto st = (*m)->forward(b, logits.data());
  EXPECT_TRUE(st.is_ok()) << st.message();
  out.logits.push_back(logits);
  int32_t next = static_cast<int32_t>(std::max_element(logits.end() - V, logits.end()) - (logits.end() - V));
  int pos = static_cast<int>(prompt.size());
  for (int i = 0; i < n_decode; ++i) {
    if (!forced.empty()) next = forced[static_cast<size_t>(i)];
    out.greedy.push_back(next);
    Batch d = b;
    d.tokens = {next};
    d.positions = {pos++};
    d.seq_of = {0};
    d.output_rows = {0};
    d.seq_lens = {pos};
    std::vector<float> step(V);
    st = (*m)->forward(d, step.data());
    EXPECT_TRUE(st.is_ok()) << st.message();
    out.logits.push_back(step);
    next = static_cast<int32_t>(std::max_element(step.begin(), step.end()) - step.begin());
  }
  return out;
}

void compare(const ModelRun& cpu, const ModelRun& gpu, double tol, const std::string& what) {
  ASSERT_EQ(cpu.logits.size(), gpu.logits.size()) << what;
  for (size_t i = 0; i < cpu.logits.size(); ++i)
    EXPECT_LT(rel_err(gpu.logits[i], cpu.logits[i]), tol) << what << " step " << i;
}

std::vector<int32_t> prompt_ids(int n, int vocab) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((i * 37 + 11) % vocab);
  return p;
}

TEST(GpuModel, SyntheticLlamaEveryWeightType) {
  MLXR_REQUIRE_GPU();
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (DType kv : {DType::F16, DType::F32}) {
      gputest::SynthShape s;
      s.type = t;
      s.output_type = t == DType::Q4_K ? DType::Q6_K : t;
      s.qkv_bias = t == DType::BF16;  // qwen2-style biases on one variant
      gputest::SynthModel model(s, 3);
      CpuBackend cpu(2);
      auto gpu = make_cuda_backend(0);
      ASSERT_TRUE(gpu) << gpu.error();
      const auto prompt = prompt_ids(70, s.n_vocab);
      const auto forced = prompt_ids(6, s.n_vocab - 1);
      ModelRun rc = run_model(model.file, cpu, kv, prompt, 6, forced);
      ModelRun rg = run_model(model.file, **gpu, kv, prompt, 6, forced);
      EXPECT_EQ(cuda_backend_stats(**gpu)->weight_allocations, 1) << "weights in one device allocation";
      const double tol = !dtype_info(t).quantized ? (kv == DType::F32 && t == DType::F32 ? 1e-4 : 1e-2) : 3e-2;
      compare(rc, rg, tol, std::string(dtype_name(t)) + " kv " + dtype_name(kv));
    }
  }
}

class GpuHfTiny : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuHfTiny, LogitsMatchCpuAndTransformers) {
  MLXR_REQUIRE_GPU();
  const std::string rel = "hf-tiny/" + GetParam();
  MLXR_REQUIRE_DATA(rel + "/logits.json");
  std::ifstream in(testing::data_path(rel + "/logits.json"));
  auto ref = nlohmann::json::parse(in);
  const auto prompt = ref["prompt_ids"].get<std::vector<int32_t>>();
  const auto greedy = ref["greedy_continuation_ids"].get<std::vector<int32_t>>();
  auto f = open_model(testing::data_path(rel));
  ASSERT_TRUE(f) << f.error();
  CpuBackend cpu(2);
  auto gpu = make_cuda_backend(0);
  ASSERT_TRUE(gpu) << gpu.error();
  ModelRun rc = run_model(*f, cpu, DType::F32, prompt, static_cast<int>(greedy.size()));
  ModelRun rg = run_model(*f, **gpu, DType::F32, prompt, static_cast<int>(greedy.size()));
  compare(rc, rg, 1e-4, GetParam());
  const int V = (*f)->hparams.n_vocab;
  double max_diff = 0;
  for (size_t i = 0; i < prompt.size(); ++i)
    for (int v = 0; v < V; ++v)
      max_diff = std::max(max_diff, std::fabs(double(rg.logits[0][i * V + v]) - ref["logits"][i][v].get<double>()));
  EXPECT_LT(max_diff, 1e-4) << GetParam() << ": GPU vs transformers";
  EXPECT_EQ(rg.greedy, greedy) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Families, GpuHfTiny, ::testing::Values("llama", "qwen2"));

TEST(GpuStories, GreedyTokensIdenticalToCpuAndLlama2c) {
  MLXR_REQUIRE_GPU();
  MLXR_REQUIRE_DATA("stories260K/stories260K.bin");
  MLXR_REQUIRE_DATA("stories260K/reference_greedy.jsonl");
  for (DType kv : {DType::F16, DType::F32}) {
    std::vector<std::unique_ptr<ModelRunner>> runners;
    for (const char* dev : {"cpu", "cuda"}) {
      RunnerOptions o;
      o.device = dev;
      o.threads = 2;
      o.n_ctx = 512;
      o.kv_dtype = kv;
      auto r = ModelRunner::create(testing::data_path("stories260K/stories260K.bin"), o);
      ASSERT_TRUE(r) << r.error();
      runners.push_back(std::move(*r));
    }
    ASSERT_EQ(runners[1]->backend().name(), "cuda");
    std::ifstream in(testing::data_path("stories260K/reference_greedy.jsonl"));
    std::string line;
    int rows = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto row = nlohmann::json::parse(line);
      auto ids = runners[0]->tokenizer().encode(row["prompt"].get<std::string>(), true, false);
      auto expected = row["generated_tokens"].get<std::vector<int32_t>>();
      std::vector<std::vector<int32_t>> got;
      for (auto& r : runners) {
        GenerateOptions g;
        g.sampling.temperature = 0;
        g.max_tokens = static_cast<int>(expected.size());
        g.stop_at_eog = false;
        auto out = generate(*r, ids, g);
        ASSERT_TRUE(out) << out.error();
        got.push_back(out->tokens);
      }
      EXPECT_EQ(got[1], got[0]) << "GPU vs CPU, kv " << dtype_name(kv);
      EXPECT_EQ(got[1], expected) << "GPU vs llama2.c, kv " << dtype_name(kv);
      ++rows;
    }
    EXPECT_GT(rows, 0);
  }
}

}  // namespace
}  // namespace mlxr
