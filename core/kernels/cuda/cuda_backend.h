// The CUDA implementation of the Backend seam (core/tensor/backend.h) for NVIDIA GPUs, tuned
// for Hopper (H100/H200). Weights are copied once into one device allocation (streamed from
// the mmap through a small pinned buffer), quantized types stay quantized, activations are
// float32 in device memory, the KV arena is one device allocation of paged blocks.
//
// Decode steps (batches of at most kGraphMaxTokens tokens) are recorded and replayed as CUDA
// graphs: ops are queued until the step's first host read (to_host/sync), then launched as the
// cached graph of the identical op sequence, or captured once. MLXR_CUDA_GRAPHS=0 turns this off.
// Matvec groups pick the fastest kernel variant (or cuBLAS) and GEMMs the fastest cuBLASLt
// algorithm per shape on first use (MLXR_CUDA_TUNE_LOG=1 prints the timings; MLXR_CUDA_LT=0
// uses cublasGemmEx's default instead).
#pragma once
#include <memory>

#include "core/base/status.h"
#include "core/tensor/backend.h"

namespace mlxr {

// True when a CUDA device is usable (driver present, at least one GPU).
bool cuda_device_available();

// A backend on CUDA device `device`; an error names the CUDA failure.
Expected<std::unique_ptr<Backend>> make_cuda_backend(int device);

// Statistics of one CUDA backend, for benchmarks (graphs captured / replayed so far).
struct CudaBackendStats {
  long graphs_captured = 0;
  long graph_launches = 0;
  long eager_ops = 0;
  size_t weight_bytes = 0;
  int weight_allocations = 0;  // device allocations holding the weights (1 after reserve_weights)
  double record_s = 0;  // host time from set_batch to the step's first host read
  double wait_s = 0;    // host time inside to_host (remaining GPU work + copy)
  // MLXR_CUDA_PROFILE=1 (ops launched eagerly, i.e. with MLXR_CUDA_GRAPHS=0): GPU time of each
  // launched op by kind (cuda_op_name), between events recorded around it.
  static constexpr int kOpKinds = 40;
  double op_ms[kOpKinds] = {};
  long op_count[kOpKinds] = {};
};
// The name of an op kind in CudaBackendStats::op_ms ("" for an unused kind).
const char* cuda_op_name(int kind);
// Null when `b` is not a CUDA backend.
const CudaBackendStats* cuda_backend_stats(const Backend& b);

}  // namespace mlxr
