// The safetensors and llama2.c loaders against the shared data, with independent oracles:
// the same weights arrive through a second path (the sharded copy, the llama.cpp-converted
// GGUF, a header parsed by nlohmann-json).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/formats/gguf.h"
#include "core/formats/model_file.h"
#include "core/formats/safetensors.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

bool same_bytes(const TensorView& a, const TensorView& b) {
  return a.type == b.type && a.ne == b.ne && a.nbytes == b.nbytes && std::memcmp(a.data, b.data, a.nbytes) == 0;
}

std::shared_ptr<ModelFile> open_hf(const std::string& family) {
  auto m = open_model(testing::data_path("hf-tiny/" + family));
  EXPECT_TRUE(m) << m.error();
  return m ? *m : nullptr;
}

TEST(SafetensorsModel, LlamaHParamsAndNames) {
  MLXR_REQUIRE_DATA("hf-tiny/llama/config.json");
  auto m = open_hf("llama");
  ASSERT_TRUE(m);
  const auto& hp = m->hparams;
  EXPECT_EQ(m->format, "safetensors");
  EXPECT_EQ(hp.arch, "llama");
  EXPECT_EQ(hp.n_vocab, 512);
  EXPECT_EQ(hp.n_embd, 64);
  EXPECT_EQ(hp.n_layer, 2);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.head_dim, 16);
  EXPECT_EQ(hp.n_ctx_train, 512);
  EXPECT_FALSE(hp.tied_embeddings);
  EXPECT_EQ(hp.rope.style, RopeStyle::kNeox);
  EXPECT_EQ(hp.rope.scaling, RopeScaling::kNone);
  EXPECT_FLOAT_EQ(hp.rope.theta, 10000.0f);
  EXPECT_EQ(hp.rope.n_dims, 16);
  EXPECT_EQ(hp.sliding_window, 0);
  // 2 layers x 9 tensors + embd + norm + output.
  EXPECT_EQ(m->tensors.size(), 21u);
  auto q = m->require("blk.1.attn_q.weight", {64, 64});
  EXPECT_TRUE(q) << q.error();
  auto k = m->require("blk.0.attn_k.weight", {64, 32});
  EXPECT_TRUE(k) << k.error();
  auto o = m->require("output.weight", {64, 512});
  EXPECT_TRUE(o) << o.error();
  EXPECT_TRUE(m->require("blk.0.ffn_down.weight", {160, 64}));
  EXPECT_TRUE(m->require("blk.0.attn_norm.weight", {64}));
  EXPECT_EQ(m->tokenizer.kind, TokenizerSource::kNone);
}

// An independent parse of the safetensors header: every view points at the bytes nlohmann-json
// says the tensor has.
TEST(SafetensorsModel, ViewsMatchIndependentHeaderParse) {
  MLXR_REQUIRE_DATA("hf-tiny/qwen2/model.safetensors");
  auto m = open_hf("qwen2");
  ASSERT_TRUE(m);
  std::ifstream in(testing::data_path("hf-tiny/qwen2/model.safetensors"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  auto hdr = nlohmann::json::parse(std::string(bytes.data() + 8, n));
  static const std::map<std::string, std::string> kNames = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.layers.1.self_attn.q_proj.bias", "blk.1.attn_q.bias"},
      {"model.layers.0.self_attn.k_proj.bias", "blk.0.attn_k.bias"},
      {"model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight"},
      {"model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"},
      {"model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (const auto& [hf, gg] : kNames) {
    auto* t = m->find(gg);
    ASSERT_NE(t, nullptr) << gg;
    auto e = hdr.at(hf);
    uint64_t b = e["data_offsets"][0], end = e["data_offsets"][1];
    EXPECT_EQ(t->nbytes, end - b) << gg;
    EXPECT_EQ(std::memcmp(t->data, bytes.data() + 8 + n + b, t->nbytes), 0) << gg;
    auto shape = e["shape"].get<std::vector<int64_t>>();
    for (size_t d = 0; d < shape.size(); ++d) EXPECT_EQ(t->ne[d], shape[shape.size() - 1 - d]) << gg;
  }
  EXPECT_EQ(m->find("blk.0.attn_output.bias"), nullptr);  // o_proj has no bias in Qwen2
  EXPECT_EQ(m->hparams.arch, "qwen2");
  EXPECT_FLOAT_EQ(m->hparams.rope.theta, 1e6f);
  EXPECT_FLOAT_EQ(m->hparams.rms_eps, 1e-6f);
  EXPECT_EQ(m->hparams.sliding_window, 0);  // use_sliding_window: false
}

TEST(SafetensorsModel, ShardedEqualsSingleFile) {
  MLXR_REQUIRE_DATA("hf-tiny/llama-sharded/model.safetensors.index.json");
  auto a = open_hf("llama");
  auto b = open_hf("llama-sharded");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  for (const auto& [name, t] : a->tensors) {
    auto* u = b->find(name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_TRUE(same_bytes(t, *u)) << name;
  }
}

TEST(SafetensorsModel, Llama3RopeTied) {
  MLXR_REQUIRE_DATA("hf-tiny/llama3-rope-tied/config.json");
  auto m = open_hf("llama3-rope-tied");
  ASSERT_TRUE(m);
  const auto& r = m->hparams.rope;
  EXPECT_TRUE(m->hparams.tied_embeddings);
  EXPECT_EQ(m->find("output.weight"), nullptr);
  EXPECT_EQ(r.scaling, RopeScaling::kLlama3);
  EXPECT_FLOAT_EQ(r.factor, 8.0f);
  EXPECT_FLOAT_EQ(r.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(r.high_freq_factor, 4.0f);
  EXPECT_EQ(r.orig_ctx, 64);
  EXPECT_EQ(m->hparams.n_ff, 160);
}

TEST(SafetensorsModel, MistralSlidingWindow) {
  MLXR_REQUIRE_DATA("hf-tiny/mistral/config.json");
  auto m = open_hf("mistral");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->hparams.arch, "mistral");
  EXPECT_EQ(m->hparams.sliding_window, 16);
}

TEST(SafetensorsModel, MixtralExperts) {
  MLXR_REQUIRE_DATA("hf-tiny/mixtral/config.json");
  auto m = open_hf("mixtral");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->hparams.n_expert, 4);
  EXPECT_EQ(m->hparams.n_expert_used, 2);
  EXPECT_TRUE(m->require("blk.1.ffn_gate_inp.weight", {64, 4}));
  for (int e = 0; e < 4; ++e) {
    std::string s = std::to_string(e);
    EXPECT_TRUE(m->require("blk.0.ffn_gate." + s + ".weight", {64, 48})) << e;
    EXPECT_TRUE(m->require("blk.0.ffn_up." + s + ".weight", {64, 48})) << e;
    EXPECT_TRUE(m->require("blk.0.ffn_down." + s + ".weight", {48, 64})) << e;
  }
  EXPECT_EQ(m->find("blk.0.ffn_gate.weight"), nullptr);
}

TEST(SafetensorsModel, NameMapping) {
  EXPECT_EQ(hf_to_gguf_name("model.layers.12.self_attn.o_proj.weight"), "blk.12.attn_output.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.0.mlp.gate_proj.weight"), "blk.0.ffn_gate.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.3.input_layernorm.weight"), "blk.3.attn_norm.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.1.block_sparse_moe.experts.7.w2.weight"), "blk.1.ffn_down.7.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.x.mlp.up_proj.weight"), "");
  EXPECT_EQ(hf_to_gguf_name("model.layers.1.self_attn.q_proj"), "");
  EXPECT_EQ(hf_to_gguf_name("model.layers.1.block_sparse_moe.experts.1.w4.weight"), "");
}

// llama.cpp's converter copies llama2.c weights verbatim: every tensor of the .bin must equal
// the F32 GGUF's (whose output.weight is a copy of the shared classifier).
TEST(Llama2cModel, StoriesEqualsConvertedGguf) {
  MLXR_REQUIRE_DATA("stories260K/stories260K.bin");
  auto m = open_model(testing::data_path("stories260K/stories260K.bin"));
  ASSERT_TRUE(m) << m.error();
  auto g = open_model(testing::data_path("stories260K/stories260K-f32.gguf"));
  ASSERT_TRUE(g) << g.error();
  const auto& hp = (*m)->hparams;
  EXPECT_EQ((*m)->format, "llama2c");
  EXPECT_EQ(hp.n_embd, 64);
  EXPECT_EQ(hp.n_ff, 172);
  EXPECT_EQ(hp.n_layer, 5);
  EXPECT_EQ(hp.n_head, 8);
  EXPECT_EQ(hp.n_head_kv, 4);
  EXPECT_EQ(hp.head_dim, 8);
  EXPECT_EQ(hp.n_vocab, 512);
  EXPECT_EQ(hp.n_ctx_train, 512);
  EXPECT_EQ(hp.rope.style, RopeStyle::kNormal);
  EXPECT_EQ(hp.rope.n_dims, 8);
  EXPECT_TRUE(hp.tied_embeddings);
  EXPECT_EQ((*m)->tensors.size(), 47u);
  for (const auto& [name, t] : (*m)->tensors) {
    auto* u = (*g)->find(name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_TRUE(same_bytes(t, *u)) << name;
  }
  EXPECT_TRUE(same_bytes(*(*m)->find("token_embd.weight"), *(*g)->find("output.weight")));
  EXPECT_EQ((*m)->tokenizer.kind, TokenizerSource::kLlama2cBin);
  EXPECT_EQ(std::filesystem::path((*m)->tokenizer.path).filename(), "tok512.bin");
}

}  // namespace
}  // namespace mlxr
