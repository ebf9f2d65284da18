// Random-weight models of real shapes, written as GGUF or as an HF directory. Weights are a
// deterministic function of (seed, HF tensor name, row), so the two formats hold the same
// numbers: the GGUF gets llama's q/k rows permuted as convert_hf_to_gguf.py permutes them
// (normal RoPE), the HF directory keeps them in rotate_half order. Rows are generated,
// converted and written one chunk at a time: memory stays small whatever the model size.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/tensor/dtype.h"
#include "tools/synth/presets.h"

namespace mlxr::tools {

struct SynthOptions {
  ModelShape shape;
  std::string out;               // .gguf file, or the directory for safetensors
  std::string format = "gguf";   // "gguf" | "safetensors"
  DType type = DType::F16;       // 2-D weights; norms and biases stay F32 in GGUF
  uint64_t seed = 1;
  float stddev = 0.02f;
};

// One tensor of the plan. Row-major [rows, cols] in HF terms (1-D tensors: rows = 1).
struct SynthTensor {
  std::string hf_name;
  std::string gguf_name;
  int64_t rows = 1;
  int64_t cols = 0;
  bool one_d = false;
  enum Init { kWeight, kNorm, kBias } init = kWeight;
  int permute_heads = 0;  // > 0: GGUF row order is llama's q/k permutation with this many heads
};

std::vector<SynthTensor> synth_plan(const ModelShape& s);

// The HF-order values of row `row` of `t` (t.cols floats).
void synth_row(uint64_t seed, float stddev, const SynthTensor& t, int64_t row, float* out);

// The HF row stored at GGUF row `r` of a llama-permuted q/k weight (n_rows rows, n_heads heads).
int64_t permuted_source_row(int64_t r, int64_t n_rows, int n_heads);

using Progress = std::function<void(const std::string&)>;
Status synth_model(const SynthOptions& o, const Progress& progress = nullptr);

}  // namespace mlxr::tools
