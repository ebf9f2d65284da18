#include "core/kernels/cuda/gemm_lt.h"

#include <cublasLt.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mlxr::cuda {
namespace {

// Few reps: a serving engine tunes each new shape bucket in the middle of a step.
constexpr int kWarmups = 1;
constexpr int kReps = 5;

std::string lt_error(const char* what, cublasStatus_t s) {
  return std::string("cuda lt gemm: ") + what + ": " + cublasLtGetStatusString(s);
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "mlxr cuda: %s\n", msg.c_str());
  std::abort();
}

cudaDataType_t cuda_type(DType t) {
  return t == DType::BF16 ? CUDA_R_16BF : t == DType::F16 ? CUDA_R_16F : CUDA_R_32F;
}

size_t elem_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

// The alignment class of an address: 256 (what cuBLASLt assumes unless told, and what
// cudaMalloc gives), else the largest power of two up to 16 that divides it. Algorithms are
// chosen for the alignment the pointers really have; 16 bytes is what vector and TMA loads
// need, so finer classes between 16 and 256 would only split the cache.
uint32_t align_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (a % 256 == 0) return 256;
  uint32_t c = 16;
  while (c > 1 && a % c != 0) c /= 2;
  return c;
}

// Row counts up to this are tuned one by one; larger ones by power-of-two bucket: batched decode
// and prefill row counts vary from step to step (sequences finish, chunks fill the budget), and
// each tuning costs a stream sync and milliseconds.
constexpr int kExactRows = 1;

// The top of rows' bucket: rows itself up to kExactRows, else the next power of two.
int rows_bucket(int rows) {
  if (rows <= kExactRows) return rows;
  int b = kExactRows;
  while (b < rows && b < (1 << 30)) b *= 2;
  return b;
}

struct ShapeKey {
  DType wt = DType::BF16, yt = DType::F32;
  bool accumulate = false;
  uint32_t align_w = 256, align_x = 256, align_y = 256;
  int rows = 0, K = 0, N = 0;
  bool operator==(const ShapeKey&) const = default;
};

struct ShapeKeyHash {
  size_t operator()(const ShapeKey& k) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
    for (uint64_t v : {static_cast<uint64_t>(k.wt), static_cast<uint64_t>(k.yt), static_cast<uint64_t>(k.accumulate),
                       static_cast<uint64_t>(k.align_w), static_cast<uint64_t>(k.align_x),
                       static_cast<uint64_t>(k.align_y), static_cast<uint64_t>(k.rows), static_cast<uint64_t>(k.K),
                       static_cast<uint64_t>(k.N)})
      h = (h ^ v) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

ShapeKey make_key(DType wt, const void* w, const void* x, int rows, int K, int N, const void* y, DType yt,
                  bool accumulate) {
  return ShapeKey{wt, yt, accumulate, align_of(w), align_of(x), align_of(y), rows, K, N};
}

std::string shape_name(const ShapeKey& k) {
  return std::string(dtype_name(k.wt)) + " rows=" + std::to_string(k.rows) + " K=" + std::to_string(k.K) +
         " N=" + std::to_string(k.N) + " -> " + dtype_name(k.yt) + (k.accumulate ? " (accumulate)" : "");
}

// One prepared shape: its descriptors, created once, and the winning algorithm. Column-major
// views: a = W as stored (K, N), used transposed; b = x (K, rows); c = y (N, rows), both C and D.
struct Plan {
  Status status;  // an error: prepare failed for this shape, and run() refuses it
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    for (cublasLtMatrixLayout_t l : {a, b, c})
      if (l) cublasLtMatrixLayoutDestroy(l);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

// Device memory for the trial runs only, released when prepare() returns.
struct TrialBuffer {
  void* ptr = nullptr;
  TrialBuffer(const TrialBuffer&) = delete;
  TrialBuffer& operator=(const TrialBuffer&) = delete;
  explicit TrialBuffer(size_t bytes) {
    if (cudaMalloc(&ptr, bytes) != cudaSuccess) {
      ptr = nullptr;
      cudaGetLastError();  // an allocation failure is not a launch error for the next kernel
    }
  }
  ~TrialBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

// A start and an end event per timed rep, so the reps run back to back without host syncs.
struct TrialEvents {
  cudaEvent_t ev[2 * kReps] = {};
  bool ok = true;
  TrialEvents() {
    for (cudaEvent_t& e : ev) ok = ok && cudaEventCreate(&e) == cudaSuccess;
  }
  TrialEvents(const TrialEvents&) = delete;
  TrialEvents& operator=(const TrialEvents&) = delete;
  ~TrialEvents() {
    for (cudaEvent_t e : ev)
      if (e) cudaEventDestroy(e);
  }
};

}  // namespace

struct LtGemm::Impl {
  cublasLtHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  size_t flush_bytes = 0;  // twice the L2 cache
  bool log = false;
  std::unordered_map<ShapeKey, Plan, ShapeKeyHash> plans;
  // Above kExactRows, the algorithm tuned first in a power-of-two row bucket (key rows = the
  // bucket's top) serves the bucket: prefill row counts vary from step to step.
  std::unordered_map<ShapeKey, cublasLtMatmulAlgo_t, ShapeKeyHash> bucket_algos;
  size_t tunings = 0;

  ~Impl() {
    plans.clear();
    if (handle) cublasLtDestroy(handle);
  }

  Status describe(const ShapeKey& k, Plan& p) const;
  Status candidates(const ShapeKey& k, const Plan& p, std::vector<cublasLtMatmulHeuristicResult_t>& out) const;
  // Reuses the algorithm of the row bucket when it runs for this shape, else tunes.
  Status build(const ShapeKey& k, const void* w, const void* x, Plan& p);
  // Whether `algo` is valid for p's shape and one run of it succeeds.
  bool runs(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* w, const void* x, void* y, float beta) const;
  // Times the heuristic's candidates; p.algo = the fastest.
  Status tune(const ShapeKey& k, const void* w, const void* x, void* y, float beta, Plan& p);
  // Mean milliseconds of one run of `algo` (L2 flushed before each rep when `flush` is set);
  // negative when cuBLASLt refuses to run it. An error means the device itself failed.
  Expected<float> time_algo(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* w, const void* x, void* y,
                            float beta, void* flush, TrialEvents& te) const;
  void log_candidate(const ShapeKey& k, int i, const cublasLtMatmulHeuristicResult_t& r, float ms) const;
};

LtGemm::LtGemm() : impl_(std::make_unique<Impl>()) {}
LtGemm::~LtGemm() = default;

bool LtGemm::supported(DType wt, DType yt) {
  return (wt == DType::BF16 || wt == DType::F16) && (yt == DType::F32 || yt == wt);
}

size_t LtGemm::prepared_shapes() const { return impl_->plans.size(); }
size_t LtGemm::tunings() const { return impl_->tunings; }

Status LtGemm::init(cudaStream_t stream, void* workspace, size_t workspace_bytes) {
  Impl& m = *impl_;
  if (m.handle) return make_error("cuda lt gemm: init() called twice");
  if (!workspace && workspace_bytes) return make_error("cuda lt gemm: workspace size given without a workspace");
  const cublasStatus_t s = cublasLtCreate(&m.handle);
  if (s != CUBLAS_STATUS_SUCCESS) {
    m.handle = nullptr;
    return make_error(lt_error("cannot create a cuBLASLt handle", s));
  }
  m.stream = stream;
  m.workspace = workspace;
  m.workspace_bytes = workspace_bytes;
  int device = 0, l2 = 0;
  if (cudaGetDevice(&device) == cudaSuccess &&
      cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device) == cudaSuccess)
    m.flush_bytes = 2 * static_cast<size_t>(l2);
  const char* log = std::getenv("MLXR_CUDA_TUNE_LOG");
  m.log = log && std::strcmp(log, "0") != 0;
  return Status::ok();
}

Status LtGemm::prepare(DType wt, const void* w, const void* x, int rows, int K, int N, const void* y, DType yt,
                       bool accumulate) {
  Impl& m = *impl_;
  if (!m.handle) return make_error("cuda lt gemm: init() was not called");
  if (!supported(wt, yt))
    return make_error(std::string("cuda lt gemm: ") + dtype_name(wt) + " weights with " + dtype_name(yt) +
                      " output are not supported (weights BF16 or F16; output F32 or the weight type)");
  if (rows < 1 || K < 1 || N < 1)
    return make_error("cuda lt gemm: empty shape rows=" + std::to_string(rows) + " K=" + std::to_string(K) +
                      " N=" + std::to_string(N));
  if (!w || !x || !y) return make_error("cuda lt gemm: null matrix pointer");
  if (accumulate && yt != DType::F32)
    return make_error("cuda lt gemm: accumulate needs an F32 output (a 16-bit one is rounded twice)");
  const ShapeKey key = make_key(wt, w, x, rows, K, N, y, yt, accumulate);
  if (auto it = m.plans.find(key); it != m.plans.end()) return it->second.status;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(m.stream, &capture) != cudaSuccess || capture != cudaStreamCaptureStatusNone)
    return make_error("cuda lt gemm: prepare() for " + shape_name(key) +
                      " inside a stream capture (call it at record time, before the capture)");
  Plan& plan = m.plans.try_emplace(key).first->second;
  plan.status = m.build(key, w, x, plan);
  return plan.status;
}

void LtGemm::run(DType wt, const void* w, const void* x, int rows, int K, int N, void* y, DType yt, bool accumulate) {
  const Impl& m = *impl_;
  const ShapeKey key = make_key(wt, w, x, rows, K, N, y, yt, accumulate);
  const auto it = m.plans.find(key);
  if (it == m.plans.end() || !it->second.status)
    die("cuda lt gemm: run() without a successful prepare() for " + shape_name(key));
  const Plan& p = it->second;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;  // host scalars: read at enqueue
  const cublasStatus_t s = cublasLtMatmul(m.handle, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo,
                                          m.workspace, m.workspace_bytes, m.stream);
  if (s != CUBLAS_STATUS_SUCCESS) die(lt_error(("matmul " + shape_name(key)).c_str(), s));
}

Status LtGemm::Impl::describe(const ShapeKey& k, Plan& p) const {
  const int32_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  const char* what = "matmul descriptor";
  cublasStatus_t s = cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof op_t);
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof op_n);
  if (s == CUBLAS_STATUS_SUCCESS) {
    what = "matrix layout";
    s = cublasLtMatrixLayoutCreate(&p.a, cuda_type(k.wt), k.K, k.N, k.K);
  }
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatrixLayoutCreate(&p.b, cuda_type(k.wt), k.K, k.rows, k.K);
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatrixLayoutCreate(&p.c, cuda_type(k.yt), k.N, k.rows, k.N);
  if (s != CUBLAS_STATUS_SUCCESS) return make_error(lt_error(what, s));
  return Status::ok();
}

Status LtGemm::Impl::candidates(const ShapeKey& k, const Plan& p,
                                std::vector<cublasLtMatmulHeuristicResult_t>& out) const {
  cublasLtMatmulPreference_t pref = nullptr;
  cublasStatus_t s = cublasLtMatmulPreferenceCreate(&pref);
  if (s != CUBLAS_STATUS_SUCCESS) return make_error(lt_error("heuristic preference", s));
  const uint64_t ws = workspace_bytes;
  // A split K must be summed in fp32 for 16-bit outputs: in place or in the output type, the
  // partial sums would be rounded to 16 bits along the way. Unsplit algorithms always pass.
  const uint32_t reduction =
      k.yt == DType::F32 ? CUBLASLT_REDUCTION_SCHEME_MASK : CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> u32_prefs[] = {
      {CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, reduction},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, k.align_w},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, k.align_x},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, k.align_y},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, k.align_y},
  };
  s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  for (const auto& [attr, value] : u32_prefs)
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof value);
  out.assign(kCandidates, cublasLtMatmulHeuristicResult_t{});
  int n = 0;
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.c, p.c, pref, kCandidates, out.data(), &n);
  cublasLtMatmulPreferenceDestroy(pref);
  out.resize(s == CUBLAS_STATUS_SUCCESS ? static_cast<size_t>(n) : 0);
  if (s != CUBLAS_STATUS_SUCCESS && s != CUBLAS_STATUS_NOT_SUPPORTED)
    return make_error(lt_error(("heuristic for " + shape_name(k)).c_str(), s));
  return Status::ok();
}

Status LtGemm::Impl::build(const ShapeKey& k, const void* w, const void* x, Plan& p) {
  MLXR_RETURN_IF_ERROR(describe(k, p));
  // Trial output with the real y's alignment (a 256-aligned base, offset to a lower class).
  const size_t ybytes = static_cast<size_t>(k.rows) * k.N * elem_bytes(k.yt);
  TrialBuffer ybuf(ybytes + 16);
  if (!ybuf.ptr) return make_error("cuda lt gemm: no device memory for the trial output of " + shape_name(k));
  char* y = static_cast<char*>(ybuf.ptr) + (k.align_y < 256 ? k.align_y : 0);
  const cudaError_t e = cudaMemsetAsync(y, 0, ybytes, stream);
  if (e != cudaSuccess)
    return make_error(std::string("cuda lt gemm: clearing the trial output: ") + cudaGetErrorString(e));
  const float beta = k.accumulate ? 1.0f : 0.0f;
  const bool bucketed = k.rows > kExactRows;
  ShapeKey bucket = k;
  bucket.rows = rows_bucket(k.rows);
  if (bucketed) {
    const auto it = bucket_algos.find(bucket);
    if (it != bucket_algos.end() && runs(p, it->second, w, x, y, beta)) {
      p.algo = it->second;
      if (log)
        std::fprintf(stderr, "mlxr cuda: lt gemm %s: the algorithm tuned for rows <= %d\n", shape_name(k).c_str(),
                     bucket.rows);
      return Status::ok();
    }
  }
  MLXR_RETURN_IF_ERROR(tune(k, w, x, y, beta, p));
  if (bucketed) bucket_algos.try_emplace(bucket, p.algo);  // the bucket's first shape stands for it
  return Status::ok();
}

bool LtGemm::Impl::runs(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* w, const void* x, void* y,
                        float beta) const {
  cublasLtMatmulHeuristicResult_t r{};
  if (cublasLtMatmulAlgoCheck(handle, p.desc, p.a, p.b, p.c, p.c, &algo, &r) != CUBLAS_STATUS_SUCCESS ||
      r.workspaceSize > workspace_bytes)
    return false;
  const float alpha = 1.0f;
  const bool ok = cublasLtMatmul(handle, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &algo, workspace,
                                 workspace_bytes, stream) == CUBLAS_STATUS_SUCCESS;
  if (!ok) cudaGetLastError();  // a refused launch must not fail the next kernel's check
  return cudaStreamSynchronize(stream) == cudaSuccess && ok;
}

Status LtGemm::Impl::tune(const ShapeKey& k, const void* w, const void* x, void* y, float beta, Plan& p) {
  std::vector<cublasLtMatmulHeuristicResult_t> cand;
  MLXR_RETURN_IF_ERROR(candidates(k, p, cand));
  if (cand.empty()) return make_error("cuda lt gemm: cuBLASLt has no algorithm for " + shape_name(k));
  TrialBuffer flush(flush_bytes);  // optional: without it, small weights are timed from L2
  TrialEvents te;
  if (!te.ok) return make_error("cuda lt gemm: cannot create timing events");
  ++tunings;
  float best = -1;
  for (size_t i = 0; i < cand.size(); ++i) {
    float ms = -1;
    if (cand[i].state == CUBLAS_STATUS_SUCCESS && cand[i].workspaceSize <= workspace_bytes) {
      MLXR_ASSIGN_OR_RETURN(ms, time_algo(p, cand[i].algo, w, x, y, beta, flush.ptr, te));
    }
    if (log) log_candidate(k, static_cast<int>(i), cand[i], ms);
    if (ms >= 0 && (best < 0 || ms < best)) {
      best = ms;
      p.algo = cand[i].algo;
    }
  }
  if (best < 0)
    return make_error("cuda lt gemm: none of the " + std::to_string(cand.size()) + " cuBLASLt algorithms ran for " +
                      shape_name(k));
  return Status::ok();
}

Expected<float> LtGemm::Impl::time_algo(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* w, const void* x,
                                        void* y, float beta, void* flush, TrialEvents& te) const {
  const float alpha = 1.0f;
  auto gemm = [&] {
    return cublasLtMatmul(handle, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &algo, workspace,
                          workspace_bytes, stream);
  };
  for (int i = 0; i < kWarmups + kReps; ++i) {
    const int rep = i - kWarmups;
    // Timed reps: the flush keeps the GPU ahead of the host, so each span is the GEMM alone.
    if (rep >= 0 && flush) cudaMemsetAsync(flush, rep, flush_bytes, stream);
    if (rep >= 0) cudaEventRecord(te.ev[2 * rep], stream);
    if (gemm() != CUBLAS_STATUS_SUCCESS) {
      cudaGetLastError();  // a refused launch must not fail the next kernel's check
      const cudaError_t e = cudaStreamSynchronize(stream);
      if (e != cudaSuccess) return make_error(std::string("cuda lt gemm: trial run: ") + cudaGetErrorString(e));
      return -1.0f;
    }
    if (rep >= 0) cudaEventRecord(te.ev[2 * rep + 1], stream);
  }
  const cudaError_t e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) return make_error(std::string("cuda lt gemm: trial run: ") + cudaGetErrorString(e));
  float total = 0;
  for (int rep = 0; rep < kReps; ++rep) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, te.ev[2 * rep], te.ev[2 * rep + 1]) != cudaSuccess)
      return make_error("cuda lt gemm: reading the trial timing events failed");
    total += ms;
  }
  return total / kReps;
}

void LtGemm::Impl::log_candidate(const ShapeKey& k, int i, const cublasLtMatmulHeuristicResult_t& r, float ms) const {
  int32_t id = -1, splitk = 0;
  uint32_t tile = 0, stages = 0, reduction = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&r.algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, nullptr);
  cublasLtMatmulAlgoConfigGetAttribute(&r.algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, nullptr);
  cublasLtMatmulAlgoConfigGetAttribute(&r.algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof splitk, nullptr);
  cublasLtMatmulAlgoConfigGetAttribute(&r.algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof reduction,
                                       nullptr);
  cublasLtMatmulAlgoConfigGetAttribute(&r.algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, nullptr);
  char t[32];
  if (ms >= 0) std::snprintf(t, sizeof t, "%.2f us", ms * 1e3f);
  else std::snprintf(t, sizeof t, "failed");
  std::fprintf(stderr,
               "mlxr cuda: lt gemm %s, candidate %d (algo %d tile %u splitk %d reduction %u stages %u, %zu B "
               "workspace, %.2f waves): %s\n",
               shape_name(k).c_str(), i, id, tile, splitk, reduction, stages, r.workspaceSize, r.wavesCount, t);
}

}  // namespace mlxr::cuda
