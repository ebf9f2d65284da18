// Shared helpers of the GPU tests: each op runs on the CPU backend (the reference) and the CUDA
// backend with the same random, never-zero inputs; errors are ‖gpu − cpu‖ / ‖cpu‖.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/cuda/cuda_backend.h"
#include "core/quant/quant.h"

#define MLXR_REQUIRE_GPU()                                                           \
  do {                                                                               \
    if (!::mlxr::cuda_device_available()) {                                          \
      std::fprintf(stderr, "\n*** SKIPPED: no CUDA device ***\n");                   \
      GTEST_SKIP() << "no CUDA device";                                              \
    }                                                                                \
  } while (0)

namespace mlxr::gputest {

// Uniform in ±[lo, hi]: never zero, so unwritten outputs and lost terms show.
inline std::vector<float> random_vec(size_t n, std::mt19937& rng, float lo = 0.05f, float hi = 1.0f) {
  std::uniform_real_distribution<float> mag(lo, hi);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(n);
  for (auto& x : v) x = sign(rng) ? mag(rng) : -mag(rng);
  return v;
}

// N rows of K random values, quantized to t; `store` owns the bytes the view points into.
inline TensorView random_weight(DType t, int64_t K, int64_t N, std::mt19937& rng, std::vector<uint8_t>& store,
                                const char* name = "w") {
  const size_t rb = *row_bytes(t, static_cast<uint64_t>(K));
  store.resize(rb * N);
  for (int64_t r = 0; r < N; ++r) {
    auto v = random_vec(static_cast<size_t>(K), rng);
    EXPECT_TRUE(quantize_row(t, v.data(), store.data() + r * rb, K).is_ok());
  }
  TensorView tv;
  tv.name = name;
  tv.type = t;
  tv.n_dims = 2;
  tv.ne = {K, N, 1, 1};
  tv.data = store.data();
  tv.nbytes = store.size();
  return tv;
}

inline double rel_err(const std::vector<float>& got, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// A CPU and a CUDA backend side by side, each with a small KV arena (so set_batch works).
struct Pair {
  CpuBackend cpu{2};
  std::unique_ptr<Backend> gpu;
  Pair(KVLayout kv = {1, 8, 16, 1, 32, DType::F32}) {
    auto g = make_cuda_backend(0);
    EXPECT_TRUE(g) << g.error();
    if (g) gpu = std::move(*g);
    EXPECT_TRUE(cpu.init_kv(kv).is_ok());
    if (gpu) {
      auto st = gpu->init_kv(kv);
      EXPECT_TRUE(st.is_ok()) << st.message();
    }
  }
};

inline float* put(Backend& b, const std::vector<float>& v) {
  auto p = b.alloc(v.size());
  EXPECT_TRUE(p) << p.error();
  b.from_host(*p, v.data(), v.size());
  return *p;
}

inline std::vector<float> get(Backend& b, const float* p, size_t n) {
  std::vector<float> v(n);
  b.to_host(v.data(), p, n);
  return v;
}

// A one-sequence batch of `tokens` at positions 0.. with blocks 0..n_blocks-1.
inline Batch simple_batch(const std::vector<int32_t>& tokens, int n_blocks) {
  Batch b;
  b.block_tables.emplace_back();
  for (int i = 0; i < n_blocks; ++i) b.block_tables[0].push_back(i);
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tokens.push_back(tokens[i]);
    b.positions.push_back(static_cast<int>(i));
    b.seq_of.push_back(0);
    b.output_rows.push_back(static_cast<int>(i));
  }
  b.seq_lens.push_back(static_cast<int>(tokens.size()));
  return b;
}

}  // namespace mlxr::gputest
