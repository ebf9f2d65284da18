#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/base/thread_pool.h"

namespace mlxr {

// Every index is visited exactly once, by a valid thread index, with no two chunks of one call
// running on the same index at once — over many back-to-back calls (the decode-loop pattern).
TEST(ThreadPool, CoversEveryIndexOnceAcrossManyCalls) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int iter = 0; iter < 2000; ++iter) {
      const size_t n = 1 + (iter * 7919) % 257;
      std::vector<std::atomic<int>> hits(n);
      std::vector<std::atomic<int>> busy(static_cast<size_t>(threads));
      std::atomic<bool> bad{false};
      pool.parallel_for(n, 1 + iter % 5, [&](int t, size_t b, size_t e) {
        if (t < 0 || t >= threads || busy[t].fetch_add(1) != 0) bad = true;
        for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
        busy[t].fetch_sub(1);
      });
      ASSERT_FALSE(bad) << "threads " << threads << " iter " << iter;
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " iter " << iter;
    }
  }
}

TEST(ThreadPool, CallerFinishesAloneWhenWorkersAreBusy) {
  ThreadPool pool(2);
  std::atomic<int> calls{0};
  // A grain as large as n keeps the work on the caller.
  pool.parallel_for(10, 10, [&](int t, size_t b, size_t e) {
    EXPECT_EQ(t, 0);
    EXPECT_EQ(b, 0u);
    EXPECT_EQ(e, 10u);
    ++calls;
  });
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace mlxr
