// Named model shapes for synthetic models: real architectures' dimensions with random weights,
// so benchmarks and load tests need no download.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace mlxr::tools {

struct ModelShape {
  std::string preset;
  std::string arch;  // "llama" or "qwen2"
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int n_ff = 0;
  int n_ctx = 0;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied = false;
  bool qkv_bias = false;  // Qwen2

  int head_dim() const { return n_embd / n_head; }
  long long n_params() const;
};

const std::vector<ModelShape>& presets();
std::optional<ModelShape> find_preset(const std::string& name);
// "tiny, small, ..." for help texts.
std::string preset_names();

}  // namespace mlxr::tools
