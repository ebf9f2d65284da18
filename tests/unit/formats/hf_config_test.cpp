// config.json in both spellings: transformers v5 (rope_parameters, dtype) and older hub
// checkpoints (rope_theta + rope_scaling, torch_dtype).
#include <gtest/gtest.h>

#include "core/formats/hf_config.h"

namespace mlxr {
namespace {

Expected<HfConfig> parse(const std::string& extra, const std::string& type = "llama") {
  std::string text = R"({"model_type":")" + type +
                     R"(","vocab_size":100,"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
                     R"("num_key_value_heads":2,"intermediate_size":128,"max_position_embeddings":4096)" +
                     (extra.empty() ? "" : "," + extra) + "}";
  auto j = Json::parse(text, "config.json");
  EXPECT_TRUE(j) << j.error();
  return parse_hf_config(*j, "config.json");
}

TEST(HfConfig, Defaults) {
  auto c = parse("");
  ASSERT_TRUE(c) << c.error();
  const auto& hp = c->hparams;
  EXPECT_EQ(hp.head_dim, 16);
  EXPECT_EQ(hp.rope.n_dims, 16);
  EXPECT_EQ(hp.rope.style, RopeStyle::kNeox);
  EXPECT_EQ(hp.rope.scaling, RopeScaling::kNone);
  EXPECT_FLOAT_EQ(hp.rope.theta, 10000.0f);
  EXPECT_FLOAT_EQ(hp.rms_eps, 1e-6f);
  EXPECT_FALSE(hp.tied_embeddings);
  EXPECT_EQ(hp.sliding_window, 0);
}

TEST(HfConfig, OldSpellings) {
  auto c = parse(R"("rope_theta":500000.0,"rope_scaling":{"type":"linear","factor":4.0},"torch_dtype":"bfloat16","tie_word_embeddings":true,"head_dim":32,"eos_token_id":[2,3])");
  ASSERT_TRUE(c) << c.error();
  EXPECT_FLOAT_EQ(c->hparams.rope.theta, 500000.0f);
  EXPECT_EQ(c->hparams.rope.scaling, RopeScaling::kLinear);
  EXPECT_FLOAT_EQ(c->hparams.rope.factor, 4.0f);
  EXPECT_EQ(c->dtype, "bfloat16");
  EXPECT_TRUE(c->hparams.tied_embeddings);
  EXPECT_EQ(c->hparams.head_dim, 32);
  EXPECT_EQ(c->hparams.rope.n_dims, 32);
  EXPECT_EQ(c->eos_token_id, -1);  // a list: left to the tokenizer config

  auto l3 = parse(R"("rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192})");
  ASSERT_TRUE(l3) << l3.error();
  EXPECT_EQ(l3->hparams.rope.scaling, RopeScaling::kLlama3);
  EXPECT_EQ(l3->hparams.rope.orig_ctx, 8192);
  EXPECT_FLOAT_EQ(l3->hparams.rope.factor, 32.0f);
}

TEST(HfConfig, NewSpellingsAndYarn) {
  auto c = parse(R"("rope_parameters":{"rope_type":"yarn","rope_theta":1000000.0,"factor":4.0,"original_max_position_embeddings":32768,"beta_fast":16,"beta_slow":2},"dtype":"float16")", "qwen2");
  ASSERT_TRUE(c) << c.error();
  const auto& r = c->hparams.rope;
  EXPECT_EQ(c->hparams.arch, "qwen2");
  EXPECT_EQ(r.scaling, RopeScaling::kYarn);
  EXPECT_FLOAT_EQ(r.theta, 1e6f);
  EXPECT_FLOAT_EQ(r.factor, 4.0f);
  EXPECT_EQ(r.orig_ctx, 32768);
  EXPECT_FLOAT_EQ(r.yarn_beta_fast, 16.0f);
  EXPECT_FLOAT_EQ(r.yarn_beta_slow, 2.0f);
  EXPECT_FLOAT_EQ(r.yarn_ext_factor, 1.0f);
  EXPECT_FLOAT_EQ(r.yarn_attn_factor, 1.0f);
  EXPECT_EQ(c->dtype, "float16");
  auto d = parse(R"("rope_parameters":{"rope_type":"default","rope_theta":20000.0})");
  ASSERT_TRUE(d) << d.error();
  EXPECT_FLOAT_EQ(d->hparams.rope.theta, 20000.0f);
}

TEST(HfConfig, SlidingWindow) {
  auto m = parse(R"("sliding_window":16)", "mistral");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->hparams.sliding_window, 16);
  auto q_off = parse(R"("sliding_window":16,"use_sliding_window":false)", "qwen2");
  ASSERT_TRUE(q_off);
  EXPECT_EQ(q_off->hparams.sliding_window, 0);
  auto q_on = parse(R"("sliding_window":16,"use_sliding_window":true)", "qwen2");
  ASSERT_TRUE(q_on);
  EXPECT_EQ(q_on->hparams.sliding_window, 16);
  auto big = parse(R"("sliding_window":4096)", "mistral");  // a window as long as the context is no window
  ASSERT_TRUE(big);
  EXPECT_EQ(big->hparams.sliding_window, 0);
  EXPECT_FALSE(parse(R"("sliding_window":-1)", "mistral"));
}

TEST(HfConfig, Mixtral) {
  auto c = parse(R"("num_local_experts":8,"num_experts_per_tok":2)", "mixtral");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->hparams.arch, "llama");
  EXPECT_EQ(c->hparams.n_expert, 8);
  EXPECT_EQ(c->hparams.n_expert_used, 2);
  auto bad = parse(R"("num_local_experts":2,"num_experts_per_tok":3)", "mixtral");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("num_experts_per_tok"), std::string::npos);
  EXPECT_FALSE(parse("", "mixtral"));
}

}  // namespace
}  // namespace mlxr
