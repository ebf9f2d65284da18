// A fixed pool of workers for data-parallel kernels. parallel_for cuts [0, n) into chunks that
// the caller and the workers claim from a shared counter, so a worker the OS has not scheduled
// yet never holds the caller up: whoever runs takes the work. Workers spin briefly before
// sleeping, since a decode step issues hundreds of small parallel ops.
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
  // fn(thread_index, begin, end) over chunks covering [0, n); thread_index < size() and no two
  // concurrent calls share one. Returns when every chunk is done. Not reentrant.
  void parallel_for(size_t n, const std::function<void(int, size_t, size_t)>& fn) { parallel_for(n, 1, fn); }
  // As above, with chunks of at least `grain` items: small ops stay on the caller.
  void parallel_for(size_t n, size_t grain, const std::function<void(int, size_t, size_t)>& fn);

  static int default_threads();

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};      // workers inside the current job
  std::atomic<bool> closed_{true};  // the caller is done: late workers must not enter
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace mlxr
