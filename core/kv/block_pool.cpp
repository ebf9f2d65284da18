#include "core/kv/block_pool.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace mlxr {

BlockPool::BlockPool(int n_blocks, int block_size) : block_size_(block_size), blocks_(n_blocks) {
  assert(n_blocks >= 0 && block_size > 0);
  free_.reserve(n_blocks);
  for (int b = n_blocks - 1; b >= 0; --b) {
    free_.push_back(b);
    blocks_[b].in_free = true;
  }
}

int BlockPool::allocate() {
  int b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
    blocks_[b].in_free = false;
  } else if (lru_head_ >= 0) {
    b = lru_head_;
    lru_remove(b);
    --n_cached_;
    unregister(b);
    ++evictions_;
  } else {
    return -1;
  }
  blocks_[b].ref = 1;
  ++n_used_;
  return b;
}

void BlockPool::incref(int b) {
  Block& blk = blocks_[b];
  assert(!blk.in_free);
  if (blk.ref == 0) {
    assert(blk.registered);
    lru_remove(b);
    --n_cached_;
    ++n_used_;
  }
  ++blk.ref;
}

void BlockPool::decref(int b) {
  Block& blk = blocks_[b];
  assert(blk.ref > 0);
  if (--blk.ref > 0) return;
  --n_used_;
  if (blk.registered) {
    lru_push_back(b);
    ++n_cached_;
  } else {
    blk.in_free = true;
    free_.push_back(b);
  }
}

int BlockPool::lookup(uint64_t hash, uint64_t parent, const int32_t* tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  const Block& blk = blocks_[it->second];
  if (blk.parent != parent) return -1;
  if (std::memcmp(blk.tokens.data(), tokens, sizeof(int32_t) * block_size_) != 0) return -1;
  return it->second;
}

bool BlockPool::register_block(int b, uint64_t hash, uint64_t parent, const int32_t* tokens) {
  Block& blk = blocks_[b];
  assert(blk.ref > 0);
  if (blk.registered || by_hash_.count(hash)) return false;
  blk.registered = true;
  blk.hash = hash;
  blk.parent = parent;
  blk.tokens.assign(tokens, tokens + block_size_);
  by_hash_.emplace(hash, b);
  return true;
}

void BlockPool::clear_cache() {
  while (lru_head_ >= 0) {
    int b = lru_head_;
    lru_remove(b);
    --n_cached_;
    unregister(b);
    blocks_[b].in_free = true;
    free_.push_back(b);
  }
  // Used blocks keep their bytes but must not be found again: their contents are stale too.
  for (int b = 0; b < n_total(); ++b)
    if (blocks_[b].registered) unregister(b);
}

void BlockPool::unregister(int b) {
  Block& blk = blocks_[b];
  by_hash_.erase(blk.hash);
  blk.registered = false;
  blk.tokens.clear();
}

void BlockPool::lru_push_back(int b) {
  Block& blk = blocks_[b];
  blk.prev = lru_tail_;
  blk.next = -1;
  if (lru_tail_ >= 0) blocks_[lru_tail_].next = b; else lru_head_ = b;
  lru_tail_ = b;
}

void BlockPool::lru_remove(int b) {
  Block& blk = blocks_[b];
  if (blk.prev >= 0) blocks_[blk.prev].next = blk.next; else lru_head_ = blk.next;
  if (blk.next >= 0) blocks_[blk.next].prev = blk.prev; else lru_tail_ = blk.prev;
  blk.prev = blk.next = -1;
}

std::string BlockPool::check() const {
  int used = 0, cached = 0, free = 0;
  for (int b = 0; b < n_total(); ++b) {
    const Block& blk = blocks_[b];
    if (blk.ref < 0) return "block " + std::to_string(b) + " has a negative ref count";
    if (blk.ref > 0) {
      if (blk.in_free) return "used block " + std::to_string(b) + " is on the free list";
      ++used;
    } else if (blk.registered) {
      if (blk.in_free) return "cached block " + std::to_string(b) + " is on the free list";
      ++cached;
    } else {
      if (!blk.in_free) return "block " + std::to_string(b) + " leaked (ref 0, not free, not cached)";
      ++free;
    }
    if (blk.registered) {
      auto it = by_hash_.find(blk.hash);
      if (it == by_hash_.end() || it->second != b)
        return "registered block " + std::to_string(b) + " missing from the hash map";
    }
  }
  int lru = 0;
  for (int b = lru_head_, prev = -1; b >= 0; prev = b, b = blocks_[b].next) {
    if (blocks_[b].prev != prev) return "eviction queue links broken at " + std::to_string(b);
    if (blocks_[b].ref != 0 || !blocks_[b].registered)
      return "eviction queue holds non-evictable block " + std::to_string(b);
    if (++lru > n_total()) return "eviction queue has a cycle";
  }
  if (used != n_used_ || cached != n_cached_ || cached != lru || free != n_free())
    return "counters disagree: used " + std::to_string(used) + "/" + std::to_string(n_used_) +
           " cached " + std::to_string(cached) + "/" + std::to_string(n_cached_) + "/" +
           std::to_string(lru) + " free " + std::to_string(free) + "/" + std::to_string(n_free());
  if (static_cast<int>(by_hash_.size()) > n_total()) return "hash map larger than the pool";
  for (const auto& [h, b] : by_hash_)
    if (!blocks_[b].registered || blocks_[b].hash != h) return "stale hash map entry";
  return "";
}

}  // namespace mlxr
