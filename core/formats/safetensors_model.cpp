// HF directory -> ModelFile: config.json for hyperparameters, model.safetensors (or the shards
// listed in model.safetensors.index.json) for tensors, renamed to GGUF names and used in place.
#include <cstring>
#include <filesystem>
#include <set>

#include "core/formats/hf_config.h"
#include "core/base/json.h"
#include "core/formats/model_file.h"
#include "core/formats/safetensors.h"

namespace mlxr {
namespace fs = std::filesystem;

std::string hf_to_gguf_name(const std::string& n) {
  if (n == "model.embed_tokens.weight") return "token_embd.weight";
  if (n == "model.norm.weight") return "output_norm.weight";
  if (n == "lm_head.weight") return "output.weight";
  const std::string pre = "model.layers.";
  if (n.compare(0, pre.size(), pre) != 0) return "";
  size_t p = pre.size();
  size_t dot = n.find('.', p);
  if (dot == std::string::npos || dot == p || dot - p > 6) return "";
  for (size_t k = p; k < dot; ++k)
    if (n[k] < '0' || n[k] > '9') return "";
  const std::string layer = n.substr(p, dot - p);
  std::string rest = n.substr(dot + 1);
  std::string suffix;  // ".weight" / ".bias"
  for (const char* s : {".weight", ".bias"}) {
    size_t l = std::strlen(s);
    if (rest.size() > l && rest.compare(rest.size() - l, l, s) == 0) {
      suffix = s;
      rest.resize(rest.size() - l);
      break;
    }
  }
  if (suffix.empty()) return "";
  static const std::pair<const char*, const char*> kMap[] = {
      {"self_attn.q_proj", "attn_q"},         {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},          {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},          {"input_layernorm", "attn_norm"},
      {"post_attention_layernorm", "ffn_norm"}, {"block_sparse_moe.gate", "ffn_gate_inp"},
  };
  for (const auto& [hf, gg] : kMap)
    if (rest == hf) return "blk." + layer + "." + gg + suffix;
  const std::string ex = "block_sparse_moe.experts.";
  if (rest.compare(0, ex.size(), ex) == 0) {
    std::string e = rest.substr(ex.size());
    size_t d = e.find('.');
    if (d == std::string::npos || d == 0 || d > 6) return "";
    for (size_t k = 0; k < d; ++k)
      if (e[k] < '0' || e[k] > '9') return "";
    std::string w = e.substr(d + 1);
    const char* gg = w == "w1" ? "ffn_gate" : w == "w3" ? "ffn_up" : w == "w2" ? "ffn_down" : nullptr;
    if (!gg) return "";
    return "blk." + layer + "." + gg + "." + e.substr(0, d) + suffix;
  }
  return "";
}

namespace {

// Shard file names come from the index: keep them inside the model directory.
bool safe_shard_name(const std::string& s) {
  if (s.empty() || s.find('/') != std::string::npos || s.find('\\') != std::string::npos) return false;
  return s != "." && s != "..";
}

Expected<std::vector<std::string>> shard_list(const std::string& dir, const std::string& index_path,
                                              std::map<std::string, std::string>& weight_map) {
  auto text = read_text_file(index_path);
  if (!text) return make_error("safetensors: " + text.error());
  auto doc = Json::parse(*text, "safetensors: " + index_path);
  if (!doc) return doc.status();
  const Json* wm = doc->find("weight_map");
  if (!wm || !wm->is_object()) return make_error("safetensors: " + index_path + ": missing 'weight_map' object");
  std::set<std::string> seen;
  std::vector<std::string> files;
  for (const auto& [name, file] : wm->as_object()) {
    if (!file.is_string() || !safe_shard_name(file.as_string()))
      return make_error("safetensors: " + index_path + ": tensor '" + name + "' maps to an invalid file name");
    if (weight_map.count(name)) return make_error("safetensors: " + index_path + ": duplicate tensor '" + name + "'");
    weight_map[name] = file.as_string();
    if (seen.insert(file.as_string()).second) files.push_back((fs::path(dir) / file.as_string()).string());
  }
  if (files.empty()) return make_error("safetensors: " + index_path + ": weight_map is empty");
  return files;
}

}  // namespace

Expected<std::shared_ptr<ModelFile>> open_safetensors_model(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  const fs::path cfg_path = d / "config.json";
  if (!fs::exists(cfg_path, ec)) return make_error("safetensors: " + dir + ": no config.json in the model directory");
  auto cfg = load_hf_config(cfg_path.string());
  if (!cfg) return cfg.status();

  auto m = std::make_shared<ModelFile>();
  m->path = dir;
  m->format = "safetensors";
  m->hparams = cfg->hparams;

  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;
  const fs::path single = d / "model.safetensors";
  const fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(single, ec)) {
    files.push_back(single.string());
  } else if (fs::exists(index, ec)) {
    MLXR_ASSIGN_OR_RETURN(files, shard_list(dir, index.string(), weight_map));
  } else {
    return make_error("safetensors: " + dir + ": neither model.safetensors nor model.safetensors.index.json found");
  }

  std::map<std::string, std::string> found_in;  // HF name -> shard file name
  for (const auto& f : files) {
    auto sf = SafetensorsFile::open(f);
    if (!sf) return sf.status();
    m->owners.push_back(*sf);
    const std::string base = fs::path(f).filename().string();
    for (const auto& t : (*sf)->tensors()) {
      if (found_in.count(t.name)) return make_error("safetensors: " + f + ": tensor '" + t.name + "' also appears in " + found_in[t.name]);
      found_in[t.name] = base;
      if (t.name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // recomputed, not a weight
      std::string gname = hf_to_gguf_name(t.name);
      if (gname.empty()) gname = t.name;  // unknown tensors stay visible under their HF name
      auto v = safetensors_view(t, gname);
      if (!v) return make_error(v.error() + " (in " + f + ")");
      // Views must be aligned to their element size for the kernels; the reference writer
      // guarantees it, a hand-made file might not: copy those few.
      size_t esize = safetensors_dtype_size(t.dtype);
      if (esize > 1 && reinterpret_cast<uintptr_t>(v->data) % esize != 0) {
        auto buf = std::shared_ptr<uint8_t[]>(new uint8_t[v->nbytes + 1]);
        std::memcpy(buf.get(), v->data, v->nbytes);
        v->data = buf.get();
        m->owners.push_back(std::shared_ptr<void>(buf, buf.get()));
      }
      m->tensors[gname] = *v;
    }
  }
  for (const auto& [name, file] : weight_map) {
    auto it = found_in.find(name);
    if (it == found_in.end() || it->second != file)
      return make_error("safetensors: " + dir + ": index says tensor '" + name + "' is in " + file + ", but it is not there");
  }

  auto& hp = m->hparams;
  const TensorView* emb = m->find("token_embd.weight");
  if (!emb) return make_error("safetensors: " + dir + ": missing tensor 'model.embed_tokens.weight'");
  if (emb->n_dims != 2 || emb->ne[0] != hp.n_embd)
    return make_error("safetensors: " + dir + ": model.embed_tokens.weight has shape " + emb->shape_string() + ", expected [" +
                      std::to_string(hp.n_embd) + ", vocab]");
  if (emb->ne[1] != hp.n_vocab)
    return make_error("safetensors: " + dir + ": config vocab_size " + std::to_string(hp.n_vocab) +
                      " differs from the embedding's " + std::to_string(emb->ne[1]) + " rows");
  // Tied: the classifier is the embedding. Some tied checkpoints still store lm_head; drop it
  // so every loader agrees that tied means "no output.weight".
  if (hp.tied_embeddings) {
    m->tensors.erase("output.weight");
  } else if (!m->find("output.weight")) {
    hp.tied_embeddings = true;
  }

  if (fs::exists(d / "tokenizer.json", ec)) {
    m->tokenizer.kind = TokenizerSource::kHfJson;
    m->tokenizer.path = (d / "tokenizer.json").string();
    if (fs::exists(d / "tokenizer_config.json", ec)) m->tokenizer.config_path = (d / "tokenizer_config.json").string();
  } else if (fs::exists(d / "tokenizer.model", ec)) {
    m->tokenizer.kind = TokenizerSource::kSpmModel;
    m->tokenizer.path = (d / "tokenizer.model").string();
  }
  return m;
}

}  // namespace mlxr
