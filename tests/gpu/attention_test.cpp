// kv_store + paged attention against the CPU backend: ragged batches through shuffled block
// tables (chunked prefill after a cached prefix, decode tokens, GQA), every cache type, head
// sizes on the vectorised, generic and tensor-core paths, with and without a sliding window;
// the tensor-core prefill and decode kernels also over several tiles, splits, block sizes and
// peaked softmaxes, row by row, and the legacy kernels (MLXR_CUDA_ATTN=legacy).
#include <algorithm>
#include <cstdlib>
#include <cstring>
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

// The KV arguments of one layer's planes k/v with these tables and batch positions.
cuda::KVArgs kv_args(void* k, void* v, DType t, int bs, int n_kv, int hd, const int32_t* tables, int stride,
                     const int32_t* positions, const int32_t* seq_of) {
  cuda::KVArgs a;
  a.k = k;
  a.v = v;
  a.dtype = t;
  a.block_size = bs;
  a.n_kv = n_kv;
  a.hd = hd;
  a.tables = tables;
  a.stride = stride;
  a.positions = positions;
  a.seq_of = seq_of;
  return a;
}

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

// Decode of a few sequences of different lengths (one of a single key), no window: many splits,
// groups of 16 and 12 (two chunks of heads, the second partial), both head sizes.
TEST(GpuAttention, TensorCoreDecodeSplitsWideGroups) {
  MLXR_REQUIRE_GPU();
  for (DType t : {DType::F16, DType::BF16}) {
    for (int hd : {64, 128}) {
      for (int nh : {32, 24}) {
        Case c;
        c.dtype = t;
        c.head_dim = hd;
        c.n_head = nh;
        c.n_kv = 2;
        c.q_gain = 3.0f;
        c.steps = {{{{0, {0, 300}}, {1, {0, 700}}, {2, {0, 1000}}, {3, {0, 1}}}},
                   {{{0, {300, 301}}, {1, {700, 701}}, {2, {1000, 1001}}, {3, {1, 2}}}}};
        c.fill_steps = 1;
        run_steps(c);
      }
    }
  }
}

// The split decode kernel merges the splits in its last block per (token, kv head, heads), counted
// in device memory: the same attention repeated through the backend (the first step records a
// graph, the next replay it) gives the same bits every time, in both layers.
TEST(GpuAttention, SplitDecodeRepeatsBitExact) {
  MLXR_REQUIRE_GPU();
  const int n_head = 24, n_kv = 2, bs = 16;
  const std::vector<int> lens = {1, 300, 1000};
  for (DType t : {DType::F16, DType::BF16}) {
    for (int hd : {64, 128}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " hd=" + std::to_string(hd));
      std::vector<std::vector<int32_t>> tables;
      int n_blocks = 0;
      for (int l : lens) {
        tables.emplace_back();
        for (int i = 0; i < (l + bs) / bs; ++i) tables.back().push_back(n_blocks++);
      }
      Step fill, dec;
      for (int s = 0; s < static_cast<int>(lens.size()); ++s) {
        fill.runs.push_back({s, {0, lens[s]}});
        dec.runs.push_back({s, {lens[s], lens[s] + 1}});
      }
      const Batch fb = make_batch(fill, tables), db = make_batch(dec, tables);
      // The premise: the backend splits this batch's keys (its table stride covers >= 1000 keys).
      cudaDeviceProp prop{};
      ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
      ASSERT_GT(cuda::attention_splits(t, hd, db.n_tokens() * n_kv * 2, 1000, prop.multiProcessorCount), 1);
      gputest::Pair p(KVLayout{2, n_blocks, bs, n_kv, hd, t});
      ASSERT_TRUE(p.gpu);
      std::mt19937 rng(static_cast<unsigned>(hd + static_cast<int>(t)));
      const size_t nk = static_cast<size_t>(fb.n_tokens()) * n_kv * hd;
      const size_t nq = static_cast<size_t>(db.n_tokens()) * n_head * hd;
      const auto k = random_vec(nk, rng), v = random_vec(nk, rng), q = random_vec(nq, rng);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      std::vector<std::vector<float>> got;  // CPU, then the GPU's (repeat, layer)
      for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
        ASSERT_TRUE(be->set_batch(fb).is_ok());
        float* dk = put(*be, k);
        float* dv = put(*be, v);
        for (int layer = 0; layer < 2; ++layer) be->kv_store(layer, dk, dv);
        float* dq = put(*be, q);
        float* out[2] = {*be->alloc(nq), *be->alloc(nq)};
        for (int r = 0; r < (be == &p.cpu ? 1 : 3); ++r) {
          ASSERT_TRUE(be->set_batch(db).is_ok());
          for (int layer = 0; layer < 2; ++layer) {
            be->fill_zero(out[layer], nq);  // a launch that merged nothing would leave zeros
            be->attention(layer, dq, n_head, scale, 0, out[layer]);
          }
          for (float* o : out) got.push_back(get(*be, o, nq));
          if (be == &p.cpu) got.pop_back();
        }
        for (float* ptr : {dk, dv, dq, out[0], out[1]}) be->free(ptr);
      }
      ASSERT_EQ(got.size(), 7u);
      EXPECT_LT(rel_err(got[1], got[0]), t == DType::F16 ? 4e-3 : 2.5e-2);
      for (size_t i = 2; i < got.size(); ++i)
        EXPECT_EQ(std::memcmp(got[i].data(), got[1].data(), nq * sizeof(float)), 0) << "GPU result " << i - 1;
    }
  }
}

// attention_split itself on the tensor-core decode path: every nsplit agrees with nsplit = 1
// (where no merge of splits runs), launches back to back (PDL) and graph replays give the same
// bits, and the counters are zero afterwards.
TEST(GpuAttention, SplitDecodeKernelCountersReturnToZero) {
  MLXR_REQUIRE_GPU();
  cuda::attention_init();
  cudaStream_t st;
  ASSERT_EQ(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
  const int n_kv = 2, bs = 16, max_split = 16;
  const std::vector<int> lens = {1, 17, 300, 1000};
  const int T = static_cast<int>(lens.size());
  int stride = 0, n_blocks = 0;
  for (int l : lens) {
    stride = std::max(stride, (l + bs - 1) / bs);
    n_blocks += (l + bs - 1) / bs;
  }
  std::vector<int32_t> tables(static_cast<size_t>(T) * stride, 0), fpos, fseq, dpos, dseq;
  for (int s = 0, next = 0; s < T; ++s) {
    for (int i = 0; i < (lens[s] + bs - 1) / bs; ++i) tables[static_cast<size_t>(s) * stride + i] = next++;
    for (int pos = 0; pos < lens[s]; ++pos) {
      fpos.push_back(pos);
      fseq.push_back(s);
    }
    dpos.push_back(lens[s] - 1);
    dseq.push_back(s);
  }
  std::vector<void*> owned;
  auto dev = [&](size_t bytes, const void* host = nullptr) {
    void* d = nullptr;
    EXPECT_EQ(cudaMalloc(&d, bytes), cudaSuccess);
    if (host) {
      EXPECT_EQ(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
    }
    owned.push_back(d);
    return d;
  };
  auto ints = [&](const std::vector<int32_t>& v) { return static_cast<const int32_t*>(dev(v.size() * 4, v.data())); };
  const int32_t *d_tab = ints(tables), *d_fpos = ints(fpos), *d_fseq = ints(fseq), *d_dpos = ints(dpos),
                *d_dseq = ints(dseq);
  const int TF = static_cast<int>(fpos.size());
  std::mt19937 rng(7);
  for (DType t : {DType::F16, DType::BF16}) {
    for (int hd : {64, 128}) {
      for (int n_head : {32, 24}) {
        SCOPED_TRACE(std::string(dtype_name(t)) + " hd=" + std::to_string(hd) + " heads=" + std::to_string(n_head));
        const size_t plane = static_cast<size_t>(n_blocks) * bs * n_kv * hd * 2;
        const size_t nk = static_cast<size_t>(TF) * n_kv * hd, nq = static_cast<size_t>(T) * n_head * hd;
        const auto k = random_vec(nk, rng), v = random_vec(nk, rng);
        auto q = random_vec(nq, rng);
        for (float& x : q) x *= 3.0f;
        cuda::KVArgs a = kv_args(dev(plane), dev(plane), t, bs, n_kv, hd, d_tab, stride, d_fpos, d_fseq);
        const auto* dk = static_cast<const float*>(dev(nk * 4, k.data()));
        const auto* dv = static_cast<const float*>(dev(nk * 4, v.data()));
        cuda::kv_store(a, dk, dv, TF, st);
        a.positions = d_dpos;
        a.seq_of = d_dseq;
        const float* dq = static_cast<const float*>(dev(nq * 4, q.data()));
        const int blocks = T * n_kv * ((n_head / n_kv + 7) / 8);
        auto* counters = static_cast<unsigned*>(dev(static_cast<size_t>(blocks) * sizeof(unsigned)));
        ASSERT_EQ(cudaMemset(counters, 0, static_cast<size_t>(blocks) * sizeof(unsigned)), cudaSuccess);
        auto* ws = static_cast<float*>(dev(nq * max_split * 4 + static_cast<size_t>(T) * n_head * max_split * 8));
        float* out[2] = {static_cast<float*>(dev(nq * 4)), static_cast<float*>(dev(nq * 4))};
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        auto launch = [&](int ns, float* o) {
          cuda::attention_split(a, dq, T, n_head, scale, 0, ns, ws, ws + nq * ns, counters, o, st);
        };
        // Both outputs poisoned (NaN), then f() launches; returns both outputs.
        auto outputs = [&](auto&& f) {
          for (float* o : out) EXPECT_EQ(cudaMemsetAsync(o, 0xff, nq * 4, st), cudaSuccess);
          f();
          std::vector<std::vector<float>> r(2, std::vector<float>(nq));
          for (int i = 0; i < 2; ++i)
            EXPECT_EQ(cudaMemcpyAsync(r[i].data(), out[i], nq * 4, cudaMemcpyDeviceToHost, st), cudaSuccess);
          EXPECT_EQ(cudaStreamSynchronize(st), cudaSuccess);
          return r;
        };
        const std::vector<float> ref = outputs([&] { launch(1, out[0]); })[0];
        for (int ns : {2, 3, 7, max_split}) {
          SCOPED_TRACE("nsplit " + std::to_string(ns));
          auto twice = [&] {
            launch(ns, out[0]);
            launch(ns, out[1]);
          };
          const auto eager = outputs(twice);
          EXPECT_LT(rel_err(eager[0], ref), t == DType::F16 ? 4e-3 : 2.5e-2);
          EXPECT_EQ(std::memcmp(eager[1].data(), eager[0].data(), nq * 4), 0) << "second launch";
          cudaGraph_t graph = nullptr;
          cudaGraphExec_t exec = nullptr;
          ASSERT_EQ(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
          twice();
          ASSERT_EQ(cudaStreamEndCapture(st, &graph), cudaSuccess);
          ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
          for (int r = 0; r < 2; ++r) {
            const auto replayed = outputs([&] { EXPECT_EQ(cudaGraphLaunch(exec, st), cudaSuccess); });
            for (const auto& o : replayed)
              EXPECT_EQ(std::memcmp(o.data(), eager[0].data(), nq * 4), 0) << "replay " << r;
          }
          cudaGraphExecDestroy(exec);
          cudaGraphDestroy(graph);
        }
        std::vector<unsigned> left(static_cast<size_t>(blocks), 1u);
        ASSERT_EQ(cudaMemcpy(left.data(), counters, left.size() * sizeof(unsigned), cudaMemcpyDeviceToHost),
                  cudaSuccess);
        EXPECT_EQ(std::count(left.begin(), left.end(), 0u), blocks) << "counters left non-zero";
      }
    }
  }
  for (void* d : owned) cudaFree(d);
  cudaStreamDestroy(st);
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
    const cuda::KVArgs a = kv_args(K, V, DType::F16, bs, n_kv, hd, d_tab, stride, d_pos, d_seq);
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
      unsigned* counters = nullptr;
      cudaMalloc(&counters, static_cast<size_t>(blocks) * sizeof(unsigned));
      cudaMemset(counters, 0, static_cast<size_t>(blocks) * sizeof(unsigned));
      for (int ns : {chosen, 1, 2, 3, 4, 8, 16, 32, 64}) {
        if (ns > std::max(1, max_keys / 16)) continue;
        float* ws_ml = ws + static_cast<size_t>(T) * n_head * ns * hd;
        const double ms =
            time_ms([&] { cuda::attention_split(a, q, T, n_head, scale, 0, ns, ws, ws_ml, counters, out, st); });
        std::printf("perf [%s] decode %dx%d nsplit %d%s: %.2f us, %.0f GB/s\n", variant.c_str(), sh.S, sh.ctx, ns,
                    ns == chosen ? " (backend's)" : "", ms * 1e3, bytes / ms / 1e6);
      }
      cudaFree(ws);
      cudaFree(counters);
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
