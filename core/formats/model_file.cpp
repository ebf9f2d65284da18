#include "core/formats/model_file.h"

#include <filesystem>

namespace mlxr {

const TensorView* ModelFile::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

Expected<const TensorView*> ModelFile::require(const std::string& name, std::vector<int64_t> ne) const {
  const TensorView* t = find(name);
  if (!t) return make_error("model: " + path + ": missing tensor '" + name + "'");
  ne.resize(4, 1);
  for (int i = 0; i < 4; ++i) {
    if (t->ne[i] != ne[i]) {
      std::string want = "[";
      for (int k = 0; k < 4; ++k) want += (k ? ", " : "") + std::to_string(ne[k]);
      return make_error("model: " + path + ": tensor '" + name + "' has shape " + t->shape_string() +
                        ", expected " + want + "]");
    }
  }
  return t;
}

size_t ModelFile::weight_bytes() const {
  size_t n = 0;
  for (const auto& [_, t] : tensors) n += t.nbytes;
  return n;
}

Expected<std::shared_ptr<ModelFile>> open_model(const std::string& path, const std::string& tokenizer_override) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return make_error("model: " + path + ": no such file or directory");
  Expected<std::shared_ptr<ModelFile>> m = make_error("model: " + path + ": unrecognized model format");
  if (fs::is_directory(path, ec)) {
    m = open_safetensors_model(path);
  } else {
    auto ext = fs::path(path).extension().string();
    if (ext == ".gguf") {
      m = open_gguf_model(path);
    } else if (ext == ".bin") {
      m = open_llama2c_model(path);
    } else if (ext == ".json" || ext == ".safetensors") {
      m = open_safetensors_model(fs::path(path).parent_path().string());
    } else {
      // Unknown extension: sniff the GGUF magic, else try llama2.c.
      auto g = open_gguf_model(path);
      m = g ? std::move(g) : open_llama2c_model(path);
    }
  }
  if (!m) return m;
  if (!tokenizer_override.empty()) {
    auto& src = (*m)->tokenizer;
    src.path = tokenizer_override;
    src.config_path.clear();
    auto ext = fs::path(tokenizer_override).extension().string();
    if (fs::is_directory(tokenizer_override, ec)) {
      src.kind = TokenizerSource::kHfJson;
      src.path = (fs::path(tokenizer_override) / "tokenizer.json").string();
      auto cfg = fs::path(tokenizer_override) / "tokenizer_config.json";
      if (fs::exists(cfg, ec)) src.config_path = cfg.string();
    } else if (ext == ".json") {
      src.kind = TokenizerSource::kHfJson;
      auto cfg = fs::path(tokenizer_override).parent_path() / "tokenizer_config.json";
      if (fs::exists(cfg, ec)) src.config_path = cfg.string();
    } else if (ext == ".model") {
      src.kind = TokenizerSource::kSpmModel;
    } else if (ext == ".gguf") {
      src.kind = TokenizerSource::kGguf;
    } else {
      src.kind = TokenizerSource::kLlama2cBin;
    }
  }
  return m;
}

}  // namespace mlxr
