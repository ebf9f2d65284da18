// GGUF -> ModelFile: hyperparameters from `<arch>.*` keys, tensors used in place.
#include <cmath>

#include "core/formats/model_file.h"

namespace mlxr {
namespace {

Expected<int> require_int(const GgufFile& g, const std::string& key) {
  auto v = g.get_int(key);
  if (!v) return make_error("gguf: " + g.path() + ": missing or non-integer key '" + key + "'");
  if (*v <= 0 || *v > (int64_t{1} << 30)) return make_error("gguf: " + g.path() + ": key '" + key + "' has invalid value " + std::to_string(*v));
  return static_cast<int>(*v);
}

}  // namespace

Expected<std::shared_ptr<ModelFile>> open_gguf_model(const std::string& path) {
  auto gf = GgufFile::open(path);
  if (!gf) return gf.status();
  const GgufFile& g = **gf;
  auto m = std::make_shared<ModelFile>();
  m->path = path;
  m->format = "gguf";
  m->gguf = *gf;
  m->tokenizer = {TokenizerSource::kGguf, path, ""};
  for (const auto& t : g.tensors()) m->tensors[t.name] = t;

  auto arch = g.get_string("general.architecture");
  if (!arch) return make_error("gguf: " + path + ": missing 'general.architecture'");
  auto& hp = m->hparams;
  hp.arch = *arch;
  const std::string a = *arch + ".";
  MLXR_ASSIGN_OR_RETURN(hp.n_embd, require_int(g, a + "embedding_length"));
  MLXR_ASSIGN_OR_RETURN(hp.n_layer, require_int(g, a + "block_count"));
  MLXR_ASSIGN_OR_RETURN(hp.n_head, require_int(g, a + "attention.head_count"));
  MLXR_ASSIGN_OR_RETURN(hp.n_ff, require_int(g, a + "feed_forward_length"));
  hp.n_head_kv = static_cast<int>(g.get_int(a + "attention.head_count_kv").value_or(hp.n_head));
  hp.n_ctx_train = static_cast<int>(g.get_int(a + "context_length").value_or(2048));
  hp.head_dim = static_cast<int>(g.get_int(a + "attention.key_length").value_or(hp.n_embd / hp.n_head));
  hp.rms_eps = static_cast<float>(g.get_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  hp.sliding_window = static_cast<int>(g.get_int(a + "attention.sliding_window").value_or(0));
  hp.n_expert = static_cast<int>(g.get_int(a + "expert_count").value_or(0));
  hp.n_expert_used = static_cast<int>(g.get_int(a + "expert_used_count").value_or(0));
  if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0)
    return make_error("gguf: " + path + ": head_count " + std::to_string(hp.n_head) + " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
  if (hp.head_dim <= 0 || hp.head_dim % 2 != 0) return make_error("gguf: " + path + ": invalid head dimension");

  auto& rope = hp.rope;
  rope.style = *arch == "qwen2" ? RopeStyle::kNeox : RopeStyle::kNormal;
  rope.theta = static_cast<float>(g.get_float(a + "rope.freq_base").value_or(10000.0));
  rope.n_dims = static_cast<int>(g.get_int(a + "rope.dimension_count").value_or(hp.head_dim));
  if (rope.n_dims <= 0 || rope.n_dims > hp.head_dim || rope.n_dims % 2) return make_error("gguf: " + path + ": invalid rope.dimension_count");
  auto scaling = g.get_string(a + "rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    rope.scaling = RopeScaling::kLinear;
  } else if (scaling == "yarn") {
    rope.scaling = RopeScaling::kYarn;
  } else if (scaling != "none") {
    return make_error("gguf: " + path + ": unsupported rope scaling '" + scaling + "'");
  }
  if (rope.scaling != RopeScaling::kNone) {
    rope.factor = static_cast<float>(g.get_float(a + "rope.scaling.factor").value_or(1.0));
    rope.orig_ctx = static_cast<int>(g.get_int(a + "rope.scaling.original_context_length").value_or(hp.n_ctx_train));
  }

  auto emb = m->find("token_embd.weight");
  if (!emb) return make_error("gguf: " + path + ": missing tensor 'token_embd.weight'");
  hp.n_vocab = static_cast<int>(emb->ne[1]);
  hp.tied_embeddings = m->find("output.weight") == nullptr;
  return m;
}

}  // namespace mlxr
