#include "tools/synth/presets.h"

namespace mlxr::tools {

long long ModelShape::n_params() const {
  const long long d = n_embd, kv = static_cast<long long>(n_head_kv) * head_dim();
  long long per_layer = 2 * d + d * d * 2 + 2 * d * kv + 3 * d * n_ff;
  if (qkv_bias) per_layer += d + 2 * kv;
  return static_cast<long long>(n_vocab) * d * (tied ? 1 : 2) + d + n_layer * per_layer;
}

const std::vector<ModelShape>& presets() {
  // {preset, arch, vocab, embd, layers, heads, kv heads, ff, ctx, theta, eps, tied, qkv_bias}
  static const std::vector<ModelShape> kPresets = {
      // Test shapes. tiny's rows (64) are too short for K-quants (they fall back); small's
      // 256-wide rows take every block type.
      {"tiny", "llama", 512, 64, 2, 4, 2, 192, 512, 10000.0f, 1e-5f, false, false},
      {"small", "llama", 1024, 256, 4, 8, 4, 768, 1024, 10000.0f, 1e-5f, false, false},
      {"llama-100m", "llama", 32000, 768, 12, 12, 12, 2048, 2048, 10000.0f, 1e-5f, false, false},
      // Llama-3.2-1B's body (GQA 32/8, SwiGLU 8192, tied) with a Llama-2-size vocab.
      {"llama-1b", "llama", 32000, 2048, 16, 32, 8, 8192, 4096, 500000.0f, 1e-5f, true, false},
      {"tinyllama-1.1b", "llama", 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0f, 1e-5f, false, false},
      {"llama3-8b", "llama", 128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f, 1e-5f, false, false},
      {"qwen2-0.5b", "qwen2", 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f, true, true},
  };
  return kPresets;
}

std::optional<ModelShape> find_preset(const std::string& name) {
  for (const auto& p : presets())
    if (p.preset == name) return p;
  return std::nullopt;
}

std::string preset_names() {
  std::string s;
  for (const auto& p : presets()) s += (s.empty() ? "" : ", ") + p.preset;
  return s;
}

}  // namespace mlxr::tools
