// Elementwise and normalisation kernels of the CPU backend. Each op's arithmetic follows
// llama.cpp's CPU path (e.g. RMSNorm sums in double) so greedy outputs agree with it.
// Shapes are row-major: (rows, n) is rows of n contiguous floats.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/formats/model_file.h"

namespace mlxr::cpu {

// out = x / sqrt(mean(x²) + eps) * w, per row of n. w may be null (no weight).
void rms_norm(const float* x, const float* w, float eps, int rows, int n, float* out);

// Rotary embedding in place on x (n_tokens, n_heads, head_dim) with per-token positions.
// freq_factors (n_dims/2) divide the base frequencies (llama3 / rope_freqs), or null.
void rope(float* x, const int32_t* positions, int n_tokens, int n_heads, int head_dim,
          const RopeParams& p, const float* freq_factors);

// out[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, float* out, size_t n);
// out[i] = gelu_tanh(gate[i]) * up[i]
void gelu_mul(const float* gate, const float* up, float* out, size_t n);

// In-place softmax of n values scaled by `scale`; sums in double like ggml.
void softmax(float* x, int n, float scale);

// Cos/sin cache for one position: cs[2*i] = cos, cs[2*i+1] = sin for each rotated pair i.
void rope_cache(int32_t pos, const RopeParams& p, const float* freq_factors, float* cs);

}  // namespace mlxr::cpu
