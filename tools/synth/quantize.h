// `mlxr quantize`: rewrite a GGUF with its weight matrices in another type. Metadata is copied
// (general.file_type updated); norms, biases, the MoE router and 1-D tensors keep their type;
// matrices whose rows do not fit the block fall back as llama-quantize does (see types.h).
// Rows are converted chunk by chunk: memory stays small whatever the model size.
#pragma once
#include <functional>
#include <string>

#include "core/base/status.h"
#include "core/tensor/dtype.h"

namespace mlxr::tools {

// Whether llama-quantize would quantize a tensor of this name and rank.
bool should_quantize(const std::string& name, int n_dims);

Status quantize_gguf(const std::string& in, const std::string& out, DType type,
                     const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace mlxr::tools
