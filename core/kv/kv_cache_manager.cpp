#include "core/kv/kv_cache_manager.h"

#include <algorithm>
#include <cassert>

#include "core/kv/block_hash.h"

namespace mlxr {

KVCacheManager::KVCacheManager(int n_blocks, int block_size, bool prefix_caching)
    : pool_(n_blocks, block_size), prefix_caching_(prefix_caching) {}

KVCacheManager::PrefixHit KVCacheManager::find_prefix(const std::vector<int32_t>& tokens,
                                                       int max_tokens, uint64_t ns_seed) const {
  PrefixHit hit;
  if (!prefix_caching_) return hit;
  const int bs = block_size();
  max_tokens = std::min<int>(max_tokens, static_cast<int>(tokens.size()));
  uint64_t parent = ns_seed;
  for (int i = 0; (i + 1) * bs <= max_tokens; ++i) {
    const int32_t* t = tokens.data() + static_cast<size_t>(i) * bs;
    uint64_t h = prefix_block_hash(parent, t, bs);
    int b = pool_.lookup(h, parent, t);
    if (b < 0) break;
    hit.blocks.push_back(b);
    hit.hashes.push_back(h);
    parent = h;
  }
  hit.n_tokens = static_cast<int>(hit.blocks.size()) * bs;
  return hit;
}

int KVCacheManager::blocks_to_allocate(uint64_t seq, int write_from, int n_tokens,
                                       const PrefixHit* hit) const {
  auto it = seqs_.find(seq);
  const std::vector<int>* cur = it == seqs_.end() ? nullptr : &it->second.blocks;
  const int have = (cur ? static_cast<int>(cur->size()) : 0) + (hit && !cur ? static_cast<int>(hit->blocks.size()) : 0);
  int need = std::max(0, blocks_for(n_tokens) - have);
  if (cur) {
    for (int i = write_from / block_size(); i < static_cast<int>(cur->size()) && i * block_size() < n_tokens; ++i)
      if (pool_.ref((*cur)[i]) > 1) ++need;  // copy-on-write
  }
  return need;
}

bool KVCacheManager::allocate(uint64_t seq, int write_from, int n_tokens, const PrefixHit* hit,
                              std::vector<BlockCopy>* copies) {
  const bool is_new = !has(seq);
  if (!is_new) hit = nullptr;  // hits only seed a new sequence
  int need = blocks_to_allocate(seq, write_from, n_tokens, hit);
  // Cached (ref 0) hit blocks stop being evictable once taken, so they are not available.
  int hit_evictable = 0;
  if (hit)
    for (int b : hit->blocks) hit_evictable += pool_.ref(b) == 0;
  if (need > pool_.n_available() - hit_evictable) return false;

  SeqBlocks& s = seqs_[seq];
  if (hit) {
    for (int b : hit->blocks) pool_.incref(b);
    s.blocks = hit->blocks;
    s.hashes = hit->hashes;
  }
  for (int i = write_from / block_size(); i < static_cast<int>(s.blocks.size()) && i * block_size() < n_tokens; ++i) {
    int old = s.blocks[i];
    if (pool_.ref(old) <= 1) continue;
    int nb = pool_.allocate();
    assert(nb >= 0);
    if (copies) copies->push_back({old, nb});
    pool_.decref(old);
    s.blocks[i] = nb;
    if (static_cast<int>(s.hashes.size()) > i) s.hashes.resize(i);
  }
  while (static_cast<int>(s.blocks.size()) < blocks_for(n_tokens)) {
    int nb = pool_.allocate();
    assert(nb >= 0);
    s.blocks.push_back(nb);
  }
  return true;
}

void KVCacheManager::cache_full_blocks(uint64_t seq, const std::vector<int32_t>& tokens,
                                       int n_computed, uint64_t ns_seed) {
  if (!prefix_caching_) return;
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  SeqBlocks& s = it->second;
  const int bs = block_size();
  const int n_full = std::min<int>({n_computed, static_cast<int>(tokens.size())}) / bs;
  for (int i = static_cast<int>(s.hashes.size()); i < n_full && i < static_cast<int>(s.blocks.size()); ++i) {
    uint64_t parent = i == 0 ? ns_seed : s.hashes[i - 1];
    const int32_t* t = tokens.data() + static_cast<size_t>(i) * bs;
    uint64_t h = prefix_block_hash(parent, t, bs);
    pool_.register_block(s.blocks[i], h, parent, t);
    s.hashes.push_back(h);
  }
}

void KVCacheManager::fork(uint64_t src, uint64_t dst) {
  assert(has(src) && !has(dst));
  SeqBlocks copy = seqs_.at(src);
  for (int b : copy.blocks) pool_.incref(b);
  seqs_.emplace(dst, std::move(copy));
}

void KVCacheManager::free(uint64_t seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  const std::vector<int>& blocks = it->second.blocks;
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) pool_.decref(*b);
  seqs_.erase(it);
}

const std::vector<int>& KVCacheManager::block_table(uint64_t seq) const {
  static const std::vector<int> kEmpty;
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? kEmpty : it->second.blocks;
}

std::string KVCacheManager::check() const {
  std::string e = pool_.check();
  if (!e.empty()) return e;
  std::vector<int> refs(pool_.n_total(), 0);
  for (const auto& [id, s] : seqs_)
    for (int b : s.blocks) {
      if (b < 0 || b >= pool_.n_total()) return "sequence " + std::to_string(id) + " names block " + std::to_string(b);
      ++refs[b];
    }
  for (int b = 0; b < pool_.n_total(); ++b)
    if (refs[b] != pool_.ref(b))
      return "block " + std::to_string(b) + " ref " + std::to_string(pool_.ref(b)) + " but " +
             std::to_string(refs[b]) + " tables name it";
  return "";
}

}  // namespace mlxr
