// The same synthetic weights through GGUF (q/k permuted, normal RoPE) and through an HF
// directory (rotate_half RoPE) give the same logits and the same greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/models/model.h"
#include "tools/synth/synth.h"

namespace mlxr {
namespace {
namespace fs = std::filesystem;

struct Loaded {
  std::shared_ptr<ModelFile> file;
  std::unique_ptr<CpuBackend> backend;
  std::unique_ptr<Model> model;
};

Loaded load(const std::string& path, int n_ctx) {
  Loaded l;
  auto f = open_model(path);
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

// Logits of every position of `ids` (one forward over the whole sequence).
std::vector<float> logits_of(Loaded& l, const std::vector<int32_t>& ids) {
  Batch b;
  b.block_tables.emplace_back();
  for (size_t i = 0; i < (ids.size() + 15) / 16; ++i) b.block_tables[0].push_back(static_cast<int>(i));
  b.seq_lens.push_back(static_cast<int>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    b.tokens.push_back(ids[i]);
    b.positions.push_back(static_cast<int>(i));
    b.seq_of.push_back(0);
    b.output_rows.push_back(static_cast<int>(i));
  }
  std::vector<float> out(ids.size() * static_cast<size_t>(l.file->hparams.n_vocab));
  auto st = l.model->forward(b, out.data());
  EXPECT_TRUE(st.is_ok()) << st.message();
  return out;
}

void expect_same_logits(const std::string& arch, DType type) {
  std::error_code ec;
  fs::path dir = (fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path()) /
                 ("mlxr_synth_logits_" + std::to_string(getpid())) / (arch + dtype_name(type));
  fs::remove_all(dir);
  fs::create_directories(dir);
  tools::SynthOptions o;
  o.shape = *tools::find_preset("tiny");
  o.shape.arch = arch;
  o.shape.qkv_bias = arch == "qwen2";
  o.type = type;
  o.seed = 11;
  o.stddev = 0.08f;  // larger weights than the default: logits spread out, argmax is decisive
  o.out = (dir / "m.gguf").string();
  ASSERT_TRUE(tools::synth_model(o));
  o.format = "safetensors";
  o.out = (dir / "hf").string();
  ASSERT_TRUE(tools::synth_model(o));

  Loaded g = load((dir / "m.gguf").string(), 64);
  Loaded h = load((dir / "hf").string(), 64);
  ASSERT_TRUE(g.model && h.model);
  std::vector<int32_t> ids = {1, 17, 300, 42, 5, 99, 250, 7, 511, 63, 128, 2, 77, 401, 33, 260, 90, 14, 222, 345};
  auto a = logits_of(g, ids);
  auto b = logits_of(h, ids);
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double(a[i]) - b[i]));
    max_abs = std::max(max_abs, std::fabs(double(b[i])));
  }
  EXPECT_GT(max_abs, 0.1) << "degenerate logits";
  EXPECT_LT(max_diff, 1e-4) << arch << " " << dtype_name(type) << " (max |logit| " << max_abs << ")";
  const int V = g.file->hparams.n_vocab;
  for (size_t p = 0; p < ids.size(); ++p) {
    auto arg = [&](const std::vector<float>& x) { return std::max_element(x.begin() + p * V, x.begin() + (p + 1) * V) - (x.begin() + p * V); };
    EXPECT_EQ(arg(a), arg(b)) << "position " << p;
  }
  fs::remove_all(dir.parent_path(), ec);
}

TEST(SynthLogits, LlamaF32) { expect_same_logits("llama", DType::F32); }
TEST(SynthLogits, LlamaF16) { expect_same_logits("llama", DType::F16); }
TEST(SynthLogits, Qwen2F32) { expect_same_logits("qwen2", DType::F32); }

}  // namespace
}  // namespace mlxr
