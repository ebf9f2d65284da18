#include "core/formats/hf_config.h"

#include <cmath>

#include "core/base/mmap_file.h"

namespace mlxr {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 24;

class Reader {
 public:
  Reader(const Json& root, const std::string& what) : root_(root), what_(what) {}

  Error fail(const std::string& msg) const { return make_error("config: " + what_ + ": " + msg); }

  // A positive integer in [1, kMaxDim]; `def` < 0 means required.
  Expected<int> pos_int(const Json& obj, const char* key, int64_t def = -1) const {
    const Json* v = obj.find_non_null(key);
    if (!v) {
      if (def < 0) return fail("missing required key '" + std::string(key) + "'");
      return static_cast<int>(def);
    }
    auto x = v->exact_int();
    if (!x || *x < 1 || *x > kMaxDim) return fail("key '" + std::string(key) + "' must be a positive integer");
    return static_cast<int>(*x);
  }

  Expected<double> num(const Json& obj, const char* key, double def) const {
    const Json* v = obj.find_non_null(key);
    if (!v) return def;
    if (!v->is_number() || !std::isfinite(v->as_double())) return fail("key '" + std::string(key) + "' must be a finite number");
    return v->as_double();
  }

  const Json& root() const { return root_; }

 private:
  const Json& root_;
  const std::string& what_;
};

Status parse_rope(const Reader& r, const Json& root, HfConfig& cfg) {
  auto& hp = cfg.hparams;
  auto& rope = hp.rope;
  // HF llama/mistral/qwen2 q/k weights are laid out for rotate_half.
  rope.style = RopeStyle::kNeox;
  // v5: rope_parameters {rope_type, rope_theta, ...}; older: rope_theta + rope_scaling {type|rope_type}.
  const Json* params = root.find_non_null("rope_parameters");
  if (params && !params->is_object()) return r.fail("'rope_parameters' must be an object");
  const Json* scaling = params ? params : root.find_non_null("rope_scaling");
  if (scaling && !scaling->is_object()) return r.fail("'rope_scaling' must be an object");

  double theta = 10000.0;
  {
    auto t = r.num(root, "rope_theta", 10000.0);
    if (!t) return t.status();
    theta = *t;
    if (params) {
      auto t2 = r.num(*params, "rope_theta", theta);
      if (!t2) return t2.status();
      theta = *t2;
    }
  }
  if (!(theta > 0)) return r.fail("rope_theta must be positive");
  rope.theta = static_cast<float>(theta);

  double partial = 1.0;
  auto pr = r.num(root, "partial_rotary_factor", 1.0);
  if (!pr) return pr.status();
  partial = *pr;
  if (params) {
    auto p2 = r.num(*params, "partial_rotary_factor", partial);
    if (!p2) return p2.status();
    partial = *p2;
  }
  if (!(partial > 0 && partial <= 1)) return r.fail("partial_rotary_factor must be in (0, 1]");
  rope.n_dims = static_cast<int>(hp.head_dim * partial);
  rope.n_dims -= rope.n_dims % 2;
  if (rope.n_dims <= 0) return r.fail("no rotary dimensions");

  if (!scaling) return Status::ok();
  std::string type = "default";
  if (const Json* t = scaling->find_non_null("rope_type")) {
    if (!t->is_string()) return r.fail("rope_type must be a string");
    type = t->as_string();
  } else if (const Json* t2 = scaling->find_non_null("type")) {
    if (!t2->is_string()) return r.fail("rope scaling 'type' must be a string");
    type = t2->as_string();
  }
  auto factor = r.num(*scaling, "factor", 1.0);
  if (!factor) return factor.status();
  if (!(*factor > 0)) return r.fail("rope scaling factor must be positive");
  auto orig = r.pos_int(*scaling, "original_max_position_embeddings", hp.n_ctx_train);
  if (!orig) return orig.status();

  if (type == "default") {
    return Status::ok();
  } else if (type == "linear") {
    rope.scaling = RopeScaling::kLinear;
    rope.factor = static_cast<float>(*factor);
  } else if (type == "llama3") {
    rope.scaling = RopeScaling::kLlama3;
    rope.factor = static_cast<float>(*factor);
    rope.orig_ctx = *orig;
    auto lo = r.num(*scaling, "low_freq_factor", 1.0);
    auto hi = r.num(*scaling, "high_freq_factor", 4.0);
    if (!lo) return lo.status();
    if (!hi) return hi.status();
    if (!(*hi > *lo && *lo > 0)) return r.fail("llama3 rope needs high_freq_factor > low_freq_factor > 0");
    rope.low_freq_factor = static_cast<float>(*lo);
    rope.high_freq_factor = static_cast<float>(*hi);
  } else if (type == "yarn") {
    rope.scaling = RopeScaling::kYarn;
    rope.factor = static_cast<float>(*factor);
    rope.orig_ctx = *orig;
    auto bf = r.num(*scaling, "beta_fast", 32.0);
    auto bs = r.num(*scaling, "beta_slow", 1.0);
    if (!bf) return bf.status();
    if (!bs) return bs.status();
    rope.yarn_beta_fast = static_cast<float>(*bf);
    rope.yarn_beta_slow = static_cast<float>(*bs);
    rope.yarn_ext_factor = 1.0f;
    // HF's attention_factor is the whole mscale; llama.cpp multiplies its own
    // 0.1*ln(factor)+1 by attn_factor, so store the ratio.
    if (const Json* af = scaling->find_non_null("attention_factor")) {
      if (!af->is_number() || !(af->as_double() > 0)) return r.fail("yarn attention_factor must be positive");
      double base = *factor > 1 ? 0.1 * std::log(*factor) + 1.0 : 1.0;
      rope.yarn_attn_factor = static_cast<float>(af->as_double() / base);
    }
  } else {
    return r.fail("unsupported rope type '" + type + "' (supported: default, linear, llama3, yarn)");
  }
  return Status::ok();
}

}  // namespace

Expected<HfConfig> parse_hf_config(const Json& root, const std::string& what) {
  Reader r(root, what);
  if (!root.is_object()) return r.fail("not a JSON object");
  HfConfig cfg;
  const Json* mt = root.find_non_null("model_type");
  if (!mt || !mt->is_string()) return r.fail("missing 'model_type'");
  cfg.model_type = mt->as_string();
  auto& hp = cfg.hparams;
  if (cfg.model_type == "llama" || cfg.model_type == "mixtral") {
    hp.arch = "llama";  // GGUF stores Mixtral as llama with experts, too
  } else if (cfg.model_type == "mistral" || cfg.model_type == "qwen2") {
    hp.arch = cfg.model_type;
  } else {
    return r.fail("unsupported model_type '" + cfg.model_type + "' (supported: llama, mistral, qwen2, mixtral)");
  }

  MLXR_ASSIGN_OR_RETURN(hp.n_vocab, r.pos_int(root, "vocab_size"));
  MLXR_ASSIGN_OR_RETURN(hp.n_embd, r.pos_int(root, "hidden_size"));
  MLXR_ASSIGN_OR_RETURN(hp.n_layer, r.pos_int(root, "num_hidden_layers"));
  MLXR_ASSIGN_OR_RETURN(hp.n_head, r.pos_int(root, "num_attention_heads"));
  MLXR_ASSIGN_OR_RETURN(hp.n_head_kv, r.pos_int(root, "num_key_value_heads", hp.n_head));
  MLXR_ASSIGN_OR_RETURN(hp.n_ff, r.pos_int(root, "intermediate_size"));
  MLXR_ASSIGN_OR_RETURN(hp.n_ctx_train, r.pos_int(root, "max_position_embeddings", 2048));
  if (hp.n_head % hp.n_head_kv != 0)
    return r.fail("num_attention_heads " + std::to_string(hp.n_head) + " is not a multiple of num_key_value_heads " + std::to_string(hp.n_head_kv));
  if (hp.n_embd % hp.n_head != 0 && !root.find_non_null("head_dim"))
    return r.fail("hidden_size is not a multiple of num_attention_heads and no head_dim is given");
  MLXR_ASSIGN_OR_RETURN(hp.head_dim, r.pos_int(root, "head_dim", hp.n_embd / hp.n_head));
  if (hp.head_dim % 2 != 0) return r.fail("head_dim must be even");
  auto eps = r.num(root, "rms_norm_eps", 1e-6);
  if (!eps) return eps.status();
  if (!(*eps > 0 && *eps < 1)) return r.fail("rms_norm_eps must be in (0, 1)");
  hp.rms_eps = static_cast<float>(*eps);

  if (const Json* t = root.find_non_null("tie_word_embeddings")) {
    if (!t->is_bool()) return r.fail("tie_word_embeddings must be a bool");
    cfg.tie_word_embeddings = t->as_bool();
  }
  hp.tied_embeddings = cfg.tie_word_embeddings;

  // Sliding window: mistral uses it whenever set; qwen2 only with use_sliding_window.
  if (const Json* sw = root.find_non_null("sliding_window")) {
    auto w = sw->exact_int();
    if (!w || *w < 0) return r.fail("sliding_window must be a non-negative integer or null");
    bool use = cfg.model_type != "qwen2";
    if (const Json* u = root.find_non_null("use_sliding_window")) {
      if (!u->is_bool()) return r.fail("use_sliding_window must be a bool");
      use = u->as_bool();
    }
    if (use && *w < hp.n_ctx_train) hp.sliding_window = static_cast<int>(*w);
  }

  if (cfg.model_type == "mixtral") {
    MLXR_ASSIGN_OR_RETURN(hp.n_expert, r.pos_int(root, "num_local_experts"));
    MLXR_ASSIGN_OR_RETURN(hp.n_expert_used, r.pos_int(root, "num_experts_per_tok"));
    if (hp.n_expert_used > hp.n_expert) return r.fail("num_experts_per_tok exceeds num_local_experts");
  }

  const Json* dt = root.find_non_null("dtype");
  if (!dt) dt = root.find_non_null("torch_dtype");
  if (dt && dt->is_string()) cfg.dtype = dt->as_string();
  if (const Json* b = root.find_non_null("bos_token_id"); b && b->exact_int()) cfg.bos_token_id = static_cast<int>(*b->exact_int());
  if (const Json* e = root.find_non_null("eos_token_id"); e && e->exact_int()) cfg.eos_token_id = static_cast<int>(*e->exact_int());

  auto st = parse_rope(r, root, cfg);
  if (!st) return st;
  return cfg;
}

Expected<HfConfig> load_hf_config(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return make_error("config: " + text.error());
  auto doc = Json::parse(*text, "config: " + path);
  if (!doc) return doc.status();
  return parse_hf_config(*doc, path);
}

}  // namespace mlxr
