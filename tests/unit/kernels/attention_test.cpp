// Paged attention against a dense fp64 reference: random block tables (shuffled, shared
// arena), GQA, sliding windows, ragged batches of odd lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/base/thread_pool.h"
#include "core/kernels/cpu/attention.h"

namespace mlxr {
namespace {

struct Case {
  int n_head, n_kv_heads, head_dim, block_size, window;
  DType dtype;
  double tol;
};

class PagedAttention : public ::testing::TestWithParam<Case> {};

TEST_P(PagedAttention, MatchesDenseReference) {
  const Case c = GetParam();
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // Three sequences: (past tokens already cached, new tokens this step).
  const std::vector<std::pair<int, int>> seqs = {{0, 17}, {23, 1}, {5, 9}};
  KVLayout L;
  L.n_layers = 1;
  L.block_size = c.block_size;
  L.n_kv_heads = c.n_kv_heads;
  L.head_dim = c.head_dim;
  L.dtype = c.dtype;
  int total_blocks = 0;
  for (auto [past, n] : seqs) total_blocks += (past + n + c.block_size - 1) / c.block_size;
  L.n_blocks = total_blocks + 3;
  std::vector<int32_t> ids(static_cast<size_t>(L.n_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  const size_t bytes = L.layer_bytes();
  std::vector<uint8_t> kbuf(bytes), vbuf(bytes);
  cpu::KVLayerView view{kbuf.data(), vbuf.data(), &L};
  const int kvw = c.n_kv_heads * c.head_dim, qw = c.n_head * c.head_dim;

  // Per sequence the full K/V history (fp32 truth) and the batch built from it.
  std::vector<std::vector<float>> K(seqs.size()), V(seqs.size());
  Batch past_batch, batch;
  size_t next_id = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    auto [past, n] = seqs[s];
    const int len = past + n;
    std::vector<int32_t> table;
    for (int b = 0; b < (len + c.block_size - 1) / c.block_size; ++b) table.push_back(ids[next_id++]);
    past_batch.block_tables.push_back(table);
    batch.block_tables.push_back(table);
    past_batch.seq_lens.push_back(past);
    batch.seq_lens.push_back(len);
    K[s].resize(static_cast<size_t>(len) * kvw);
    V[s].resize(static_cast<size_t>(len) * kvw);
    for (auto& x : K[s]) x = nd(rng);
    for (auto& x : V[s]) x = nd(rng);
    for (int p = 0; p < len; ++p) {
      Batch& b = p < past ? past_batch : batch;
      b.tokens.push_back(0);
      b.positions.push_back(p);
      b.seq_of.push_back(static_cast<int>(s));
    }
  }
  auto rows = [&](const Batch& b, const std::vector<std::vector<float>>& src) {
    std::vector<float> out;
    for (int t = 0; t < b.n_tokens(); ++t) {
      const float* r = src[b.seq_of[t]].data() + static_cast<size_t>(b.positions[t]) * kvw;
      out.insert(out.end(), r, r + kvw);
    }
    return out;
  };
  cpu::kv_store(view, past_batch, rows(past_batch, K).data(), rows(past_batch, V).data());
  cpu::kv_store(view, batch, rows(batch, K).data(), rows(batch, V).data());

  const int T = batch.n_tokens();
  std::vector<float> q(static_cast<size_t>(T) * qw), out(q.size());
  for (auto& x : q) x = nd(rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  ThreadPool pool(2);
  cpu::attention(view, batch, q.data(), c.n_head, scale, c.window, out.data(), pool);

  std::vector<float> scalar(out.size());
  cpu::attention_scalar(view, batch, q.data(), c.n_head, scale, c.window, scalar.data());
  EXPECT_EQ(scalar, out) << "SIMD build differs from the portable build";

  double max_err = 0;
  const int group = c.n_head / c.n_kv_heads;
  for (int t = 0; t < T; ++t) {
    const int s = batch.seq_of[t], pos = batch.positions[t];
    const int first = c.window > 0 ? std::max(0, pos - c.window + 1) : 0;
    for (int h = 0; h < c.n_head; ++h) {
      const int kvh = h / group;
      std::vector<double> w;
      double mx = -1e300;
      for (int j = first; j <= pos; ++j) {
        double d = 0;
        for (int i = 0; i < c.head_dim; ++i)
          d += double(q[(size_t(t) * c.n_head + h) * c.head_dim + i]) * K[s][(size_t(j) * c.n_kv_heads + kvh) * c.head_dim + i];
        w.push_back(d * scale);
        mx = std::max(mx, w.back());
      }
      double sum = 0;
      for (auto& x : w) sum += x = std::exp(x - mx);
      for (int i = 0; i < c.head_dim; ++i) {
        double acc = 0;
        for (int j = first; j <= pos; ++j) acc += w[j - first] / sum * V[s][(size_t(j) * c.n_kv_heads + kvh) * c.head_dim + i];
        max_err = std::max(max_err, std::fabs(acc - out[(size_t(t) * c.n_head + h) * c.head_dim + i]));
      }
    }
  }
  EXPECT_LT(max_err, c.tol);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttention,
                         ::testing::Values(Case{4, 2, 8, 16, 0, DType::F32, 1e-5},
                                           Case{6, 3, 40, 5, 0, DType::F32, 1e-5},
                                           Case{8, 1, 64, 16, 7, DType::F32, 1e-5},
                                           Case{4, 4, 33 + 1, 3, 0, DType::F16, 1e-2},
                                           Case{4, 2, 16, 16, 4, DType::BF16, 5e-2}));

}  // namespace
}  // namespace mlxr
