// The CUDA top-k kernel against the CPU reference (cpu::top_k_rows): values bit for bit and the
// same indices (ties by ascending index, NaN as -inf, -0 equal to +0), log-sum-exp within 1e-5
// relative, on rows of distinct values, of exact ties, of mostly -inf, constant rows and signed
// zeros, at odd lengths up to a 128K vocabulary. Then the Backend op (host outputs, ordered
// after queued work), and the time of a 64-row step.
#include <cuda_runtime.h>

#include <cstring>

#include "core/kernels/cpu/topk.h"
#include "core/kernels/cuda/topk.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/support/logit_rows.h"

namespace mlxr {
namespace {

using testing::RowKind;

using Result = testing::TopKRows;

#define CUDA_OK(x) ASSERT_EQ(cudaSuccess, (x)) << #x

// Device buffers for one launch; `offset` floats of padding before the logits misalign them.
struct DeviceRun {
  float* logits = nullptr;
  float* vals = nullptr;
  int32_t* idx = nullptr;
  float* lse = nullptr;
  void* ws = nullptr;
  ~DeviceRun() {
    for (void* p : {static_cast<void*>(logits), static_cast<void*>(vals), static_cast<void*>(idx),
                    static_cast<void*>(lse), ws})
      if (p) cudaFree(p);
  }
};

void run_gpu(const std::vector<float>& x, int rows, int n, int k, int offset, Result& out) {
  DeviceRun d;
  CUDA_OK(cudaMalloc(&d.logits, (x.size() + offset) * sizeof(float)));
  CUDA_OK(cudaMalloc(&d.vals, out.vals.size() * sizeof(float)));
  CUDA_OK(cudaMalloc(&d.idx, out.idx.size() * sizeof(int32_t)));
  CUDA_OK(cudaMalloc(&d.lse, out.lse.size() * sizeof(float)));
  const size_t ws = cuda::top_k_workspace_bytes(rows, n, k);
  if (ws) {
    CUDA_OK(cudaMalloc(&d.ws, ws));
  }
  CUDA_OK(cudaMemcpy(d.logits + offset, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  // Outputs start as NaN bytes, so an unwritten entry cannot pass.
  CUDA_OK(cudaMemset(d.vals, 0xff, out.vals.size() * sizeof(float)));
  CUDA_OK(cudaMemset(d.idx, 0xff, out.idx.size() * sizeof(int32_t)));
  CUDA_OK(cudaMemset(d.lse, 0xff, out.lse.size() * sizeof(float)));
  cuda::top_k_rows(d.logits + offset, rows, n, k, d.vals, d.idx, d.lse, d.ws, nullptr);
  CUDA_OK(cudaDeviceSynchronize());
  CUDA_OK(cudaMemcpy(out.vals.data(), d.vals, out.vals.size() * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(out.idx.data(), d.idx, out.idx.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(out.lse.data(), d.lse, out.lse.size() * sizeof(float), cudaMemcpyDeviceToHost));
}

void expect_equal(const Result& got, const Result& want, int rows, int k, const std::string& what) {
  for (int r = 0; r < rows; ++r) {
    const size_t o = static_cast<size_t>(r) * k;
    ASSERT_EQ(0, std::memcmp(got.vals.data() + o, want.vals.data() + o, k * sizeof(float))) << what << " row " << r;
    ASSERT_EQ(0, std::memcmp(got.idx.data() + o, want.idx.data() + o, k * sizeof(int32_t))) << what << " row " << r;
    const float g = got.lse[r], w = want.lse[r];
    if (std::isinf(w)) {
      EXPECT_EQ(g, w) << what << " row " << r;
    } else {
      EXPECT_NEAR(g, w, 1e-5 * std::max(1.0f, std::fabs(w))) << what << " row " << r;
    }
  }
}

void check(const std::vector<float>& x, int rows, int n, int k, const std::string& what, int offset = 0) {
  Result want(rows, k), got(rows, k);
  cpu::top_k_rows(x.data(), rows, n, k, want.vals.data(), want.idx.data(), want.lse.data());
  run_gpu(x, rows, n, k, offset, got);
  expect_equal(got, want, rows, k, what + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                                       " rows=" + std::to_string(rows));
}

const char* kind_name(RowKind kind) {
  switch (kind) {
    case RowKind::kNormal: return "normal";
    case RowKind::kTies: return "ties";
    case RowKind::kMostlyMasked: return "masked";
    case RowKind::kConstant: return "constant";
    case RowKind::kSignedZeros: return "signed zeros";
  }
  return "?";
}

TEST(GpuTopK, EqualsTheCpuReference) {
  MLXR_REQUIRE_GPU();
  uint32_t seed = 1;
  for (RowKind kind : {RowKind::kNormal, RowKind::kTies, RowKind::kMostlyMasked, RowKind::kConstant,
                       RowKind::kSignedZeros}) {
    for (int n : {1000, 32001, 128256}) {
      for (int k : {1, 40, 100, 1024}) {
        if (k > n) continue;
        const int rows = 3;
        check(testing::logit_rows(rows, n, kind, seed++), rows, n, k, kind_name(kind));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(GpuTopK, ManyRowsAndMisalignedRows) {
  MLXR_REQUIRE_GPU();
  const int n = 128256;
  for (int k : {1, 40, 1024}) {
    check(testing::logit_rows(64, n, RowKind::kNormal, 100 + k), 64, n, k, "normal");
    check(testing::logit_rows(1, n, RowKind::kTies, 200 + k), 1, n, k, "ties");
    if (HasFatalFailure()) return;
  }
  // Rows starting 1..3 floats past a 16-byte boundary, and tiny rows.
  for (int offset : {1, 2, 3})
    check(testing::logit_rows(5, 32001, RowKind::kNormal, 300 + offset), 5, 32001, 100, "offset", offset);
  for (int n : {1, 2, 5, 17}) check(testing::logit_rows(3, n, RowKind::kTies, 400 + n), 3, n, 1, "tiny", n % 4);
  check(testing::logit_rows(3, 17, RowKind::kNormal, 417), 3, 17, 17, "whole row");
}

TEST(GpuTopK, RowsOfEveryKindInOneLaunch) {
  // Some rows take the shared candidate list, others the radix fallback, in the same grid.
  MLXR_REQUIRE_GPU();
  const int n = 32001, k = 100;
  std::vector<float> x;
  uint32_t seed = 500;
  for (RowKind kind : {RowKind::kNormal, RowKind::kConstant, RowKind::kMostlyMasked, RowKind::kTies,
                       RowKind::kNormal, RowKind::kSignedZeros}) {
    const auto row = testing::logit_rows(1, n, kind, seed++);
    x.insert(x.end(), row.begin(), row.end());
  }
  // Infinities: +inf twice (tied, lse +inf), and a row of only -inf and NaN.
  x[2] = INFINITY;
  x[7] = INFINITY;
  std::vector<float> masked(n, -INFINITY);
  for (int i = 0; i < n; i += 7) masked[i] = NAN;
  x.insert(x.end(), masked.begin(), masked.end());
  check(x, 7, n, k, "mixed");
}

TEST(GpuTopK, BackendOpMatchesCpuBackendAfterQueuedWork) {
  MLXR_REQUIRE_GPU();
  gputest::Pair p;
  ASSERT_TRUE(p.gpu);
  const int rows = 5, n = 32001, k = 64;
  auto x = testing::logit_rows(rows, n, RowKind::kNormal, 600);
  std::vector<Result> outs;
  for (Backend* be : {static_cast<Backend*>(&p.cpu), p.gpu.get()}) {
    float* d = gputest::put(*be, x);
    be->mul_scalar(d, 2.0f, x.size());  // queued work the op must wait for
    auto vals = be->alloc_host(static_cast<size_t>(rows) * k);
    auto idx = be->alloc_host(static_cast<size_t>(rows) * k);
    auto lse = be->alloc_host(rows);
    ASSERT_TRUE(vals && idx && lse);
    be->top_k_rows(d, rows, n, k, *vals, reinterpret_cast<int32_t*>(*idx), *lse);
    Result r(rows, k);
    std::memcpy(r.vals.data(), *vals, r.vals.size() * sizeof(float));
    std::memcpy(r.idx.data(), *idx, r.idx.size() * sizeof(int32_t));
    std::memcpy(r.lse.data(), *lse, r.lse.size() * sizeof(float));
    outs.push_back(std::move(r));
    be->free_host(*vals);
    be->free_host(*idx);
    be->free_host(*lse);
    be->free(d);
  }
  expect_equal(outs[1], outs[0], rows, k, "backend");
  for (auto& v : x) v *= 2.0f;
  Result want(rows, k);
  cpu::top_k_rows(x.data(), rows, n, k, want.vals.data(), want.idx.data(), want.lse.data());
  expect_equal(outs[0], want, rows, k, "cpu backend");
}

TEST(GpuTopK, TimeOfA64RowStep) {
  MLXR_REQUIRE_GPU();
  const int rows = 64, n = 128256;
  const auto x = testing::logit_rows(rows, n, RowKind::kNormal, 700);
  DeviceRun d;
  CUDA_OK(cudaMalloc(&d.logits, x.size() * sizeof(float)));
  CUDA_OK(cudaMalloc(&d.vals, static_cast<size_t>(rows) * 1024 * sizeof(float)));
  CUDA_OK(cudaMalloc(&d.idx, static_cast<size_t>(rows) * 1024 * sizeof(int32_t)));
  CUDA_OK(cudaMalloc(&d.lse, rows * sizeof(float)));
  CUDA_OK(cudaMemcpy(d.logits, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  cudaEvent_t a, b;
  CUDA_OK(cudaEventCreate(&a));
  CUDA_OK(cudaEventCreate(&b));
  for (int k : {1, 40, 1024}) {
    cuda::top_k_rows(d.logits, rows, n, k, d.vals, d.idx, d.lse, nullptr, nullptr);  // warm-up
    const int iters = 50;
    CUDA_OK(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) cuda::top_k_rows(d.logits, rows, n, k, d.vals, d.idx, d.lse, nullptr, nullptr);
    CUDA_OK(cudaEventRecord(b));
    CUDA_OK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, a, b));
    const double us = 1000.0 * ms / iters;
    std::printf("top_k_rows %d x %d, k=%d: %.1f us\n", rows, n, k, us);
    RecordProperty("us_k" + std::to_string(k), std::to_string(us));
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

}  // namespace
}  // namespace mlxr
