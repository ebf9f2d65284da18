// `mlxr synth`: write a random-weight model of a named real shape (GGUF or an HF directory).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/tensor/dtype.h"
#include "tools/synth/presets.h"
#include "tools/synth/synth.h"
#include "tools/synth/types.h"

namespace mlxr::cli {
namespace {

void synth_usage(FILE* f) {
  std::fprintf(f,
               "usage: mlxr synth --preset NAME -o OUT [--arch llama|qwen2] [--format gguf|safetensors]\n"
               "                  [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k|...] [--seed S] [--stddev X] [--quiet]\n"
               "  Writes a model with random N(0, X) weights (X = --stddev, default 0.02; norms 1 + N(0, X);\n"
               "  deterministic from --seed) and a valid\n"
               "  SentencePiece-style tokenizer. GGUF: OUT is a file; safetensors: OUT is a directory\n"
               "  (config.json, model.safetensors, tokenizer.json). Same seed, same weights in both.\n"
               "  presets: %s\n"
               "  --arch overrides the preset's architecture (qwen2 adds q/k/v biases).\n"
               "  --type defaults to f16; safetensors takes f32, f16 or bf16.\n"
               "  `mlxr synth --list` prints the presets with their sizes.\n",
               mlxr::tools::preset_names().c_str());
}

}  // namespace

int cmd_synth(int argc, char** argv) {
  std::string preset, arch, out, format = "gguf", type = "f16";
  uint64_t seed = 1;
  float stddev = 0.02f;
  bool quiet = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mlxr synth: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "-h" || a == "--help") {
      synth_usage(stdout);
      return 0;
    } else if (a == "--list") {
      for (const auto& p : mlxr::tools::presets())
        std::printf("%-16s %-6s vocab %-6d dim %-5d layers %-3d heads %d/%d ff %-6d params %.3fB\n", p.preset.c_str(),
                    p.arch.c_str(), p.n_vocab, p.n_embd, p.n_layer, p.n_head, p.n_head_kv, p.n_ff, p.n_params() / 1e9);
      return 0;
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (a == "--preset" || a == "--arch" || a == "-o" || a == "--output" || a == "--format" || a == "--type" || a == "--seed" ||
               a == "--stddev") {
      if (!(v = value(a.c_str()))) return 2;
      if (a == "--preset") preset = v;
      else if (a == "--arch") arch = v;
      else if (a == "-o" || a == "--output") out = v;
      else if (a == "--format") format = v;
      else if (a == "--type") type = v;
      else if (a == "--stddev") {
        char* end = nullptr;
        stddev = std::strtof(v, &end);
        if (!*v || *end || !(stddev > 0 && stddev < 10)) {
          std::fprintf(stderr, "mlxr synth: --stddev takes a number in (0, 10), not '%s'\n", v);
          return 2;
        }
      } else {
        char* end = nullptr;
        seed = std::strtoull(v, &end, 10);
        if (!*v || *end) {
          std::fprintf(stderr, "mlxr synth: --seed takes a non-negative integer, not '%s'\n", v);
          return 2;
        }
      }
    } else {
      std::fprintf(stderr, "mlxr synth: unknown argument '%s'\n\n", a.c_str());
      synth_usage(stderr);
      return 2;
    }
  }
  if (preset.empty() || out.empty()) {
    std::fprintf(stderr, "mlxr synth: --preset and -o are required\n\n");
    synth_usage(stderr);
    return 2;
  }
  auto shape = mlxr::tools::find_preset(preset);
  if (!shape) {
    std::fprintf(stderr, "mlxr synth: unknown preset '%s' (known: %s)\n", preset.c_str(), mlxr::tools::preset_names().c_str());
    return 2;
  }
  if (!arch.empty()) {
    if (arch != "llama" && arch != "qwen2") {
      std::fprintf(stderr, "mlxr synth: --arch must be llama or qwen2, not '%s'\n", arch.c_str());
      return 2;
    }
    shape->arch = arch;
    shape->qkv_bias = arch == "qwen2";
  }
  auto dt = dtype_from_name(type);
  if (!dt || !mlxr::tools::writable_type(*dt)) {
    std::fprintf(stderr, "mlxr synth: unknown or unsupported --type '%s' (supported: %s)\n", type.c_str(),
                 mlxr::tools::writable_type_names().c_str());
    return 2;
  }
  mlxr::tools::SynthOptions o;
  o.shape = *shape;
  o.out = out;
  o.format = format;
  o.type = *dt;
  o.seed = seed;
  o.stddev = stddev;
  if (!quiet)
    std::fprintf(stderr, "mlxr synth: %s (%s, %.3fB params) -> %s [%s, %s, seed %llu]\n", preset.c_str(), shape->arch.c_str(),
                 shape->n_params() / 1e9, out.c_str(), format.c_str(), dtype_name(*dt), static_cast<unsigned long long>(seed));
  auto st = mlxr::tools::synth_model(o, [&](const std::string& m) {
    if (!quiet) std::fprintf(stderr, "\r%-70s", m.c_str());
  });
  if (!quiet) std::fprintf(stderr, "\n");
  if (!st) {
    std::fprintf(stderr, "mlxr synth: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace mlxr::cli
