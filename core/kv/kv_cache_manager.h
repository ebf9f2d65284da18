// Per-sequence block tables over a BlockPool: allocation for the tokens a step will write,
// prefix-cache hits and registration, fork with shared blocks, and copy-on-write before a
// sequence writes into a block someone else also references. The scheduler owns one of these;
// the block copies it returns are carried out by Backend::kv_copy_block before the forward.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/kv/block_pool.h"

namespace mlxr {

struct BlockCopy {
  int src = -1, dst = -1;
};

class KVCacheManager {
 public:
  KVCacheManager(int n_blocks, int block_size, bool prefix_caching);

  struct PrefixHit {
    int n_tokens = 0;               // whole blocks only
    std::vector<int> blocks;        // (n_tokens / block_size) ids, no references taken yet
    std::vector<uint64_t> hashes;   // their chain hashes
  };
  // Longest cached prefix of tokens[0, max_tokens), in whole blocks. Callers pass
  // max_tokens = tokens.size() - 1 so at least one token is computed (its logits are needed).
  PrefixHit find_prefix(const std::vector<int32_t>& tokens, int max_tokens, uint64_t ns_seed) const;

  // Makes `seq` (created on first use, with `hit` as its first blocks) hold blocks for
  // positions [0, n_tokens), with positions [write_from, n_tokens) in blocks it alone
  // references; the copies needed for that are appended to `copies`. All or nothing: false,
  // and no change, when the pool cannot supply the blocks.
  bool allocate(uint64_t seq, int write_from, int n_tokens, const PrefixHit* hit,
                std::vector<BlockCopy>* copies);
  // Blocks a call to allocate() would take from the pool (new + copy-on-write).
  int blocks_to_allocate(uint64_t seq, int write_from, int n_tokens, const PrefixHit* hit) const;

  // Registers the full blocks among seq's first n_computed tokens in the prefix cache.
  void cache_full_blocks(uint64_t seq, const std::vector<int32_t>& tokens, int n_computed,
                         uint64_t ns_seed);
  // dst (new) shares every block of src; the first write into a shared block copies it.
  void fork(uint64_t src, uint64_t dst);
  // Releases seq's blocks, last block first, so a prefix's head outlives its tail in the cache.
  void free(uint64_t seq);

  bool has(uint64_t seq) const { return seqs_.count(seq) != 0; }
  const std::vector<int>& block_table(uint64_t seq) const;
  int n_seqs() const { return static_cast<int>(seqs_.size()); }
  int blocks_for(int n_tokens) const { return (n_tokens + block_size() - 1) / block_size(); }
  int block_size() const { return pool_.block_size(); }
  bool prefix_caching() const { return prefix_caching_; }
  const BlockPool& pool() const { return pool_; }
  void clear_cache() { pool_.clear_cache(); }

  // Pool invariants plus: every ref count equals the number of tables naming the block.
  std::string check() const;

 private:
  struct SeqBlocks {
    std::vector<int> blocks;
    std::vector<uint64_t> hashes;  // chain hashes of the leading full blocks already hashed
  };
  BlockPool pool_;
  bool prefix_caching_;
  std::unordered_map<uint64_t, SeqBlocks> seqs_;
};

}  // namespace mlxr
