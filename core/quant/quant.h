// Row-level conversion between float and ggml's storage types: dequantisation bit-exact with
// ggml's dequantize_row_*, reference quantisers that follow ggml's quantize_row_*_ref, and the
// activation format that each weight type is multiplied with (vec_dot_type).
#pragma once
#include <cstdint>

#include "core/base/status.h"
#include "core/tensor/dtype.h"

namespace mlxr {

// Types dequantize_row accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q8_K,
// IQ4_NL.
bool can_dequantize(DType t);
// Types quantize_row accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q8_K.
bool can_quantize(DType t);

// OK, or an error naming the type / the block size when `n` values of `t` cannot be converted.
Status check_row(DType t, int64_t n, bool quantize);

// dst[0..n) = values of the n elements at src. Precondition: check_row(t, n, false) is OK
// (callers validate at load time; a violated precondition aborts with a message).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Writes row_bytes(t, n) bytes to dst. Errors (nothing written) for an unsupported type or n not
// a multiple of the block size.
Status quantize_row(DType t, const float* src, void* dst, int64_t n);

// The activation format the CPU kernels pair with weights of type `weight` (as llama.cpp's CPU
// backend does): Q4_0/Q5_0/Q8_0/IQ4_NL -> Q8_0, Q4_1/Q5_1 -> Q8_1, K-quants -> Q8_K,
// F32/F16/BF16 -> themselves. F32 for types without a kernel.
DType vec_dot_type(DType weight);

}  // namespace mlxr
