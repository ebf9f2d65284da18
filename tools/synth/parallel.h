// Splits [0, n) into contiguous ranges over the hardware threads (rows are independent).
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace mlxr::tools {

template <typename Fn>  // fn(begin, end, worker_index)
void parallel_ranges(int64_t n, Fn&& fn) {
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t k = std::min<int64_t>(hw, n);
  if (k <= 1) {
    fn(int64_t{0}, n, 0);
    return;
  }
  std::vector<std::thread> ts;
  for (int64_t w = 1; w < k; ++w) ts.emplace_back([&, w] { fn(n * w / k, n * (w + 1) / k, static_cast<int>(w)); });
  fn(int64_t{0}, n / k, 0);
  for (auto& t : ts) t.join();
}

}  // namespace mlxr::tools
