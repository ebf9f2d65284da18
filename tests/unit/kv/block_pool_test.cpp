#include "core/kv/block_pool.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace mlxr {
namespace {

std::vector<int32_t> toks(int bs, int base) {
  std::vector<int32_t> t(bs);
  for (int i = 0; i < bs; ++i) t[i] = base + i;
  return t;
}

TEST(BlockPool, AllocatesEveryBlockOnceThenFails) {
  BlockPool p(5, 4);
  std::vector<int> got;
  for (int i = 0; i < 5; ++i) got.push_back(p.allocate());
  EXPECT_EQ(p.allocate(), -1);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(p.n_used(), 5);
  EXPECT_EQ(p.n_free(), 0);
  for (int b : got) p.decref(b);
  EXPECT_EQ(p.n_used(), 0);
  EXPECT_EQ(p.n_free(), 5);
  EXPECT_EQ(p.check(), "");
}

TEST(BlockPool, SharedBlockFreedOnlyAtLastRelease) {
  BlockPool p(2, 4);
  int b = p.allocate();
  p.incref(b);
  EXPECT_EQ(p.ref(b), 2);
  p.decref(b);
  EXPECT_EQ(p.n_used(), 1);
  p.decref(b);
  EXPECT_EQ(p.n_used(), 0);
  EXPECT_EQ(p.n_free(), 2);
  EXPECT_EQ(p.check(), "");
}

TEST(BlockPool, CachedBlocksSurviveUntilFreeBlocksRunOutThenLeastRecentGoesFirst) {
  BlockPool p(4, 4);
  int a = p.allocate(), b = p.allocate(), c = p.allocate();
  auto ta = toks(4, 10), tb = toks(4, 20), tc = toks(4, 30);
  ASSERT_TRUE(p.register_block(a, 1, 0, ta.data()));
  ASSERT_TRUE(p.register_block(b, 2, 0, tb.data()));
  ASSERT_TRUE(p.register_block(c, 3, 0, tc.data()));
  p.decref(b);  // released order: b, a, c
  p.decref(a);
  p.decref(c);
  EXPECT_EQ(p.n_cached(), 3);
  EXPECT_EQ(p.n_free(), 1);
  EXPECT_EQ(p.n_available(), 4);
  int d = p.allocate();  // the one free block, no eviction
  EXPECT_NE(d, a);
  EXPECT_NE(d, b);
  EXPECT_NE(d, c);
  EXPECT_EQ(p.evictions(), 0u);
  EXPECT_EQ(p.allocate(), b);  // least recently released
  EXPECT_EQ(p.lookup(2, 0, tb.data()), -1);
  EXPECT_EQ(p.lookup(1, 0, ta.data()), a);
  EXPECT_EQ(p.evictions(), 1u);
  // A hit moves a block out of the eviction queue: c is now safe, a goes next.
  p.incref(c);
  EXPECT_EQ(p.allocate(), a);
  EXPECT_EQ(p.allocate(), -1);
  EXPECT_EQ(p.lookup(3, 0, tc.data()), c);
  EXPECT_EQ(p.check(), "");
}

TEST(BlockPool, LookupRejectsSameHashWithOtherTokensOrParent) {
  BlockPool p(2, 4);
  int a = p.allocate();
  auto t = toks(4, 7), other = toks(4, 8);
  ASSERT_TRUE(p.register_block(a, 99, 5, t.data()));
  EXPECT_EQ(p.lookup(99, 5, t.data()), a);
  EXPECT_EQ(p.lookup(99, 5, other.data()), -1);
  EXPECT_EQ(p.lookup(99, 6, t.data()), -1);
  EXPECT_EQ(p.lookup(98, 5, t.data()), -1);
}

TEST(BlockPool, DuplicateHashKeepsTheFirstBlock) {
  BlockPool p(3, 2);
  int a = p.allocate(), b = p.allocate();
  auto t = toks(2, 1);
  EXPECT_TRUE(p.register_block(a, 7, 0, t.data()));
  EXPECT_FALSE(p.register_block(b, 7, 0, t.data()));
  EXPECT_FALSE(p.register_block(a, 8, 0, t.data()));
  p.decref(b);  // unregistered: straight to the free list
  EXPECT_EQ(p.n_free(), 2);
  p.decref(a);
  EXPECT_EQ(p.n_cached(), 1);
  p.clear_cache();
  EXPECT_EQ(p.n_cached(), 0);
  EXPECT_EQ(p.n_free(), 3);
  EXPECT_EQ(p.lookup(7, 0, t.data()), -1);
  EXPECT_EQ(p.check(), "");
}

// Random operations against a plain model of the expected states.
TEST(BlockPool, RandomOperationsKeepInvariants) {
  const int n = 17, bs = 3;
  BlockPool p(n, bs);
  std::mt19937 rng(1234);
  std::vector<int> refs(n, 0);
  std::vector<bool> reg(n, false);
  uint64_t next_hash = 1;
  for (int step = 0; step < 20000; ++step) {
    int op = rng() % 4;
    if (op == 0) {
      int b = p.allocate();
      int avail = 0;
      for (int i = 0; i < n; ++i) avail += refs[i] == 0;
      if (avail == 0) {
        ASSERT_EQ(b, -1);
      } else {
        ASSERT_GE(b, 0);
        ASSERT_EQ(refs[b], 0);
        refs[b] = 1;
        reg[b] = false;  // a reused cached block loses its entry
      }
    } else if (op == 1 || op == 2) {
      std::vector<int> live;
      for (int i = 0; i < n; ++i) {
        if (refs[i] > 0) live.push_back(i);
      }
      if (live.empty()) continue;
      int b = live[rng() % live.size()];
      if (op == 1) {
        p.decref(b);
        --refs[b];
      } else {
        p.incref(b);
        ++refs[b];
      }
    } else {
      std::vector<int> live;
      for (int i = 0; i < n; ++i) {
        if (refs[i] > 0 && !reg[i]) live.push_back(i);
      }
      if (live.empty()) continue;
      int b = live[rng() % live.size()];
      auto t = toks(bs, b);
      ASSERT_TRUE(p.register_block(b, next_hash++, 0, t.data()));
      reg[b] = true;
    }
    int used = 0, cached = 0;
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(p.ref(i), refs[i]);
      ASSERT_EQ(p.is_registered(i), reg[i]) << "block " << i;
      used += refs[i] > 0;
      cached += refs[i] == 0 && reg[i];
    }
    ASSERT_EQ(p.n_used(), used);
    ASSERT_EQ(p.n_cached(), cached);
    ASSERT_EQ(p.n_free(), n - used - cached);
    if (step % 97 == 0) {
      ASSERT_EQ(p.check(), "");
    }
  }
}

}  // namespace
}  // namespace mlxr
