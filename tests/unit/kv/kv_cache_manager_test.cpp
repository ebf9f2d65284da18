#include "core/kv/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "core/kv/block_hash.h"

namespace mlxr {
namespace {

// A stand-in for the backend's arena: one int per (block, slot). Sequences write their tokens
// through their block tables and read them back; copies mimic Backend::kv_copy_block.
struct FakeArena {
  int bs;
  std::vector<std::vector<int32_t>> slots;
  FakeArena(int n_blocks, int block_size) : bs(block_size), slots(n_blocks, std::vector<int32_t>(block_size, -1)) {}
  void copy(const std::vector<BlockCopy>& copies) {
    for (auto c : copies) slots[c.dst] = slots[c.src];
  }
  void write(const std::vector<int>& table, int pos, int32_t v) { slots[table[pos / bs]][pos % bs] = v; }
  std::vector<int32_t> read(const std::vector<int>& table, int n) const {
    std::vector<int32_t> out(n);
    for (int p = 0; p < n; ++p) out[p] = slots[table[p / bs]][p % bs];
    return out;
  }
};

std::vector<int32_t> seq_tokens(int n, int seed) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = seed * 1000 + i;
  return t;
}

TEST(BlockHash, ChainDependsOnNamespaceParentAndEveryToken) {
  std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 3, 5};
  uint64_t s0 = prefix_namespace_seed(""), s1 = prefix_namespace_seed("adapter-1");
  EXPECT_NE(s0, s1);
  EXPECT_EQ(prefix_block_hash(s0, a.data(), 4), prefix_block_hash(s0, a.data(), 4));
  EXPECT_NE(prefix_block_hash(s0, a.data(), 4), prefix_block_hash(s0, b.data(), 4));
  EXPECT_NE(prefix_block_hash(s0, a.data(), 4), prefix_block_hash(s1, a.data(), 4));
  EXPECT_NE(prefix_block_hash(s0, a.data(), 4), prefix_block_hash(s0, a.data(), 3));
}

TEST(KVCacheManager, PrefixHitsWholeBlocksOfTheSameNamespaceOnly) {
  const int bs = 16;
  KVCacheManager kv(16, bs, true);
  FakeArena arena(16, bs);
  auto t = seq_tokens(40, 1);
  uint64_t ns = prefix_namespace_seed("");
  ASSERT_TRUE(kv.allocate(1, 0, 40, nullptr, nullptr));
  for (int p = 0; p < 40; ++p) arena.write(kv.block_table(1), p, t[p]);
  kv.cache_full_blocks(1, t, 40, ns);
  EXPECT_EQ(kv.pool().n_registered(), 2);  // 2 full blocks, the partial third is not cached

  auto hit = kv.find_prefix(t, 39, ns);
  EXPECT_EQ(hit.n_tokens, 32);
  EXPECT_EQ(kv.find_prefix(t, 39, prefix_namespace_seed("other")).n_tokens, 0);
  auto u = t;
  u[20] = -5;  // differs in block 1
  EXPECT_EQ(kv.find_prefix(u, 39, ns).n_tokens, 16);
  // At least one token stays uncached: a 32-token prompt hits only its first block.
  std::vector<int32_t> t32(t.begin(), t.begin() + 32);
  EXPECT_EQ(kv.find_prefix(t32, 31, ns).n_tokens, 16);

  // A second sequence with the same prompt shares the blocks and reads the same K/V.
  ASSERT_TRUE(kv.allocate(2, hit.n_tokens, 40, &hit, nullptr));
  EXPECT_EQ(kv.block_table(2)[0], kv.block_table(1)[0]);
  EXPECT_EQ(kv.block_table(2)[1], kv.block_table(1)[1]);
  EXPECT_NE(kv.block_table(2)[2], kv.block_table(1)[2]);
  for (int p = 32; p < 40; ++p) arena.write(kv.block_table(2), p, t[p]);
  EXPECT_EQ(arena.read(kv.block_table(2), 40), t);
  EXPECT_EQ(kv.pool().ref(kv.block_table(1)[0]), 2);
  EXPECT_EQ(kv.check(), "");

  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.pool().n_used(), 0);
  EXPECT_EQ(kv.pool().n_cached(), 2);
  // Cached blocks outlive their sequences and still hit.
  EXPECT_EQ(kv.find_prefix(t, 39, ns).n_tokens, 32);
  EXPECT_EQ(kv.check(), "");
}

TEST(KVCacheManager, DisabledPrefixCacheNeverHits) {
  KVCacheManager kv(8, 4, false);
  auto t = seq_tokens(12, 3);
  ASSERT_TRUE(kv.allocate(1, 0, 12, nullptr, nullptr));
  kv.cache_full_blocks(1, t, 12, 0);
  EXPECT_EQ(kv.find_prefix(t, 11, 0).n_tokens, 0);
  kv.free(1);
  EXPECT_EQ(kv.pool().n_free(), 8);
}

TEST(KVCacheManager, AllocationIsAllOrNothing) {
  KVCacheManager kv(4, 4, true);
  ASSERT_TRUE(kv.allocate(1, 0, 10, nullptr, nullptr));  // 3 blocks
  const auto before = kv.block_table(1);
  EXPECT_FALSE(kv.allocate(1, 10, 17, nullptr, nullptr));  // needs 2 more, 1 left
  EXPECT_EQ(kv.block_table(1), before);
  EXPECT_FALSE(kv.allocate(2, 0, 5, nullptr, nullptr));
  EXPECT_FALSE(kv.has(2));
  EXPECT_EQ(kv.pool().n_free(), 1);
  EXPECT_TRUE(kv.allocate(1, 10, 16, nullptr, nullptr));
  EXPECT_EQ(kv.pool().n_free(), 0);
  kv.free(1);
  EXPECT_EQ(kv.pool().n_free(), 4);
  EXPECT_EQ(kv.check(), "");
}

TEST(KVCacheManager, ForkSharesBlocksAndCopiesOnWrite) {
  const int bs = 4;
  KVCacheManager kv(8, bs, true);
  FakeArena arena(8, bs);
  auto t = seq_tokens(6, 1);  // 1.5 blocks: the second block is partial
  ASSERT_TRUE(kv.allocate(1, 0, 6, nullptr, nullptr));
  for (int p = 0; p < 6; ++p) arena.write(kv.block_table(1), p, t[p]);
  kv.fork(1, 2);
  EXPECT_EQ(kv.block_table(1), kv.block_table(2));
  EXPECT_EQ(kv.pool().n_used(), 2);

  // Both continue differently from position 6: each must end up with its own second block.
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.allocate(2, 6, 7, nullptr, &copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, kv.block_table(1)[1]);
  EXPECT_EQ(copies[0].dst, kv.block_table(2)[1]);
  arena.copy(copies);
  arena.write(kv.block_table(2), 6, 222);
  copies.clear();
  ASSERT_TRUE(kv.allocate(1, 6, 7, nullptr, &copies));
  EXPECT_TRUE(copies.empty());  // the last holder writes in place
  arena.write(kv.block_table(1), 6, 111);

  auto a = t, b = t;
  a.push_back(111);
  b.push_back(222);
  EXPECT_EQ(arena.read(kv.block_table(1), 7), a);
  EXPECT_EQ(arena.read(kv.block_table(2), 7), b);
  EXPECT_EQ(kv.block_table(1)[0], kv.block_table(2)[0]);  // the full block stays shared
  EXPECT_EQ(kv.check(), "");
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.pool().n_used(), 0);
  EXPECT_EQ(kv.check(), "");
}

TEST(KVCacheManager, CopyOnWriteFailsCleanlyWhenNoBlockIsLeft) {
  KVCacheManager kv(2, 4, true);
  ASSERT_TRUE(kv.allocate(1, 0, 6, nullptr, nullptr));
  kv.fork(1, 2);
  std::vector<BlockCopy> copies;
  EXPECT_FALSE(kv.allocate(2, 6, 7, nullptr, &copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(kv.block_table(1), kv.block_table(2));
  EXPECT_EQ(kv.check(), "");
}

// Random forks, writes, prefix hits and frees; every sequence must always read back exactly
// the tokens it wrote, and the ref counts must match the tables.
TEST(KVCacheManager, RandomForksWritesAndHitsKeepEverySequenceIntact) {
  const int n_blocks = 24, bs = 4;
  KVCacheManager kv(n_blocks, bs, true);
  FakeArena arena(n_blocks, bs);
  const uint64_t ns = prefix_namespace_seed("");
  std::mt19937 rng(7);
  std::map<uint64_t, std::vector<int32_t>> content;
  uint64_t next_id = 1;
  for (int step = 0; step < 4000; ++step) {
    int op = rng() % 10;
    if (op < 2 || content.empty()) {  // new sequence from a few shared prompt families
      uint64_t id = next_id++;
      int fam = rng() % 3, len = 1 + rng() % 14;
      auto t = seq_tokens(len, fam);
      auto hit = kv.find_prefix(t, len - 1, ns);
      std::vector<BlockCopy> copies;
      if (!kv.allocate(id, hit.n_tokens, len, &hit, &copies)) continue;
      arena.copy(copies);
      for (int p = hit.n_tokens; p < len; ++p) arena.write(kv.block_table(id), p, t[p]);
      ASSERT_EQ(arena.read(kv.block_table(id), len), t) << "prefix hit served wrong K/V";
      kv.cache_full_blocks(id, t, len, ns);
      content[id] = t;
    } else if (op < 4) {  // fork
      auto it = std::next(content.begin(), rng() % content.size());
      uint64_t id = next_id++;
      kv.fork(it->first, id);
      content[id] = it->second;
    } else if (op < 8) {  // append a few tokens
      auto it = std::next(content.begin(), rng() % content.size());
      auto& t = it->second;
      int n_old = static_cast<int>(t.size()), add = 1 + rng() % 5;
      std::vector<BlockCopy> copies;
      if (!kv.allocate(it->first, n_old, n_old + add, nullptr, &copies)) continue;
      arena.copy(copies);
      for (int j = 0; j < add; ++j) {
        int32_t v = static_cast<int32_t>(rng() % 100000);
        t.push_back(v);
        arena.write(kv.block_table(it->first), n_old + j, v);
      }
      kv.cache_full_blocks(it->first, t, static_cast<int>(t.size()), ns);
    } else {  // free
      auto it = std::next(content.begin(), rng() % content.size());
      kv.free(it->first);
      content.erase(it);
    }
    for (auto& [id, t] : content) ASSERT_EQ(arena.read(kv.block_table(id), static_cast<int>(t.size())), t) << "seq " << id << " step " << step;
    ASSERT_EQ(kv.check(), "") << "step " << step;
  }
  for (auto& [id, t] : content) kv.free(id);
  EXPECT_EQ(kv.pool().n_used(), 0);
  EXPECT_EQ(kv.pool().n_free() + kv.pool().n_cached(), n_blocks);
  EXPECT_EQ(kv.check(), "");
}

}  // namespace
}  // namespace mlxr
