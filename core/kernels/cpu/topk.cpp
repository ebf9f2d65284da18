#include "core/kernels/cpu/topk.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/base/log_sum_exp.h"

namespace mlxr::cpu {

void top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  for (int r = 0; r < rows; ++r) {
    const float* x = logits + static_cast<size_t>(r) * n;
    // A strict total order (ties broken by index): the first k are exactly the k best.
    // partial_sort scans the row in order against a heap of the k best so far: most elements
    // cost one comparison (4-8x faster than nth_element + sort on a 128K row).
    auto better = [x](int32_t a, int32_t b) { return ranks_before(nan_as_neg_inf(x[a]), a, nan_as_neg_inf(x[b]), b); };
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
    for (int j = 0; j < k; ++j) {
      vals[static_cast<size_t>(r) * k + j] = nan_as_neg_inf(x[order[j]]);
      idx[static_cast<size_t>(r) * k + j] = order[j];
    }
    if (lse) lse[r] = log_sum_exp(x, n);
  }
}

}  // namespace mlxr::cpu
