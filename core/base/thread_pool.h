// A fixed pool of workers for data-parallel kernels: parallel_for splits [0, n) into
// contiguous chunks, one per thread, and the caller participates. Sized from the hardware.
// Workers spin briefly before sleeping: a decode step issues hundreds of small parallel ops,
// and a futex wake-up per op would cost more than the op.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mlxr {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads = 0);  // 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // fn(thread_index, begin, end) for each chunk; returns when all chunks are done.
  void parallel_for(size_t n, const std::function<void(int, size_t, size_t)>& fn) { parallel_for(n, 1, fn); }
  // As above, but each thread gets at least `grain` items: small ops stay on the caller.
  void parallel_for(size_t n, size_t grain, const std::function<void(int, size_t, size_t)>& fn);
  // fn(thread_index, n_threads) on every thread; returns when all are done. Not reentrant.
  void run_on_all(const std::function<void(int, int)>& fn);

  static int default_threads();

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace mlxr
