// kv_store + paged attention against the CPU backend: ragged batches through shuffled block
// tables (chunked prefill after a cached prefix, decode tokens, GQA), every cache type, head
// sizes on the vectorised, generic and tensor-core paths, with and without a sliding window;
// the tensor-core prefill and decode kernels also over several tiles, splits, block sizes and
// peaked softmaxes, row by row, and the legacy kernels (MLXR_CUDA_ATTN=legacy).
#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>

#include "core/kernels/cuda/kernels.h"
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

struct Case {
  DType dtype = DType::F16;
  int head_dim = 128, n_head = 8, n_kv = 2, window = 0, block_size = 16;
  float q_gain = 1.0f;  // > 1: peaked softmax (large score spread), exercises the running max
  std::vector<Step> steps;
  size_t fill_steps = 0;  // the first steps only store K/V (kv_store), no attention to compare
};

std::string describe(const Case& c) {
  return std::string(dtype_name(c.dtype)) + " hd=" + std::to_string(c.head_dim) + " heads=" + std::to_string(c.n_head) +
         "/" + std::to_string(c.n_kv) + " window=" + std::to_string(c.window) + " block=" + std::to_string(c.block_size) +
         " q_gain=" + std::to_string(c.q_gain);
}

// Runs every step on the CPU and the GPU backend (two layers each) and checks the whole output
// and every (token, head) row on its own, so a wrong tile, split or head cannot hide in the norm.
void run_steps(const Case& cs) {
  SCOPED_TRACE(describe(cs));
  const int hd = cs.head_dim, bs = cs.block_size;
  int n_seq = 0;
  for (const Step& st : cs.steps)
    for (const auto& r : st.runs) n_seq = std::max(n_seq, r.first + 1);
  std::vector<int> len(static_cast<size_t>(n_seq), 0);
  for (const Step& st : cs.steps)
    for (const auto& [s, range] : st.runs) len[s] = std::max(len[s], range.second);
  int n_blocks = 0;
  for (int l : len) n_blocks += (l + bs - 1) / bs + 1;  // one spare block each: tables longer than needed
  KVLayout kv{2, n_blocks, bs, cs.n_kv, hd, cs.dtype};
  gputest::Pair p(kv);
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(static_cast<unsigned>(hd * 131 + cs.n_head * 7 + cs.window * 3 + bs + static_cast<int>(cs.dtype)));
  std::vector<int> ids(static_cast<size_t>(n_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(n_seq));
  size_t next = 0;
  for (int s = 0; s < n_seq; ++s)
    for (int i = 0; i < (len[s] + bs - 1) / bs + 1; ++i) tables[s].push_back(ids[next++]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const double tol = cs.dtype == DType::F32 ? 2e-5 : cs.dtype == DType::F16 ? 4e-3 : 2.5e-2;
  for (size_t si = 0; si < cs.steps.size(); ++si) {
    Batch b = make_batch(cs.steps[si], tables);
    const int T = b.n_tokens();
    const size_t nq = static_cast<size_t>(T) * cs.n_head * hd, nk = static_cast<size_t>(T) * cs.n_kv * hd;
    auto q = random_vec(nq, rng), k = random_vec(nk, rng), v = random_vec(nk, rng);
    for (float& x : q) x *= cs.q_gain;
    std::vector<std::vector<float>> outs;
    for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
      ASSERT_TRUE(be->set_batch(b).is_ok());
      float* dq = put(*be, q);
      float* dk = put(*be, k);
      float* dv = put(*be, v);
      float* out = *be->alloc(nq);
      for (int layer = 0; layer < 2; ++layer) {
        be->kv_store(layer, dk, dv);
        if (si >= cs.fill_steps) be->attention(layer, dq, cs.n_head, scale, cs.window, out);
      }
      outs.push_back(get(*be, out, nq));
      for (float* ptr : {dq, dk, dv, out}) be->free(ptr);
    }
    if (si < cs.fill_steps) continue;
    EXPECT_LT(rel_err(outs[1], outs[0]), tol) << "step " << si;
    int bad = 0;
    for (int t = 0; t < T && bad < 5; ++t) {
      for (int h = 0; h < cs.n_head && bad < 5; ++h) {
        const size_t at = (static_cast<size_t>(t) * cs.n_head + h) * hd;
        const std::vector<float> ref(outs[0].begin() + at, outs[0].begin() + at + hd);
        const std::vector<float> got(outs[1].begin() + at, outs[1].begin() + at + hd);
        const double e = rel_err(got, ref);
        if (!(e < 2 * tol)) {
          ++bad;
          ADD_FAILURE() << "step " << si << " token " << t << " (seq " << b.seq_of[t] << " pos " << b.positions[t]
                        << ") head " << h << ": rel_err " << e;
        }
      }
    }
  }
}

// Prefill over several 128-row tiles (ragged last tiles), chunked prefill after a cached
// prefix beside decode tokens and a fresh prompt, then decode of every sequence.
std::vector<Step> prefill_steps() {
  return {
      {{{0, {0, 200}}, {1, {0, 37}}, {2, {0, 129}}}},
      {{{0, {200, 333}}, {1, {37, 38}}, {2, {129, 300}}, {3, {0, 5}}}},
      {{{0, {333, 334}}, {1, {38, 39}}, {2, {300, 301}}, {3, {5, 6}}}},
  };
}

// Decode only: 37 sequences of lengths 1..~450 (some splits of the key range are empty).
std::vector<Step> decode_steps(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> L(1, 450);
  Step fill, dec;
  for (int s = 0; s < 37; ++s) {
    const int l = s == 0 ? 1 : s == 1 ? 16 : s == 2 ? 17 : L(rng);
    fill.runs.push_back({s, {0, l}});
    dec.runs.push_back({s, {l, l + 1}});
  }
  return {fill, dec};
}

TEST(GpuAttention, TensorCorePrefillTilesChunksAndWindows) {
  MLXR_REQUIRE_GPU();
  for (DType t : {DType::F16, DType::BF16}) {
    for (int hd : {128, 64}) {
      for (auto [nh, nkv] : {std::pair{8, 2}, std::pair{4, 4}, std::pair{8, 1}}) {
        Case c;
        c.dtype = t;
        c.head_dim = hd;
        c.n_head = nh;
        c.n_kv = nkv;
        c.steps = prefill_steps();
        run_steps(c);
        c.window = hd == 128 ? 50 : 100;
        c.q_gain = 6.0f;
        run_steps(c);
      }
    }
  }
}

TEST(GpuAttention, TensorCoreOddBlockSizes) {
  MLXR_REQUIRE_GPU();
  for (int bs : {8, 32, 24}) {
    Case c;
    c.block_size = bs;
    c.steps = prefill_steps();
    run_steps(c);
    c.dtype = DType::BF16;
    c.window = 70;
    c.steps = decode_steps(5);
    c.fill_steps = 1;
    run_steps(c);
  }
}

TEST(GpuAttention, TensorCoreDecodeManySequences) {
  MLXR_REQUIRE_GPU();
  for (DType t : {DType::F16, DType::BF16}) {
    for (auto [nh, nkv] : {std::pair{8, 2}, std::pair{32, 8}, std::pair{6, 6}, std::pair{16, 2}, std::pair{24, 2}}) {
      Case c;
      c.dtype = t;
      c.n_head = nh;
      c.n_kv = nkv;
      c.steps = decode_steps(11);
      c.fill_steps = 1;
      run_steps(c);
      c.head_dim = 64;
      c.window = 33;
      c.q_gain = 6.0f;
      run_steps(c);
    }
  }
  // One sequence, long context: many splits of one (token, kv head).
  Case c;
  c.n_head = 16;
  c.n_kv = 4;
  c.steps = {{{{0, {0, 2500}}}}, {{{0, {2500, 2501}}}}};
  c.fill_steps = 1;
  run_steps(c);
}

// The previous kernels (MLXR_CUDA_ATTN=legacy) stay selectable and correct.
TEST(GpuAttention, LegacyKernelsStillSelectable) {
  MLXR_REQUIRE_GPU();
  setenv("MLXR_CUDA_ATTN", "legacy", 1);
  for (DType t : {DType::F16, DType::BF16}) {
    Case c;
    c.dtype = t;
    c.steps = prefill_steps();
    run_steps(c);
    c.window = 50;
    c.steps = decode_steps(3);
    c.fill_steps = 1;
    run_steps(c);
  }
  unsetenv("MLXR_CUDA_ATTN");
}

// Step 1: prefixes. Step 2: chunked prefill after a prefix + a decode token + a fresh prompt.
// Step 3: decode only (split-KV path).
void run_case(DType dtype, int head_dim, int n_head, int n_kv, int window) {
  Case c;
  c.dtype = dtype;
  c.head_dim = head_dim;
  c.n_head = n_head;
  c.n_kv = n_kv;
  c.window = window;
  c.steps = {
      {{{0, {0, 37}}, {1, {0, 100}}}},
      {{{0, {37, 66}}, {1, {100, 101}}, {2, {0, 70}}}},
      {{{0, {66, 67}}, {1, {101, 102}}, {2, {70, 71}}}},
  };
  run_steps(c);
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


// Kernel times of the attention launchers alone (CUDA events, no backend in between), llama3-8b
// shape, F16 cache: for tuning, not a check. Run with
//   mlxr_test_gpu --gtest_also_run_disabled_tests --gtest_filter=GpuAttentionPerf.*
// MLXR_CUDA_ATTN=legacy times the previous kernels.
TEST(GpuAttentionPerf, DISABLED_KernelTimes) {
  MLXR_REQUIRE_GPU();
  const int n_head = 32, n_kv = 8, hd = 128, bs = 16, n_blocks = 8192;
  const size_t plane = static_cast<size_t>(n_blocks) * bs * n_kv * hd * 2;
  void *K = nullptr, *V = nullptr;
  ASSERT_EQ(cudaMalloc(&K, plane), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&V, plane), cudaSuccess);
  cudaMemset(K, 0x2a, plane);  // every half 0x2a2a: finite
  cudaMemset(V, 0x2a, plane);
  cudaStream_t st;
  cudaStreamCreate(&st);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  cuda::attention_init();
  const char* env = std::getenv("MLXR_CUDA_ATTN");
  std::string variant = env ? env : "fast";
  struct Shape {
    int S, ctx, fresh;  // sequences, context after the step, new tokens per sequence
  };
  const std::vector<Shape> shapes = {{1, 2048, 2048}, {1, 4096, 512}, {4, 1024, 1024}, {1, 8192, 8192},
                                     {64, 513, 1},    {8, 2048, 1},   {1, 4096, 1},     {128, 1024, 1},
                                     {32, 4096, 1},   {1, 512, 1}};
  for (const Shape& sh : shapes) {
    const int per_seq = (sh.ctx + bs - 1) / bs;
    int stride = 1;
    while (stride < per_seq) stride *= 2;
    std::vector<int32_t> tables(static_cast<size_t>(sh.S) * stride, 0), pos, seq;
    for (int s = 0; s < sh.S; ++s) {
      for (int i = 0; i < per_seq; ++i) tables[static_cast<size_t>(s) * stride + i] = (s * per_seq + i) % n_blocks;
      for (int p = sh.ctx - sh.fresh; p < sh.ctx; ++p) {
        pos.push_back(p);
        seq.push_back(s);
      }
    }
    const int T = static_cast<int>(pos.size());
    std::vector<int32_t> tiles;
    for (int t = 0; t < T;) {
      int e = t;
      while (e < T && e - t < cuda::kAttnTileRows && seq[e] == seq[t]) ++e;
      tiles.insert(tiles.end(), {t, e - t, seq[t], pos[t], pos[e - 1]});
      t = e;
    }
    int32_t *d_tab, *d_pos, *d_seq, *d_tiles;
    cudaMalloc(&d_tab, tables.size() * 4);
    cudaMalloc(&d_pos, pos.size() * 4);
    cudaMalloc(&d_seq, seq.size() * 4);
    cudaMalloc(&d_tiles, tiles.size() * 4);
    cudaMemcpy(d_tab, tables.data(), tables.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_pos, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_seq, seq.data(), seq.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_tiles, tiles.data(), tiles.size() * 4, cudaMemcpyHostToDevice);
    std::mt19937 rng(1);
    const std::vector<float> qh = random_vec(static_cast<size_t>(T) * n_head * hd, rng);
    float *q, *out, *ws;
    cudaMalloc(&q, qh.size() * 4);
    cudaMalloc(&out, qh.size() * 4);
    cudaMemcpy(q, qh.data(), qh.size() * 4, cudaMemcpyHostToDevice);
    cuda::KVArgs a;
    a.k = K;
    a.v = V;
    a.dtype = DType::F16;
    a.block_size = bs;
    a.n_kv = n_kv;
    a.hd = hd;
    a.tables = d_tab;
    a.stride = stride;
    a.positions = d_pos;
    a.seq_of = d_seq;
    const float scale = 1.0f / std::sqrt(128.0f);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    auto time_ms = [&](auto&& f) {
      for (int i = 0; i < 3; ++i) f();
      cudaEventRecord(e0, st);
      const int reps = 30;
      for (int i = 0; i < reps; ++i) f();
      cudaEventRecord(e1, st);
      cudaEventSynchronize(e1);
      float ms = 0;
      cudaEventElapsedTime(&ms, e0, e1);
      return ms / reps;
    };
    if (sh.fresh > 1) {
      const int nt = static_cast<int>(tiles.size() / 5);
      const double ms = time_ms([&] { cuda::attention_tiled(a, d_tiles, nt, q, n_head, scale, 0, out, nullptr, st); });
      double pairs = 0;
      for (int p = sh.ctx - sh.fresh; p < sh.ctx; ++p) pairs += p + 1;
      const double flops = 4.0 * pairs * hd * n_head * sh.S;
      std::printf("perf [%s] prefill %dx%d@%d: %.4f ms, %.1f TFLOP/s\n", variant.c_str(), sh.S, sh.fresh, sh.ctx, ms,
                  flops / ms / 1e9);
    } else {
      // The backend's choice (CudaBackend::attention), then a sweep.
      const int blocks = T * n_kv * ((n_head / n_kv + 7) / 8);
      const int max_keys = stride * bs;
      const int chosen = cuda::attention_splits(DType::F16, hd, blocks, max_keys, prop.multiProcessorCount);
      const double bytes = static_cast<double>(sh.S) * sh.ctx * n_kv * hd * 2 * 2;
      cudaMalloc(&ws, static_cast<size_t>(T) * n_head * 64 * (hd + 2) * 4);
      for (int ns : {chosen, 1, 2, 3, 4, 8, 16, 32, 64}) {
        if (ns > std::max(1, max_keys / 16)) continue;
        float* ws_ml = ws + static_cast<size_t>(T) * n_head * ns * hd;
        const double ms = time_ms([&] { cuda::attention_split(a, q, T, n_head, scale, 0, ns, ws, ws_ml, out, st); });
        std::printf("perf [%s] decode %dx%d nsplit %d%s: %.2f us, %.0f GB/s\n", variant.c_str(), sh.S, sh.ctx, ns,
                    ns == chosen ? " (backend's)" : "", ms * 1e3, bytes / ms / 1e6);
      }
      cudaFree(ws);
    }
    EXPECT_EQ(cudaStreamSynchronize(st), cudaSuccess);
    for (void* p : {static_cast<void*>(d_tab), static_cast<void*>(d_pos), static_cast<void*>(d_seq),
                    static_cast<void*>(d_tiles), static_cast<void*>(q), static_cast<void*>(out)})
      cudaFree(p);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
  cudaStreamDestroy(st);
  cudaFree(K);
  cudaFree(V);
}

}  // namespace
}  // namespace mlxr
