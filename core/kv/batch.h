// One model step over a ragged batch: T tokens from several sequences, each token with its
// position and sequence, each sequence with its KV block table. Built by the scheduler,
// consumed by Model::forward.
#pragma once
#include <cstdint>
#include <vector>

namespace mlxr {

struct Batch {
  std::vector<int32_t> tokens;     // (T)
  std::vector<int32_t> positions;  // (T) position of each token in its sequence
  std::vector<int32_t> seq_of;     // (T) index into block_tables / seq_lens
  std::vector<std::vector<int32_t>> block_tables;  // (S) KV block ids, position p is in block p / block_size
  std::vector<int32_t> seq_lens;   // (S) tokens in the KV cache after this step
  std::vector<int32_t> output_rows;  // token indices whose logits are returned, in this order

  int n_tokens() const { return static_cast<int>(tokens.size()); }
  int n_seqs() const { return static_cast<int>(block_tables.size()); }
  void clear() { *this = Batch{}; }
};

}  // namespace mlxr
