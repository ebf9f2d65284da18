// A non-owning view of tensor data, shaped as ggml shapes it: ne[0] is the contiguous axis.
// A PyTorch [out, in] weight is ne = {in, out}: each of the `out` rows holds `in` values.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor/dtype.h"

namespace mlxr {

struct TensorView {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  const void* data = nullptr;
  size_t nbytes = 0;
  // How a backend laid the rows out in its own memory (upload); files are always kRows.
  enum class Layout : uint8_t { kRows, kQ4_0x8 /* core/kernels/cpu/repack.h */ };
  Layout layout = Layout::kRows;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_size() const { return nbytes / static_cast<size_t>(rows()); }
  std::string shape_string() const;
};

}  // namespace mlxr
