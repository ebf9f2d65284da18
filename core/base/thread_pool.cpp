#include "core/base/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLXR_CPU_RELAX() _mm_pause()
#else
#define MLXR_CPU_RELAX() std::this_thread::yield()
#endif

namespace mlxr {
namespace {
constexpr int kSpinIterations = 1 << 12;
constexpr size_t kChunksPerThread = 4;
}  // namespace

int ThreadPool::default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : default_threads()) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
      if (++spins < kSpinIterations) {
        MLXR_CPU_RELAX();
      } else if (spins < 2 * kSpinIterations) {
        std::this_thread::yield();  // an oversubscribed machine: give the core away
      } else {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
      }
    }
    if (stop_.load()) return;
    const uint64_t g = generation_.load();
    seen = g;
    // Enter only while the job is open; the caller waits for active_ to drain after closing,
    // so job_ stays valid for everyone who got in.
    active_.fetch_add(1);
    if (generation_.load() == g && !closed_.load()) (*job_)(index);
    active_.fetch_sub(1);
  }
}

void ThreadPool::parallel_for(size_t n, size_t grain, const std::function<void(int, size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  if (n_threads_ == 1 || n / grain <= 1) {
    fn(0, 0, n);
    return;
  }
  const size_t n_chunks = std::min(n / grain, static_cast<size_t>(n_threads_) * kChunksPerThread);
  const size_t chunk = (n + n_chunks - 1) / n_chunks;
  std::atomic<size_t> next{0};
  const std::function<void(int)> job = [&](int t) {
    for (;;) {
      const size_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) return;
      fn(t, b, std::min(n, b + chunk));
    }
  };
  job_ = &job;
  closed_.store(false);
  {
    // The lock orders the generation bump against a worker about to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1);
  }
  if (sleepers_.load() > 0) cv_start_.notify_all();
  job(0);
  closed_.store(true);
  for (int spins = 0; active_.load() != 0; ++spins) {
    if (spins < kSpinIterations) {
      MLXR_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace mlxr
