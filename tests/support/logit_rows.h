// Rows of logits for the top-k tests (CPU kernel, sampler, GPU kernel), and the naive oracle:
// a stable sort of the whole row, written from the definition of Backend::top_k_rows.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace mlxr::testing {

enum class RowKind {
  kNormal,      // N(0, 3): distinct values, a logit-like spread
  kTies,        // a few levels (multiples of 1/4 in [-2, 2]): thousands of exact ties
  kMostlyMasked,  // -inf nearly everywhere (and some NaN), a few finite values, some tied
  kConstant,    // one value everywhere
  kSignedZeros  // ±0 and a few values around them: -0 and +0 rank equal
};

inline std::vector<float> logit_rows(int rows, int n, RowKind kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_int_distribution<int> level(-8, 8);
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(rows) * n);
  for (float& x : v) {
    switch (kind) {
      case RowKind::kNormal: x = normal(rng); break;
      case RowKind::kTies: x = 0.25f * static_cast<float>(level(rng)); break;
      case RowKind::kMostlyMasked: {
        const float r = u01(rng);
        x = r < 0.01f ? 0.5f * static_cast<float>(level(rng)) : r < 0.05f ? NAN : -INFINITY;
        break;
      }
      case RowKind::kConstant: x = 1.5f; break;
      case RowKind::kSignedZeros: {
        const float r = u01(rng);
        x = r < 0.4f ? 0.0f : r < 0.8f ? -0.0f : normal(rng);
        break;
      }
    }
  }
  return v;
}

// The oracle's order: NaN ranks as -inf; a stable sort keeps equal values in index order.
inline float oracle_rank(float x) { return std::isnan(x) ? -INFINITY : x; }

// What Backend::top_k_rows writes for `rows` rows.
struct TopKRows {
  std::vector<float> vals;    // (rows, k)
  std::vector<int32_t> idx;   // (rows, k)
  std::vector<float> lse;     // (rows)
  TopKRows(int rows, int k) : vals(static_cast<size_t>(rows) * k), idx(vals.size()), lse(static_cast<size_t>(rows)) {}
};

struct TopK {
  std::vector<float> vals;
  std::vector<int32_t> idx;
  double lse = 0;
};

inline TopK naive_top_k(const float* row, int n, int k) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return oracle_rank(row[a]) > oracle_rank(row[b]); });
  TopK t;
  for (int j = 0; j < k; ++j) {
    t.idx.push_back(order[j]);
    t.vals.push_back(oracle_rank(row[order[j]]));
  }
  // log Σ exp in long double, straight from the definition.
  const long double mx = oracle_rank(row[order[0]]);
  if (std::isinf(mx)) {
    t.lse = static_cast<double>(mx);
  } else {
    long double s = 0;
    for (int i = 0; i < n; ++i)
      if (!std::isnan(row[i])) s += std::exp(static_cast<long double>(row[i]) - mx);
    t.lse = static_cast<double>(mx + std::log(s));
  }
  return t;
}

}  // namespace mlxr::testing
