// The KV arena's blocks as plain bookkeeping: ids 0..n_blocks-1, a reference count each, a free
// list, and the prefix cache (hash -> block). A block is in exactly one state:
//   used    ref > 0 (a sequence's block table names it; it may also be cached)
//   cached  ref == 0 and registered under a prefix hash: reusable by a later hit, evictable
//   free    ref == 0 and not registered
// Cached blocks are evicted least-recently-released first, only when no free block is left.
// No memory is touched here: the backend owns the bytes (Backend::init_kv / kv_copy_block).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace mlxr {

class BlockPool {
 public:
  BlockPool(int n_blocks, int block_size);

  int block_size() const { return block_size_; }
  int n_total() const { return static_cast<int>(blocks_.size()); }
  int n_used() const { return n_used_; }
  int n_cached() const { return n_cached_; }  // evictable (ref 0) cached blocks
  int n_free() const { return static_cast<int>(free_.size()); }
  int n_available() const { return n_free() + n_cached(); }  // what allocate() can still hand out

  // A block with ref 1: a free one, else the least recently released cached one (its prefix
  // entry is dropped). -1 when every block is in use.
  int allocate();
  void incref(int block);  // a cached (ref 0) block becomes used again
  void decref(int block);  // at 0: cached blocks join the eviction queue's tail, others the free list
  int ref(int block) const { return blocks_[block].ref; }

  // Prefix cache. lookup() returns the block registered under `hash` whose stored parent hash
  // and tokens equal these (a collision guard), else -1; it takes no reference.
  int lookup(uint64_t hash, uint64_t parent, const int32_t* tokens) const;
  // Registers a full, used block. False (block stays unregistered) when the hash already has a
  // block (another sequence computed the same prefix) or this block is registered already.
  bool register_block(int block, uint64_t hash, uint64_t parent, const int32_t* tokens);
  bool is_registered(int block) const { return blocks_[block].registered; }
  int n_registered() const { return static_cast<int>(by_hash_.size()); }
  uint64_t evictions() const { return evictions_; }

  // Drops every ref-0 cached entry (used when the arena's contents become invalid).
  void clear_cache();

  // Checks every internal invariant; "" when consistent, else what is wrong (for tests).
  std::string check() const;

 private:
  struct Block {
    int ref = 0;
    bool registered = false;
    bool in_free = false;
    uint64_t hash = 0, parent = 0;
    int prev = -1, next = -1;  // eviction queue links (ref 0 and registered only)
    std::vector<int32_t> tokens;  // (block_size) key tokens, when registered
  };
  void lru_push_back(int b);
  void lru_remove(int b);
  void unregister(int b);

  int block_size_;
  std::vector<Block> blocks_;
  std::vector<int> free_;  // stack; initialised so that block 0 is handed out first
  int lru_head_ = -1, lru_tail_ = -1;
  int n_used_ = 0, n_cached_ = 0;
  uint64_t evictions_ = 0;
  std::unordered_map<uint64_t, int> by_hash_;
};

}  // namespace mlxr
