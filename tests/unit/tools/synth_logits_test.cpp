// The same synthetic weights through GGUF (q/k permuted, normal RoPE) and through an HF
// directory (rotate_half RoPE) give the same logits and the same greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "tests/support/model_harness.h"
#include "tools/synth/synth.h"

namespace mlxr {
namespace {
namespace fs = std::filesystem;

using testing::LoadedModel;
using testing::load_for_test;
using testing::logits_of;

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

  LoadedModel g = load_for_test((dir / "m.gguf").string(), 64);
  LoadedModel h = load_for_test((dir / "hf").string(), 64);
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
  // F16 weights meet activations rounded to F16 (as in llama.cpp), so the permuted attention
  // sums' last-bit differences can flip one F16 rounding: allow a few F16 ulps of the logits.
  const double tol = type == DType::F32 ? 1e-4 : 4 * max_abs * 0x1p-11;
  EXPECT_LT(max_diff, tol) << arch << " " << dtype_name(type) << " (max |logit| " << max_abs << ")";
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
