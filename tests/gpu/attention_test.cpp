// kv_store + paged attention against the CPU backend: ragged batches through shuffled block
// tables (chunked prefill after a cached prefix, decode tokens, GQA), every cache type, head
// sizes on the vectorised, generic and tensor-core paths, with and without a sliding window.
#include <algorithm>
#include <numeric>

#include "tests/gpu/gpu_test_util.h"

namespace mlxr {
namespace {

using gputest::get;
using gputest::put;
using gputest::random_vec;
using gputest::rel_err;

struct Step {
  std::vector<std::pair<int, std::pair<int, int>>> runs;  // (seq, [pos_begin, pos_end))
};

Batch make_batch(const Step& st, const std::vector<std::vector<int32_t>>& tables) {
  Batch b;
  b.block_tables = tables;
  b.seq_lens.assign(tables.size(), 0);
  for (const auto& [s, range] : st.runs) {
    for (int pos = range.first; pos < range.second; ++pos) {
      b.tokens.push_back(0);
      b.positions.push_back(pos);
      b.seq_of.push_back(s);
      b.output_rows.push_back(b.n_tokens() - 1);
    }
    b.seq_lens[s] = std::max(b.seq_lens[s], range.second);
  }
  return b;
}

void run_case(DType dtype, int head_dim, int n_head, int n_kv, int window) {
  SCOPED_TRACE(std::string(dtype_name(dtype)) + " hd=" + std::to_string(head_dim) + " heads=" + std::to_string(n_head) +
               "/" + std::to_string(n_kv) + " window=" + std::to_string(window));
  const int bs = 16, n_blocks = 64;
  KVLayout kv{2, n_blocks, bs, n_kv, head_dim, dtype};
  gputest::Pair p(kv);
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(static_cast<unsigned>(head_dim * 131 + n_head * 7 + window + static_cast<int>(dtype)));
  std::vector<int> ids(n_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::vector<int32_t>> tables(3);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 20; ++i) tables[s].push_back(ids[s * 20 + i]);
  // Step 1: prefixes. Step 2: chunked prefill after a prefix + a decode token + a fresh prompt.
  // Step 3: decode only (split-KV path).
  const std::vector<Step> steps = {
      {{{0, {0, 37}}, {1, {0, 100}}}},
      {{{0, {37, 66}}, {1, {100, 101}}, {2, {0, 70}}}},
      {{{0, {66, 67}}, {1, {101, 102}}, {2, {70, 71}}}},
  };
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const double tol = dtype == DType::F32 ? 2e-5 : dtype == DType::F16 ? 4e-3 : 2.5e-2;
  for (size_t si = 0; si < steps.size(); ++si) {
    Batch b = make_batch(steps[si], tables);
    const int T = b.n_tokens();
    const size_t nq = static_cast<size_t>(T) * n_head * head_dim, nk = static_cast<size_t>(T) * n_kv * head_dim;
    auto q = random_vec(nq, rng), k = random_vec(nk, rng), v = random_vec(nk, rng);
    std::vector<std::vector<float>> outs;
    for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
      ASSERT_TRUE(be->set_batch(b).is_ok());
      float* dq = put(*be, q);
      float* dk = put(*be, k);
      float* dv = put(*be, v);
      float* out = *be->alloc(nq);
      for (int layer = 0; layer < 2; ++layer) {
        be->kv_store(layer, dk, dv);
        be->attention(layer, dq, n_head, scale, window, out);
      }
      outs.push_back(get(*be, out, nq));
      for (float* ptr : {dq, dk, dv, out}) be->free(ptr);
    }
    EXPECT_LT(rel_err(outs[1], outs[0]), tol) << "step " << si;
  }
}

TEST(GpuAttention, AllCacheTypesAndPaths) {
  MLXR_REQUIRE_GPU();
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    run_case(t, 128, 8, 2, 0);   // tensor-core prefill (16-bit caches), vectorised decode
    run_case(t, 64, 6, 2, 0);    // group of 3
    run_case(t, 48, 4, 4, 0);    // generic head size, no GQA
    run_case(t, 128, 16, 1, 20); // group of 16 (two head chunks), sliding window
    run_case(t, 64, 8, 8, 33);
  }
}

}  // namespace
}  // namespace mlxr
