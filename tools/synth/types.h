// Type choices shared by `mlxr synth` and `mlxr quantize`: which block type a tensor gets when
// its rows do not fit the requested one, and the llama_ftype label of a file.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor/dtype.h"

namespace mlxr::tools {

// `want` if rows of ne0 elements fit its block, else what llama-quantize falls back to
// (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->IQ4_NL, replaced by a type core/quant can
// write when needed), else F16.
DType fallback_type(DType want, int64_t ne0);

// llama_ftype (general.file_type) for a file whose weights are mostly `t` (pure mixtures).
uint32_t llama_ftype(DType t);

// Types the tools can write: F32, F16, BF16 and every type core/quant quantizes to.
bool writable_type(DType t);
std::string writable_type_names();

}  // namespace mlxr::tools
