// Shape of the paged KV arena. Per layer, K and V are each (n_blocks, block_size, n_kv_heads,
// head_dim) in `dtype`; block b holds positions [b*block_size, (b+1)*block_size) of whichever
// sequence's block table names it.
#pragma once
#include <cstddef>

#include "core/tensor/dtype.h"

namespace mlxr {

struct KVLayout {
  int n_layers = 0;
  int n_blocks = 0;
  int block_size = 16;
  int n_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::F16;  // F32, F16 or BF16

  size_t token_elems() const { return static_cast<size_t>(n_kv_heads) * head_dim; }
  size_t block_elems() const { return token_elems() * block_size; }
  size_t layer_bytes() const {
    return block_elems() * n_blocks * dtype_info(dtype).block_bytes;
  }
  size_t total_bytes() const { return layer_bytes() * 2 * n_layers; }
};

}  // namespace mlxr
