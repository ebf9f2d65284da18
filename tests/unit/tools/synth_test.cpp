// mlxr synth / mlxr quantize: the same weights through GGUF and safetensors, llama.cpp-exact
// quantized tensors, a consistent tokenizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "core/base/fp16.h"
#include "core/formats/gguf.h"
#include "core/formats/model_file.h"
#include "core/quant/quant.h"
#include "tests/support/test_data.h"
#include "tools/synth/quantize.h"
#include "tools/synth/synth.h"
#include "tools/synth/types.h"
#include "tools/synth/vocab.h"

namespace mlxr {
namespace {
namespace fs = std::filesystem;
using tools::SynthOptions;

fs::path scratch(const std::string& name) {
  std::error_code ec;
  fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  auto d = base / ("mlxr_tools_" + std::to_string(getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

class Cleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch("x").parent_path(), ec);
  }
};
const auto* kCleanup = ::testing::AddGlobalTestEnvironment(new Cleanup);

std::vector<float> row_f32(const TensorView& t, int64_t r) {
  std::vector<float> out(static_cast<size_t>(t.ne[0]));
  dequantize_row(t.type, static_cast<const uint8_t*>(t.data) + static_cast<size_t>(r) * t.row_size(), out.data(), t.ne[0]);
  return out;
}

std::shared_ptr<ModelFile> synth_open(const std::string& preset, const std::string& arch, const std::string& format, DType type,
                                      uint64_t seed, const fs::path& out) {
  SynthOptions o;
  o.shape = *tools::find_preset(preset);
  o.shape.arch = arch;
  o.shape.qkv_bias = arch == "qwen2";
  o.format = format;
  o.type = type;
  o.seed = seed;
  o.out = out.string();
  auto st = tools::synth_model(o);
  EXPECT_TRUE(st) << st.message();
  auto m = open_model(out.string());
  EXPECT_TRUE(m) << m.error();
  return m ? *m : nullptr;
}

// The GGUF and the HF directory from one seed hold the same numbers: identical bytes except
// llama's q/k, whose GGUF rows are the HF rows in convert_hf_to_gguf's permuted order.
void expect_same_weights(const std::string& arch, DType type) {
  auto dir = scratch("same_" + arch + dtype_name(type));
  auto g = synth_open("tiny", arch, "gguf", type, 5, dir / "m.gguf");
  auto h = synth_open("tiny", arch, "safetensors", type, 5, dir / "hf");
  ASSERT_TRUE(g && h);
  EXPECT_EQ(g->hparams.arch, arch);
  EXPECT_EQ(h->hparams.arch, arch);
  EXPECT_EQ(h->hparams.rope.style, RopeStyle::kNeox);
  EXPECT_EQ(g->hparams.rope.style, arch == "llama" ? RopeStyle::kNormal : RopeStyle::kNeox);
  for (auto f : {&ModelHParams::n_vocab, &ModelHParams::n_embd, &ModelHParams::n_layer, &ModelHParams::n_head,
                 &ModelHParams::n_head_kv, &ModelHParams::head_dim, &ModelHParams::n_ff, &ModelHParams::n_ctx_train})
    EXPECT_EQ(g->hparams.*f, h->hparams.*f);
  EXPECT_FLOAT_EQ(g->hparams.rms_eps, h->hparams.rms_eps);
  EXPECT_FLOAT_EQ(g->hparams.rope.theta, h->hparams.rope.theta);
  EXPECT_EQ(g->hparams.tied_embeddings, h->hparams.tied_embeddings);
  ASSERT_EQ(g->tensors.size(), h->tensors.size());
  int permuted = 0;
  for (const auto& [name, gt] : g->tensors) {
    const TensorView* ht = h->find(name);
    ASSERT_NE(ht, nullptr) << name;
    ASSERT_EQ(gt.ne, ht->ne) << name;
    const bool qk = arch == "llama" && (name.find("attn_q.weight") != std::string::npos || name.find("attn_k.weight") != std::string::npos);
    const int heads = name.find("attn_q") != std::string::npos ? g->hparams.n_head : g->hparams.n_head_kv;
    for (int64_t r = 0; r < gt.rows(); ++r) {
      int64_t hr = qk ? tools::permuted_source_row(r, gt.rows(), heads) : r;
      permuted += hr != r;
      auto a = row_f32(gt, r);
      auto b = row_f32(*ht, hr);
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << name << " row " << r;
    }
  }
  if (arch == "llama") {
    EXPECT_GT(permuted, 0);
  }
}

TEST(Synth, SameWeightsInBothFormatsLlamaF32) { expect_same_weights("llama", DType::F32); }
TEST(Synth, SameWeightsInBothFormatsLlamaF16) { expect_same_weights("llama", DType::F16); }
TEST(Synth, SameWeightsInBothFormatsQwen2BF16) { expect_same_weights("qwen2", DType::BF16); }

TEST(Synth, PermutationMatchesConvertHfToGguf) {
  // numpy: w.reshape(n_head, 2, hd/2).swapaxes(1, 2).reshape(-1) for 2 heads of 8 rows.
  const int64_t want[] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
  for (int64_t r = 0; r < 16; ++r) EXPECT_EQ(tools::permuted_source_row(r, 16, 2), want[r]) << r;
}

TEST(Synth, DeterministicFromSeed) {
  auto dir = scratch("seed");
  SynthOptions o;
  o.shape = *tools::find_preset("tiny");
  o.type = DType::Q8_0;
  auto bytes = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(f)), {});
  };
  o.seed = 3;
  o.out = (dir / "a.gguf").string();
  ASSERT_TRUE(tools::synth_model(o));
  o.out = (dir / "b.gguf").string();
  ASSERT_TRUE(tools::synth_model(o));
  o.seed = 4;
  o.out = (dir / "c.gguf").string();
  ASSERT_TRUE(tools::synth_model(o));
  EXPECT_TRUE(bytes(dir / "a.gguf") == bytes(dir / "b.gguf"));
  EXPECT_FALSE(bytes(dir / "a.gguf") == bytes(dir / "c.gguf"));
}

// Weights look like N(0, 0.02) and norms like 1 + N(0, 0.02).
TEST(Synth, WeightStatistics) {
  auto dir = scratch("stats");
  auto m = synth_open("small", "llama", "gguf", DType::F32, 9, dir / "m.gguf");
  ASSERT_TRUE(m);
  auto stats = [&](const std::string& name) {
    const TensorView* t = m->find(name);
    const float* p = static_cast<const float*>(t->data);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->n_elements(); ++i) {
      s += p[i];
      s2 += double(p[i]) * p[i];
    }
    double mean = s / t->n_elements();
    return std::pair<double, double>(mean, std::sqrt(s2 / t->n_elements() - mean * mean));
  };
  auto [wm, ws] = stats("blk.1.ffn_up.weight");
  EXPECT_NEAR(wm, 0.0, 1e-3);
  EXPECT_NEAR(ws, 0.02, 5e-4);
  auto [nm, ns] = stats("blk.0.attn_norm.weight");
  EXPECT_NEAR(nm, 1.0, 0.01);
  EXPECT_NEAR(ns, 0.02, 0.01);
}

// Quantized synth: every matrix is the requested type (or llama-quantize's fallback), and its
// values are the F32 model's within the type's error.
TEST(Synth, QuantizedTypesAndFallbacks) {
  auto dir = scratch("quant");
  auto f32 = synth_open("small", "llama", "gguf", DType::F32, 2, dir / "f32.gguf");
  auto q4k = synth_open("small", "llama", "gguf", DType::Q4_K, 2, dir / "q4k.gguf");
  ASSERT_TRUE(f32 && q4k);
  EXPECT_EQ(q4k->gguf->get_int("general.file_type"), 14);
  EXPECT_EQ(q4k->gguf->get_int("general.quantization_version"), 2);
  for (const auto& [name, t] : q4k->tensors) {
    if (t.n_dims == 1) {
      EXPECT_EQ(t.type, DType::F32) << name;
      continue;
    }
    EXPECT_EQ(t.type, DType::Q4_K) << name;
    double err = 0, ref = 0;
    for (int64_t r = 0; r < std::min<int64_t>(t.rows(), 8); ++r) {
      auto a = row_f32(t, r), b = row_f32(*f32->find(name), r);
      for (size_t i = 0; i < a.size(); ++i) {
        err += (a[i] - b[i]) * (a[i] - b[i]);
        ref += b[i] * b[i];
      }
    }
    EXPECT_LT(std::sqrt(err / ref), 0.12) << name;  // 4.5 bits per weight
  }
  // tiny's 64-wide rows cannot hold Q4_K blocks: llama-quantize's fallback applies.
  auto tiny = synth_open("tiny", "llama", "gguf", DType::Q4_K, 2, dir / "tiny.gguf");
  ASSERT_TRUE(tiny);
  EXPECT_EQ(tiny->find("blk.0.attn_q.weight")->type, tools::fallback_type(DType::Q4_K, 64));
  EXPECT_NE(tools::fallback_type(DType::Q4_K, 64), DType::Q4_K);
  EXPECT_EQ(tools::fallback_type(DType::Q8_0, 172), DType::F16);
  EXPECT_EQ(tools::fallback_type(DType::Q6_K, 64), DType::Q8_0);
  EXPECT_EQ(tools::fallback_type(DType::Q4_0, 4096), DType::Q4_0);
}

// The GGUF tokenizer: llama SPM metadata, every id's type right, every piece buildable by merges.
TEST(Synth, VocabularyIsConsistent) {
  for (int n : {259, 512, 32000, 151936}) {
    auto v = tools::make_vocab(n);
    ASSERT_TRUE(v) << v.error();
    ASSERT_EQ(v->tokens.size(), static_cast<size_t>(n));
    std::set<std::string> seen(v->tokens.begin(), v->tokens.end());
    EXPECT_EQ(seen.size(), v->tokens.size()) << "duplicate tokens at n=" << n;
    EXPECT_EQ(v->tokens[0], "<unk>");
    EXPECT_EQ(v->tokens[1], "<s>");
    EXPECT_EQ(v->tokens[2], "</s>");
    EXPECT_EQ(v->tokens[3 + 0x0A], "<0x0A>");
    EXPECT_EQ(v->types[3 + 255], 6);
    for (const auto& [a, b] : v->merges) {
      ASSERT_TRUE(seen.count(a) && seen.count(b) && seen.count(a + b)) << a << " + " << b;
    }
  }
  EXPECT_FALSE(tools::make_vocab(258));
  auto dir = scratch("vocab");
  auto m = synth_open("tiny", "llama", "gguf", DType::F16, 1, dir / "m.gguf");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->gguf->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(m->gguf->find("tokenizer.ggml.tokens")->strs.size(), 512u);
  EXPECT_EQ(m->gguf->find("tokenizer.ggml.scores")->floats.size(), 512u);
  EXPECT_EQ(m->gguf->find("tokenizer.ggml.token_type")->ints.size(), 512u);
  EXPECT_EQ(m->gguf->get_int("tokenizer.ggml.bos_token_id"), 1);
}

// llama-quantize made stories260K-Q6_K.gguf from the F32 file; our quantize of the same file
// must choose the same type for every tensor and produce the same bytes.
TEST(Quantize, MatchesLlamaQuantizeOnStories) {
  MLXR_REQUIRE_DATA("stories260K/stories260K-Q6_K.gguf");
  auto dir = scratch("q6k");
  const std::string out = (dir / "q6k.gguf").string();
  ASSERT_TRUE(tools::quantize_gguf(testing::data_path("stories260K/stories260K-f32.gguf"), out, DType::Q6_K));
  auto ours = GgufFile::open(out);
  auto ref = GgufFile::open(testing::data_path("stories260K/stories260K-Q6_K.gguf"));
  ASSERT_TRUE(ours && ref);
  EXPECT_EQ((*ours)->get_int("general.file_type"), 18);
  EXPECT_EQ((*ours)->get_int("general.quantization_version"), 2);
  ASSERT_EQ((*ours)->tensors().size(), (*ref)->tensors().size());
  for (const auto& t : (*ref)->tensors()) {
    const TensorView* u = (*ours)->tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type) << t.name;
    ASSERT_EQ(u->nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name << " (" << dtype_name(t.type) << ")";
  }
  // All metadata copied (plus file_type / quantization_version, which llama-quantize also sets).
  for (const auto& k : (*ref)->key_order()) EXPECT_NE((*ours)->find(k), nullptr) << k;
}

// Q4_K_M is a mixture; wherever llama-quantize picked the type our pure Q4_K picks (Q5_0 for
// the 64-wide rows, F16 for ffn_down), the bytes must agree.
TEST(Quantize, SharedTypesMatchLlamaQuantizeQ4KM) {
  MLXR_REQUIRE_DATA("stories260K/stories260K-Q4_K_M.gguf");
  auto dir = scratch("q4k");
  const std::string out = (dir / "q4k.gguf").string();
  ASSERT_TRUE(tools::quantize_gguf(testing::data_path("stories260K/stories260K-f32.gguf"), out, DType::Q4_K));
  auto ours = GgufFile::open(out);
  auto ref = GgufFile::open(testing::data_path("stories260K/stories260K-Q4_K_M.gguf"));
  ASSERT_TRUE(ours && ref);
  int compared = 0;
  for (const auto& t : (*ref)->tensors()) {
    const TensorView* u = (*ours)->tensor(t.name);
    ASSERT_NE(u, nullptr);
    if (u->type != t.type) continue;
    ++compared;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name << " (" << dtype_name(t.type) << ")";
  }
  EXPECT_GE(compared, 40);
}

TEST(Quantize, RequantizesSynthAndKeepsNorms) {
  auto dir = scratch("requant");
  SynthOptions o;
  o.shape = *tools::find_preset("small");
  o.type = DType::F16;
  o.out = (dir / "f16.gguf").string();
  ASSERT_TRUE(tools::synth_model(o));
  const std::string out = (dir / "q8.gguf").string();
  ASSERT_TRUE(tools::quantize_gguf(o.out, out, DType::Q8_0));
  auto a = GgufFile::open(o.out);
  auto b = GgufFile::open(out);
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*b)->metadata().size(), (*a)->metadata().size() + 1);  // + quantization_version
  EXPECT_EQ((*b)->get_int("general.file_type"), 7);
  for (const auto& t : (*b)->tensors()) {
    const TensorView* s = (*a)->tensor(t.name);
    if (t.n_dims == 1) {
      EXPECT_EQ(t.type, DType::F32) << t.name;
      EXPECT_EQ(std::memcmp(t.data, s->data, t.nbytes), 0) << t.name;
    } else {
      EXPECT_EQ(t.type, DType::Q8_0) << t.name;
      auto x = row_f32(t, 1), y = row_f32(*s, 1);
      for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], 0.02 * 0.05) << t.name;
    }
  }
  EXPECT_FALSE(tools::quantize_gguf(out, out, DType::Q4_0));
  EXPECT_FALSE(tools::quantize_gguf((dir / "missing.gguf").string(), (dir / "x.gguf").string(), DType::Q4_0));
}

}  // namespace
}  // namespace mlxr
