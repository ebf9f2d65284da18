// A cuBLASLt GEMM for 16-bit weights with the algorithm chosen per shape by timing:
//   y (rows, N) = x (rows, K) · Wᵀ [+ y]
// W (N, K) row-major BF16 or F16, x (rows, K) of the same type, y F32 or W's type, fp32
// accumulate. With `accumulate` (F32 y only) the product is added into y (beta = 1): the
// residual add of an output projection for free when y is the F32 residual stream.
// Column-major view (what cuBLASLt sees): y(N, rows) = op(W)(N, K) · x(K, rows), W transposed.
//
// prepare() runs on first sight of a shape, never inside a stream capture: it asks cuBLASLt's
// heuristic for up to kCandidates algorithms, times each on the real w and x (into a scratch y,
// with L2 flushed between reps, as weights come from HBM in a real step) and keeps the fastest,
// with its descriptors. Row counts vary from step to step (sequences finish, prefill chunks
// fill the budget): the first shape tuned in a power-of-two row bucket lends its algorithm to
// the rest of the bucket after one trial run. run() only enqueues: no allocation, no sync, so it can be
// captured into a CUDA graph. MLXR_CUDA_TUNE_LOG=1 prints every candidate's time.
// Test: tests/gpu/gemm_lt_test.cpp (against double sums of the rounded inputs).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "core/base/status.h"
#include "core/tensor/dtype.h"

namespace mlxr::cuda {

class LtGemm {
 public:
  static constexpr int kCandidates = 8;

  LtGemm();
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // Every GEMM runs on `stream` with `workspace` (device memory, kept by the caller for this
  // object's lifetime; it may be shared with other work that is ordered on the same stream).
  Status init(cudaStream_t stream, void* workspace, size_t workspace_bytes);

  // Whether the types are handled at all: wt BF16 or F16, yt F32 or wt.
  static bool supported(DType wt, DType yt);

  // Makes run() valid for this shape, type and pointer alignment (the arguments are run()'s).
  // First sight: times the candidates (reads w and x, never touches y, synchronizes the stream)
  // and caches the winner; later calls are a hash lookup. An error (unsupported types, no
  // algorithm, no memory for the trial output) is cached too: fall back to another GEMM.
  // Must not be called while the stream is being captured.
  Status prepare(DType wt, const void* w, const void* x, int rows, int K, int N, const void* y, DType yt,
                 bool accumulate);

  // Enqueues the GEMM with the prepared algorithm. Aborts when prepare() did not succeed for
  // these arguments (a programmer error) or cuBLASLt rejects the launch (a lost device).
  void run(DType wt, const void* w, const void* x, int rows, int K, int N, void* y, DType yt, bool accumulate);

  // How many shapes have been prepared (including cached failures), and how many of them were
  // timed (the rest reuse their row bucket's algorithm).
  size_t prepared_shapes() const;
  size_t tunings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxr::cuda
