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
}

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
        continue;
      }
      if (spins < 2 * kSpinIterations) {
        std::this_thread::yield();  // an oversubscribed machine: give the core away
        continue;
      }
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      cv_start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      break;
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    (*job_)(index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // The lock orders the generation bump against a worker about to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load() > 0) cv_start_.notify_all();
  fn(0, n_threads_);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinIterations) {
      MLXR_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
}

void ThreadPool::parallel_for(size_t n, size_t grain, const std::function<void(int, size_t, size_t)>& fn) {
  if (n == 0) return;
  int used = static_cast<int>(std::min<size_t>(n / std::max<size_t>(grain, 1), static_cast<size_t>(n_threads_)));
  if (used <= 1) {
    fn(0, 0, n);
    return;
  }
  run_on_all([&](int t, int nt) {
    size_t chunk = (n + nt - 1) / nt;
    size_t b = std::min(n, chunk * t), e = std::min(n, b + chunk);
    if (b < e) fn(t, b, e);
  });
}

}  // namespace mlxr
