// Architectures by their registered name (GGUF general.architecture / HF model_type).
#include <functional>
#include <map>

#include "core/models/llama.h"
#include "core/models/model.h"

namespace mlxr {
namespace {

using Loader = std::function<Expected<std::unique_ptr<Model>>(std::shared_ptr<const ModelFile>, Backend&)>;

const std::map<std::string, Loader>& loaders() {
  static const std::map<std::string, Loader> m = {
      {"llama", load_llama}, {"mistral", load_llama}, {"qwen2", load_llama},
  };
  return m;
}

}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& [name, _] : loaders()) names.push_back(name);
  return names;
}

Expected<std::unique_ptr<Model>> load_model(std::shared_ptr<const ModelFile> file, Backend& backend) {
  const auto& m = loaders();
  auto it = m.find(file->hparams.arch);
  if (it == m.end()) {
    std::string names;
    for (const auto& n : supported_architectures()) names += (names.empty() ? "" : ", ") + n;
    return make_error("model: unsupported architecture '" + file->hparams.arch + "' in " + file->path +
                      " (supported: " + names + ")");
  }
  return it->second(std::move(file), backend);
}

}  // namespace mlxr
