#include "core/kernels/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <vector>

#include "core/kernels/cuda/gemm_lt.h"
#include "core/kernels/cuda/kernels.h"
#include "core/kernels/cuda/topk.h"
#include "core/quant/quant.h"

namespace mlxr {
namespace {

constexpr int kGraphMaxTokens = 64;
// Recorded ops are launched as a graph every kGraphChunk ops, so the GPU starts on the first
// layers while the host is still recording the rest of the step.
constexpr size_t kGraphChunk = 40;
constexpr size_t kStagingBytes = 64u << 20;
constexpr size_t kWeightChunk = 1u << 30;  // weights are bump-allocated from chunks this size
constexpr size_t kBlasWorkspace = 32u << 20;

std::string cuda_error(const char* what, cudaError_t e) {
  return std::string("cuda: ") + what + ": " + cudaGetErrorString(e);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Whether the byte ranges [a, a+an) and [b, b+bn) share a byte.
bool overlaps(const void* a, size_t an, const void* b, size_t bn) {
  return static_cast<const char*>(a) < static_cast<const char*>(b) + bn &&
         static_cast<const char*>(b) < static_cast<const char*>(a) + an;
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "mlxr cuda: %s\n", msg.c_str());
  std::abort();
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) die(cuda_error(what, e));
}

void check_blas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) die(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(s)));
}

// A device buffer that only grows. Replaced buffers are freed after the next full sync, since
// queued (or not yet captured) work may still name them.
struct Scratch {
  void* ptr = nullptr;
  size_t cap = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  ~CudaBackend() override;
  Status init();

  std::string name() const override { return "cuda"; }
  const CudaBackendStats& stats() const { return stats_; }

  Expected<float*> alloc(size_t n_floats) override;
  void free(float* p) override;
  Expected<float*> alloc_host(size_t n_floats) override;
  void free_host(float* p) override;
  Expected<TensorView> upload(const TensorView& host) override;
  size_t upload_bytes(const TensorView& host) const override;
  Status reserve_weights(size_t bytes) override;
  Expected<const float*> upload_f32(const TensorView& host) override;
  void to_host(float* dst, const float* src, size_t n_floats) override;
  void from_host(float* dst, const float* src, size_t n_floats) override;

  Status init_kv(const KVLayout& layout) override;
  const KVLayout& kv_layout() const override { return kv_; }
  void kv_copy_block(int src_block, int dst_block) override;
  Status set_batch(const Batch& batch) override;

  void get_rows(const TensorView& table, float* out) override;
  void rms_norm(const float* x, const float* w, float eps, int rows, int n, float* out) override;
  void matmul(const TensorView& w, const float* x, int rows, float* y) override;
  void add(float* x, const float* y, size_t n) override;
  void add_row(float* x, const float* bias, int rows, int n) override;
  void mul_scalar(float* x, float s, size_t n) override;
  void rope(float* x, int n_heads, int head_dim, const RopeParams& p, const float* freq_factors) override;
  void swiglu(const float* gate, const float* up, float* out, size_t n) override;
  void gelu_mul(const float* gate, const float* up, float* out, size_t n) override;
  void kv_store(int layer, const float* k, const float* v) override;
  void attention(int layer, const float* q, int n_head, float scale, int sliding_window, float* out) override;
  void gather_output_rows(const float* x, int n, float* out) override;
  void top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse) override;
  void gather_rows(const float* x, const int32_t* rows, int n_rows, int n, float* out) override;
  void scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales, int n_rows,
                          int n) override;
  void fill_zero(float* x, size_t n) override;
  void sync() override;

 private:
  // ---- op queue: eager, or recorded for a graph ----
  template <typename... A>
  void sig(A... args) {
    (sig_.push_back(to_word(args)), ...);
  }
  template <typename T>
  static uint64_t to_word(T v) {
    if constexpr (std::is_pointer_v<T>) {
      return reinterpret_cast<uint64_t>(v);
    } else if constexpr (std::is_same_v<T, float>) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      return u;
    } else {
      return static_cast<uint64_t>(v);
    }
  }
  void enqueue(std::function<void()> fn);
  void flush();
  void full_sync();
  // A step's host read (to_host, top_k_rows): emits and launches what is queued, counting the
  // host's recording time; end_host_read waits for the GPU and counts the wait.
  double begin_host_read();
  void end_host_read(double t0);

  // Marks [p, p+n) as written: cached conversions of that memory are stale.
  void wrote(const void* p, size_t bytes);
  void* ensure(Scratch& s, size_t bytes);
  // A fresh block of weight memory that the uploads then take from.
  cudaError_t new_weight_block(size_t bytes);
  // Peephole fusion: an add is held back until the next op; when that op is the rms_norm of the
  // same x, both run as one kernel (residual add + norm). A rope is held back likewise and joined
  // by the following rope of the same step (q and k); when the kv_store of that k follows, the
  // pair and the store run as one launch. settle() emits what is held.
  struct HeldAdd {
    float* x = nullptr;
    const float* y = nullptr;
    size_t n = 0;
  } held_add_;
  struct HeldRope {
    float* x = nullptr;
    int n_heads = 0, head_dim = 0, T = 0;
    float* x2 = nullptr;  // the second of a pair (k), or null
    int n2 = 0;
    cuda::RopeArgs a;
    const float* ff = nullptr;
    const int32_t* pos = nullptr;
  } held_rope_;
  // Decode matvecs are held too: the next matvec of the same input joins the launch (q/k/v,
  // gate/up, up to three), and a swiglu of exactly the held gate/up pair is fused into it.
  struct HeldMatvec {
    cuda::MatvecGroup g;
    const float* x = nullptr;
    int rows = 0;
  } held_mv_;
  // A norm is held until the next op: when that is a quantized matvec of its output, the norm
  // writes the matvec's int8 activations too (no separate quantize pass).
  struct HeldNorm {
    float* x = nullptr;
    const float* y = nullptr;  // residual added to x first, or null
    const float* w = nullptr;
    float eps = 0;
    int rows = 0, n = 0;
    float* out = nullptr;
  } held_norm_;
  void settle_add();
  void settle_rope();
  void settle_matvec();
  void settle_norm(int8_t* q = nullptr, float2* ds = nullptr, void* out16 = nullptr, DType t16 = DType::BF16);
  // Holds a decode matvec, joining the held group when it can.
  void hold_matvec(const TensorView& w, const float* x, int rows, float* y);
  // GEMMs (prefill, batched decode) are held too, two of one input: when a swiglu of exactly
  // that pair follows (gate, up), both GEMMs write 16-bit results and one 16-bit SwiGLU writes
  // the down projection's input; the F32 gate/up/out the model named are left lazy (below).
  struct HeldGemm {
    TensorView w;
    const float* x = nullptr;
    int rows = 0;
    float* y = nullptr;
  } held_gemm_[2];
  int n_gemm_ = 0;
  void settle_gemm();
  bool fuse_gemm_swiglu(const float* gate, const float* up, float* out, size_t n);
  // F32 results that exist only as a 16-bit copy in a fused path's scratch: widened into place
  // when an op reads them or writes part of them, dropped when an op overwrites them whole.
  // Every op declares what it reads and writes through use() before it is queued.
  struct Lazy {
    float* dst = nullptr;
    size_t n = 0;
    const void* src = nullptr;
    DType t = DType::BF16;
  };
  std::vector<Lazy> lazy_;
  void use(const void* p, size_t bytes, bool whole_write = false);
  // Before a fused path rewrites scratch `src`: results still lazy in it are widened first, and
  // a cached GEMM input there is forgotten.
  void release_scratch(const void* src);
  void materialize(const Lazy& l);
  std::unordered_map<const void*, size_t> alloc_bytes_;  // so free() knows which lazy results die
  // The 16-bit input of a GEMM on x: cached, written by the norm that produced x, or converted.
  const void* gemm_input(const float* x, int rows, int K, DType act);
  bool gemm_input_cached(const float* x, size_t xbytes, DType act) const {
    return conv_src_ == x && conv_bytes_ == xbytes && conv_type_ == act;
  }
  void cache_gemm_input(const void* src, size_t bytes, DType t, const void* data) {
    conv_src_ = src;
    conv_bytes_ = bytes;
    conv_type_ = t;
    conv_data_ = data;
  }
  // A fused path wrote out (n floats) only as the 16-bit `data`: out is lazy, and `data` is
  // the cached input of a GEMM that reads out.
  void leave_lazy_gemm_input(float* out, size_t n, const void* data, DType t) {
    lazy_.push_back(Lazy{out, n, data, t});
    wrote(out, n * 4);
    cache_gemm_input(out, n * 4, t, data);
  }
  // y = x · Wᵀ from the 16-bit input xc; quantized weights are dequantized to bf16 first.
  void emit_gemm(const TensorView& w, const void* xc, DType act, int rows, void* y, bool y16);
  void settle() {
    settle_gemm();
    settle_matvec();
    settle_norm();
    settle_rope();
    settle_add();
  }
  // Host-routed ops (mixture of experts) change shape every step: the rest of the step runs
  // eagerly, with their index arrays copied into idx_.
  void leave_graph_mode();
  const void* upload_small(const void* host, size_t bytes, size_t offset);
  cuda::KVArgs kv_args(int layer) const;

  int device_;
  cudaStream_t st_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  int num_sms_ = 132;
  bool graphs_enabled_ = true;
  bool group_matvec_ = true;  // MLXR_CUDA_GROUP=0: one launch per matvec, no SwiGLU fusion
  bool pdl_ = true;           // MLXR_CUDA_PDL=0: plain launches
  cuda::LtGemm lt_;           // 16-bit GEMMs, algorithm timed per shape
  bool lt_enabled_ = true;    // MLXR_CUDA_LT=0: cublasGemmEx with its default algorithm
  CudaBackendStats stats_;

  // Weights: bump allocation from one reserved block (reserve_weights), or from chunks when
  // uploads come without a reservation; uploaded through pinned staging buffers.
  std::vector<void*> weight_chunks_;
  char* wcur_ = nullptr;
  size_t wleft_ = 0;
  void* staging_[2] = {nullptr, nullptr};
  cudaEvent_t staging_ev_[2] = {nullptr, nullptr};
  std::vector<void*> small_;  // upload_f32 buffers

  KVLayout kv_;
  uint8_t* kv_arena_ = nullptr;

  // Batch metadata: one pinned host image, one device copy (fixed addresses for graphs).
  int32_t* meta_host_ = nullptr;
  int32_t* meta_dev_ = nullptr;
  size_t meta_cap_ = 0;  // int32 elements
  cudaEvent_t meta_ev_ = nullptr;
  int T_ = 0, S_ = 0, n_out_ = 0, stride_ = 0, n_tiles_ = 0, max_len_ = 0;
  bool multi_token_seq_ = false;
  const int32_t *d_tokens_ = nullptr, *d_pos_ = nullptr, *d_seq_ = nullptr, *d_out_ = nullptr, *d_tables_ = nullptr,
                *d_tiles_ = nullptr;
  bool batch_set_ = false;
  double step_start_ = 0;

  Scratch conv_, q8_, deq_, attn_ws_, blas_ws_, idx_, tune_, glu_g_, glu_u_, glu_o_, topk_, attn16_;
  // Split-KV attention's merge counters, apart from attn_ws_ (whose layout varies by shape): zero
  // when allocated, and every launch leaves them zero.
  Scratch attn_cnt_;
  // Fastest kernel per matvec group shape: a matvec_group variant, or (a lone 16-bit weight)
  // matvec_variant_count for cuBLAS.
  std::unordered_map<uint64_t, int> tuned_;
  int tune_group(const cuda::MatvecGroup& g, const float* x, const int8_t* xq, const float2* xds, int R);
  // y (F32, or yt = act) = x · Wᵀ through cuBLAS, x and W of the 16-bit type act.
  void gemm16(DType act, const void* wmat, const void* xc, int rows, int K, int N, void* y, DType yt);
  // What conv_data_ / q8_ currently hold (a 16-bit or int8 copy of this source), valid until
  // the source is written. conv_data_ is conv_ or a fused SwiGLU's output.
  const void* conv_src_ = nullptr;
  size_t conv_bytes_ = 0;
  DType conv_type_ = DType::F32;
  const void* conv_data_ = nullptr;
  const void* q8_src_ = nullptr;
  size_t q8_bytes_ = 0;
  std::vector<void*> graveyard_;

  bool recording_ = false;
  bool f32_gemm_seen_ = false;  // an F32-weight model: its GEMMs want F32 inputs
  bool profile_ = false;  // MLXR_CUDA_PROFILE=1: time each eagerly launched op
  struct Profiled {
    int kind;
    cudaEvent_t start, end;
  };
  std::vector<Profiled> profiled_;
  std::vector<cudaEvent_t> event_pool_;
  std::vector<std::function<void()>> pending_;
  std::vector<uint64_t> sig_;
  struct GraphEntry {
    std::vector<uint64_t> sig;
    cudaGraphExec_t exec = nullptr;
  };
  std::unordered_map<uint64_t, GraphEntry> graphs_;
};

CudaBackend::~CudaBackend() {
  if (st_) cudaStreamSynchronize(st_);
  for (auto& [k, g] : graphs_)
    if (g.exec) cudaGraphExecDestroy(g.exec);
  for (void* p : graveyard_) cudaFree(p);
  for (Scratch* s : {&conv_, &q8_, &deq_, &attn_ws_, &blas_ws_, &idx_, &tune_, &glu_g_, &glu_u_, &glu_o_, &topk_, &attn16_,
                     &attn_cnt_})
    if (s->ptr) cudaFree(s->ptr);
  for (void* p : weight_chunks_) cudaFree(p);
  for (void* p : small_) cudaFree(p);
  if (kv_arena_) cudaFree(kv_arena_);
  if (meta_dev_) cudaFree(meta_dev_);
  if (meta_host_) cudaFreeHost(meta_host_);
  for (int i = 0; i < 2; ++i) {
    if (staging_[i]) cudaFreeHost(staging_[i]);
    if (staging_ev_[i]) cudaEventDestroy(staging_ev_[i]);
  }
  if (meta_ev_) cudaEventDestroy(meta_ev_);
  for (const Profiled& p : profiled_) event_pool_.insert(event_pool_.end(), {p.start, p.end});
  for (cudaEvent_t e : event_pool_) cudaEventDestroy(e);
  if (blas_) cublasDestroy(blas_);
  if (st_) cudaStreamDestroy(st_);
}

Status CudaBackend::init() {
  cudaError_t e = cudaSetDevice(device_);
  if (e != cudaSuccess) return make_error(cuda_error("cannot use device", e));
  cudaDeviceProp prop{};
  if ((e = cudaGetDeviceProperties(&prop, device_)) != cudaSuccess) return make_error(cuda_error("device properties", e));
  num_sms_ = prop.multiProcessorCount;
  if ((e = cudaStreamCreateWithFlags(&st_, cudaStreamNonBlocking)) != cudaSuccess) return make_error(cuda_error("stream", e));
  if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS) return make_error("cuda: cannot create a cuBLAS handle");
  cublasSetStream(blas_, st_);
  if ((e = cudaMalloc(&blas_ws_.ptr, kBlasWorkspace)) != cudaSuccess) return make_error(cuda_error("cuBLAS workspace", e));
  blas_ws_.cap = kBlasWorkspace;
  cublasSetWorkspace(blas_, blas_ws_.ptr, kBlasWorkspace);
  if (const char* g = std::getenv("MLXR_CUDA_LT")) lt_enabled_ = std::strcmp(g, "0") != 0;
  if (lt_enabled_) lt_enabled_ = lt_.init(st_, blas_ws_.ptr, kBlasWorkspace).is_ok();
  for (int i = 0; i < 2; ++i) {
    if ((e = cudaMallocHost(&staging_[i], kStagingBytes)) != cudaSuccess) return make_error(cuda_error("pinned staging", e));
    cudaEventCreateWithFlags(&staging_ev_[i], cudaEventDisableTiming);
  }
  cudaEventCreateWithFlags(&meta_ev_, cudaEventDisableTiming);
  if (const char* g = std::getenv("MLXR_CUDA_GRAPHS")) graphs_enabled_ = std::strcmp(g, "0") != 0;
  if (const char* g = std::getenv("MLXR_CUDA_GROUP")) group_matvec_ = std::strcmp(g, "0") != 0;
  if (const char* g = std::getenv("MLXR_CUDA_PROFILE")) profile_ = std::strcmp(g, "0") != 0;
  pdl_ = cuda::pdl_enabled();
  cuda::attention_init();
  return Status::ok();
}

// ---- queue ----

void CudaBackend::enqueue(std::function<void()> fn) {
  if (recording_) {
    pending_.push_back(std::move(fn));
    if (pending_.size() >= kGraphChunk) flush();
  } else {
    const int kind = sig_.empty() ? 0 : static_cast<int>(sig_[0]);
    sig_.clear();
    ++stats_.eager_ops;
    if (!profile_) {
      fn();
      return;
    }
    cudaEvent_t ev[2];
    for (cudaEvent_t& e : ev) {
      if (event_pool_.empty()) {
        check(cudaEventCreate(&e), "profile event");
      } else {
        e = event_pool_.back();
        event_pool_.pop_back();
      }
    }
    check(cudaEventRecord(ev[0], st_), "profile event");
    fn();
    check(cudaEventRecord(ev[1], st_), "profile event");
    profiled_.push_back({kind, ev[0], ev[1]});
  }
}

void CudaBackend::flush() {
  if (pending_.empty()) {
    sig_.clear();
    return;
  }
  uint64_t h = 1469598103934665603ull;
  for (uint64_t w : sig_) h = (h ^ w) * 1099511628211ull;
  auto it = graphs_.find(h);
  if (it == graphs_.end() || it->second.sig != sig_) {
    if (graphs_.size() >= 1024) {
      for (auto& [k, g] : graphs_) cudaGraphExecDestroy(g.exec);
      graphs_.clear();
    }
    check(cudaStreamBeginCapture(st_, cudaStreamCaptureModeRelaxed), "begin graph capture");
    for (auto& fn : pending_) fn();
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(st_, &graph), "end graph capture");
    GraphEntry entry;
    entry.sig = sig_;
    check(cudaGraphInstantiate(&entry.exec, graph, 0), "instantiate graph");
    cudaGraphDestroy(graph);
    if (it != graphs_.end()) cudaGraphExecDestroy(it->second.exec);
    graphs_[h] = std::move(entry);
    it = graphs_.find(h);
    ++stats_.graphs_captured;
  }
  check(cudaGraphLaunch(it->second.exec, st_), "launch graph");
  ++stats_.graph_launches;
  pending_.clear();
  sig_.clear();
}

void CudaBackend::full_sync() {
  flush();
  check(cudaStreamSynchronize(st_), "synchronize");
  for (const Profiled& p : profiled_) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, p.start, p.end), "profile event");
    const int k = p.kind >= 0 && p.kind < CudaBackendStats::kOpKinds ? p.kind : 0;
    stats_.op_ms[k] += ms;
    ++stats_.op_count[k];
    event_pool_.push_back(p.start);
    event_pool_.push_back(p.end);
  }
  profiled_.clear();
  for (void* p : graveyard_) cudaFree(p);
  graveyard_.clear();
}

void CudaBackend::sync() {
  settle();
  full_sync();
}

void CudaBackend::wrote(const void* p, size_t bytes) {
  if (conv_src_ && overlaps(conv_src_, conv_bytes_, p, bytes)) conv_src_ = nullptr;
  if (q8_src_ && overlaps(q8_src_, q8_bytes_, p, bytes)) q8_src_ = nullptr;
}

void* CudaBackend::ensure(Scratch& s, size_t bytes) {
  if (s.cap >= bytes) return s.ptr;
  if (s.ptr) graveyard_.push_back(s.ptr);
  const size_t cap = std::max(bytes, s.cap * 2);
  s.ptr = nullptr;
  s.cap = 0;
  check(cudaMalloc(&s.ptr, cap), "scratch allocation");
  s.cap = cap;
  if (&s == &conv_) conv_src_ = nullptr;
  if (&s == &q8_) q8_src_ = nullptr;
  return s.ptr;
}

// ---- memory ----

Expected<float*> CudaBackend::alloc(size_t n) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float));
  if (e != cudaSuccess) return make_error(cuda_error(("allocating " + std::to_string(n * 4) + " bytes").c_str(), e));
  alloc_bytes_[p] = n * sizeof(float);
  return static_cast<float*>(p);
}

void CudaBackend::free(float* p) {
  if (auto it = alloc_bytes_.find(p); it != alloc_bytes_.end()) {
    use(p, it->second, true);
    alloc_bytes_.erase(it);
  }
  settle();
  full_sync();
  conv_src_ = q8_src_ = nullptr;
  cudaFree(p);
}

Expected<float*> CudaBackend::alloc_host(size_t n) {
  void* p = nullptr;
  const cudaError_t e = cudaMallocHost(&p, std::max<size_t>(n, 1) * sizeof(float));
  if (e != cudaSuccess) return make_error(cuda_error(("pinning " + std::to_string(n * 4) + " host bytes").c_str(), e));
  return static_cast<float*>(p);
}

void CudaBackend::free_host(float* p) {
  if (p) cudaFreeHost(p);
}

size_t CudaBackend::upload_bytes(const TensorView& host) const {
  const bool keep = cuda::device_type_supported(host.type);
  const size_t row = keep ? host.row_size() : static_cast<size_t>(host.ne[0]) * sizeof(float);
  return (row * static_cast<size_t>(host.rows()) + 255) & ~size_t(255);
}

cudaError_t CudaBackend::new_weight_block(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) return e;
  weight_chunks_.push_back(p);
  ++stats_.weight_allocations;
  wcur_ = static_cast<char*>(p);
  wleft_ = bytes;
  return cudaSuccess;
}

Status CudaBackend::reserve_weights(size_t bytes) {
  if (bytes <= wleft_) return Status::ok();
  const cudaError_t e = new_weight_block(bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return make_error("cuda: the model's weights need " + std::to_string(bytes >> 20) + " MiB of GPU memory, " +
                      std::to_string(free_b >> 20) + " MiB are free (" + cudaGetErrorString(e) + ")");
  }
  return Status::ok();
}

Expected<TensorView> CudaBackend::upload(const TensorView& host) {
  const bool keep = cuda::device_type_supported(host.type);
  if (!keep && !can_dequantize(host.type))
    return make_error(std::string("cuda: cannot use ") + dtype_name(host.type) + " tensor '" + host.name + "'");
  const int64_t rows = host.rows(), ne0 = host.ne[0];
  const size_t src_row = host.row_size();
  const size_t dst_row = keep ? src_row : static_cast<size_t>(ne0) * sizeof(float);
  const size_t bytes = dst_row * rows;
  if (dst_row > kStagingBytes) return make_error("cuda: tensor '" + host.name + "' has rows larger than the staging buffer");
  const size_t aligned = upload_bytes(host);  // what reserve_weights was told
  if (aligned > wleft_) {
    const size_t chunk = std::max(kWeightChunk, aligned);
    const cudaError_t e = new_weight_block(chunk);
    if (e != cudaSuccess)
      return make_error(cuda_error(("allocating weights for '" + host.name + "' (" + std::to_string(chunk >> 20) + " MiB)").c_str(), e));
  }
  char* dst = wcur_;
  wcur_ += aligned;
  wleft_ -= aligned;
  // Stream through two pinned buffers: fill one while the other copies.
  const int64_t rows_per = static_cast<int64_t>(kStagingBytes / dst_row);
  int buf = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += rows_per, buf ^= 1) {
    const int64_t nr = std::min(rows_per, rows - r0);
    check(cudaEventSynchronize(staging_ev_[buf]), "staging wait");
    uint8_t* stg = static_cast<uint8_t*>(staging_[buf]);
    const uint8_t* src = static_cast<const uint8_t*>(host.data) + r0 * src_row;
    if (keep) {
      std::memcpy(stg, src, nr * src_row);
    } else {
      for (int64_t r = 0; r < nr; ++r) dequantize_row(host.type, src + r * src_row, reinterpret_cast<float*>(stg + r * dst_row), ne0);
    }
    check(cudaMemcpyAsync(dst + r0 * dst_row, stg, nr * dst_row, cudaMemcpyHostToDevice, st_), "weight upload");
    check(cudaEventRecord(staging_ev_[buf], st_), "staging event");
  }
  check(cudaStreamSynchronize(st_), "weight upload");
  stats_.weight_bytes += bytes;
  TensorView out = host;
  out.data = dst;
  out.nbytes = bytes;
  if (!keep) out.type = DType::F32;
  return out;
}

Expected<const float*> CudaBackend::upload_f32(const TensorView& host) {
  if (host.type != DType::F32 && !can_dequantize(host.type))
    return make_error(std::string("cuda: cannot convert ") + dtype_name(host.type) + " tensor '" + host.name + "' to F32");
  std::vector<float> buf(static_cast<size_t>(host.n_elements()));
  const size_t rb = host.row_size();
  for (int64_t r = 0; r < host.rows(); ++r)
    dequantize_row(host.type, static_cast<const uint8_t*>(host.data) + r * rb, buf.data() + r * host.ne[0], host.ne[0]);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, std::max<size_t>(buf.size(), 1) * sizeof(float));
  if (e != cudaSuccess) return make_error(cuda_error(("allocating '" + host.name + "'").c_str(), e));
  small_.push_back(p);
  e = cudaMemcpy(p, buf.data(), buf.size() * sizeof(float), cudaMemcpyHostToDevice);
  if (e != cudaSuccess) return make_error(cuda_error(("uploading '" + host.name + "'").c_str(), e));
  return static_cast<const float*>(p);
}

double CudaBackend::begin_host_read() {
  settle();
  const double t0 = now_s();
  if (step_start_ > 0) stats_.record_s += t0 - step_start_;
  step_start_ = 0;
  flush();
  return t0;
}

void CudaBackend::end_host_read(double t0) {
  full_sync();
  stats_.wait_s += now_s() - t0;
}

void CudaBackend::to_host(float* dst, const float* src, size_t n) {
  use(src, n * 4);
  const double t0 = begin_host_read();
  check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, st_), "copy to host");
  end_host_read(t0);
}

void CudaBackend::from_host(float* dst, const float* src, size_t n) {
  use(dst, n * 4, true);
  settle();
  flush();
  check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, st_), "copy from host");
  full_sync();
  wrote(dst, n * sizeof(float));
}

// ---- KV ----

Status CudaBackend::init_kv(const KVLayout& layout) {
  settle();
  if (layout.dtype != DType::F32 && layout.dtype != DType::F16 && layout.dtype != DType::BF16)
    return make_error(std::string("cuda: unsupported KV cache type ") + dtype_name(layout.dtype));
  if (layout.head_dim > 256 || layout.head_dim <= 0) return make_error("cuda: head_dim must be in 1..256");
  full_sync();
  if (kv_arena_) cudaFree(kv_arena_);
  kv_arena_ = nullptr;
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, std::max<size_t>(layout.total_bytes(), 1));
  if (e != cudaSuccess)
    return make_error(cuda_error(("cannot allocate a KV cache of " + std::to_string(layout.total_bytes() >> 20) + " MiB").c_str(), e));
  kv_arena_ = static_cast<uint8_t*>(p);
  if ((e = cudaMemset(p, 0, layout.total_bytes())) != cudaSuccess) return make_error(cuda_error("clearing the KV cache", e));
  kv_ = layout;
  return Status::ok();
}

void CudaBackend::kv_copy_block(int src, int dst) {
  settle();
  flush();
  const size_t bb = kv_.block_elems() * dtype_info(kv_.dtype).block_bytes;
  const size_t lb = kv_.layer_bytes();
  check(cudaMemcpy2DAsync(kv_arena_ + dst * bb, lb, kv_arena_ + src * bb, lb, bb, 2 * kv_.n_layers,
                          cudaMemcpyDeviceToDevice, st_),
        "kv_copy_block");
}

cuda::KVArgs CudaBackend::kv_args(int layer) const {
  cuda::KVArgs a;
  const size_t lb = kv_.layer_bytes();
  a.k = kv_arena_ + (2 * static_cast<size_t>(layer)) * lb;
  a.v = kv_arena_ + (2 * static_cast<size_t>(layer) + 1) * lb;
  a.dtype = kv_.dtype;
  a.block_size = kv_.block_size;
  a.n_kv = kv_.n_kv_heads;
  a.hd = kv_.head_dim;
  a.tables = d_tables_;
  a.stride = stride_;
  a.positions = d_pos_;
  a.seq_of = d_seq_;
  return a;
}

Status CudaBackend::set_batch(const Batch& batch) {
  settle();
  const KVLayout& L = kv_;
  if (!kv_arena_) return make_error("cuda: KV cache not initialised");
  const int T = batch.n_tokens(), S = batch.n_seqs();
  if (batch.positions.size() != static_cast<size_t>(T) || batch.seq_of.size() != static_cast<size_t>(T))
    return make_error("batch: positions/seq_of do not match the token count");
  int max_table = 1;
  for (const auto& table : batch.block_tables) {
    max_table = std::max<int>(max_table, static_cast<int>(table.size()));
    for (int b : table)
      if (b < 0 || b >= L.n_blocks) return make_error("batch: block id " + std::to_string(b) + " out of range");
  }
  std::vector<int> count(static_cast<size_t>(S), 0);
  int max_pos = 0;
  for (int t = 0; t < T; ++t) {
    const int s = batch.seq_of[t];
    if (s < 0 || s >= S) return make_error("batch: token " + std::to_string(t) + " has invalid sequence index");
    const int pos = batch.positions[t];
    if (pos < 0 || static_cast<size_t>(pos / L.block_size) >= batch.block_tables[s].size())
      return make_error("batch: position " + std::to_string(pos) + " has no KV block");
    ++count[s];
    max_pos = std::max(max_pos, pos);
  }
  for (int r : batch.output_rows)
    if (r < 0 || r >= T) return make_error("batch: output row " + std::to_string(r) + " out of range");
  flush();  // the previous step's recorded ops read the old metadata

  int stride = 1;
  while (stride < max_table) stride *= 2;  // bucketed, so decode steps keep one graph
  // Tiles for the tensor-core prefill: runs of consecutive tokens of one sequence, <= kAttnTileRows.
  std::vector<int32_t> tiles;
  multi_token_seq_ = false;
  for (int c : count)
    if (c > 1) multi_token_seq_ = true;
  if (multi_token_seq_) {
    for (int t = 0; t < T;) {
      const int s = batch.seq_of[t];
      int e = t, mn = batch.positions[t], mx = mn;
      while (e < T && e - t < cuda::kAttnTileRows && batch.seq_of[e] == s) {
        mn = std::min(mn, batch.positions[e]);
        mx = std::max(mx, batch.positions[e]);
        ++e;
      }
      tiles.insert(tiles.end(), {t, e - t, s, mn, mx});
      t = e;
    }
  }
  const int n_out = static_cast<int>(batch.output_rows.size());
  const size_t need = 3 * static_cast<size_t>(T) + n_out + static_cast<size_t>(S) * stride + tiles.size() + 16;
  check(cudaEventSynchronize(meta_ev_), "metadata staging wait");
  if (need > meta_cap_) {
    const size_t cap = std::max(need, meta_cap_ * 2);
    if (meta_dev_) graveyard_.push_back(meta_dev_);
    if (meta_host_) cudaFreeHost(meta_host_);
    meta_dev_ = nullptr;
    meta_host_ = nullptr;
    meta_cap_ = 0;
    cudaError_t e = cudaMalloc(&meta_dev_, cap * sizeof(int32_t));
    if (e != cudaSuccess) return make_error(cuda_error("batch metadata", e));
    if ((e = cudaMallocHost(&meta_host_, cap * sizeof(int32_t))) != cudaSuccess) return make_error(cuda_error("batch metadata", e));
    meta_cap_ = cap;
  }
  int32_t* h = meta_host_;
  size_t off = 0;
  auto put = [&](const int32_t* src, size_t n) {
    const size_t at = off;
    if (n) std::memcpy(h + off, src, n * sizeof(int32_t));
    off += n;
    return meta_dev_ + at;
  };
  d_tokens_ = put(batch.tokens.data(), T);
  d_pos_ = put(batch.positions.data(), T);
  d_seq_ = put(batch.seq_of.data(), T);
  d_out_ = put(batch.output_rows.data(), n_out);
  d_tables_ = meta_dev_ + off;
  for (int s = 0; s < S; ++s) {
    const auto& tb = batch.block_tables[s];
    std::memcpy(h + off, tb.data(), tb.size() * sizeof(int32_t));
    std::fill(h + off + tb.size(), h + off + stride, 0);
    off += stride;
  }
  d_tiles_ = put(tiles.data(), tiles.size());
  check(cudaMemcpyAsync(meta_dev_, meta_host_, off * sizeof(int32_t), cudaMemcpyHostToDevice, st_), "batch upload");
  check(cudaEventRecord(meta_ev_, st_), "batch upload event");
  T_ = T;
  S_ = S;
  n_out_ = n_out;
  stride_ = stride;
  n_tiles_ = static_cast<int>(tiles.size() / 5);
  max_len_ = max_pos + 1;
  batch_set_ = true;
  step_start_ = now_s();
  recording_ = graphs_enabled_ && T <= kGraphMaxTokens;
  return Status::ok();
}

// ---- ops ----

void CudaBackend::get_rows(const TensorView& table, float* out) {
  use(out, static_cast<size_t>(T_) * table.ne[0] * 4, true);
  settle();
  const int T = T_;
  const int32_t* ids = d_tokens_;
  const DType t = table.type;
  const void* data = table.data;
  const size_t rb = table.row_size();
  const int64_t ne0 = table.ne[0];
  sig(1, data, out, T, ids);
  enqueue([=, this] { cuda::get_rows(t, data, rb, ne0, ids, T, out, st_); });
  wrote(out, static_cast<size_t>(T) * ne0 * 4);
}

void CudaBackend::rms_norm(const float* x, const float* w, float eps, int rows, int n, float* out) {
  use(x, static_cast<size_t>(rows) * n * 4);
  use(out, static_cast<size_t>(rows) * n * 4, true);
  settle_gemm();
  settle_matvec();
  settle_rope();
  settle_norm();
  HeldNorm h{const_cast<float*>(x), nullptr, w, eps, rows, n, out};
  if (held_add_.x == x && held_add_.n == static_cast<size_t>(rows) * n) {
    h.y = held_add_.y;
    held_add_ = HeldAdd{};
  } else {
    settle_add();
  }
  held_norm_ = h;
  wrote(out, static_cast<size_t>(rows) * n * 4);
}

void CudaBackend::settle_norm(int8_t* q, float2* ds, void* out16, DType t16) {
  if (!held_norm_.x) return;
  const HeldNorm h = held_norm_;
  held_norm_ = HeldNorm{};
  sig(2, h.x, h.y, h.w, h.eps, h.rows, h.n, h.out, q, out16, static_cast<int>(t16));
  enqueue([=, this] { cuda::rms_norm(h.x, h.y, h.w, h.eps, h.rows, h.n, h.out, q, ds, out16, t16, st_); });
}

void CudaBackend::settle_add() {
  if (!held_add_.x) return;
  float* x = held_add_.x;
  const float* y = held_add_.y;
  const size_t n = held_add_.n;
  held_add_ = HeldAdd{};
  sig(10, x, y, n);
  enqueue([=, this] { cuda::add(x, y, n, st_); });
}

void CudaBackend::settle_rope() {
  if (!held_rope_.x) return;
  const HeldRope r = held_rope_;
  held_rope_ = HeldRope{};
  if (r.x2) {
    sig(22, r.x, r.n_heads, r.x2, r.n2, r.head_dim, r.a.neox, r.a.n_dims, r.a.theta_scale, r.a.freq_scale, r.a.ext_factor,
        r.a.mscale, r.a.corr0, r.a.corr1, r.ff, r.T, r.pos);
    enqueue([=, this] { cuda::rope2(r.x, r.n_heads, r.x2, r.n2, r.pos, r.T, r.head_dim, r.a, r.ff, st_); });
    return;
  }
  sig(13, r.x, r.n_heads, r.head_dim, r.a.neox, r.a.n_dims, r.a.theta_scale, r.a.freq_scale, r.a.ext_factor, r.a.mscale,
      r.a.corr0, r.a.corr1, r.ff, r.T, r.pos);
  enqueue([=, this] { cuda::rope(r.x, r.pos, r.T, r.n_heads, r.head_dim, r.a, r.ff, st_); });
}

void CudaBackend::hold_matvec(const TensorView& w, const float* x, int rows, float* y) {
  const int K = static_cast<int>(w.ne[0]);
  const int N = static_cast<int>(w.rows());
  const size_t ybytes = static_cast<size_t>(rows) * N * 4, xbytes = static_cast<size_t>(rows) * K * 4;
  HeldMatvec& h = held_mv_;
  bool join = group_matvec_ && h.g.count > 0 && h.g.count < 3 && h.x == x && h.rows == rows && h.g.type == w.type &&
              h.g.K == K && !overlaps(y, ybytes, x, xbytes);
  for (int i = 0; join && i < h.g.count; ++i)
    join = !overlaps(y, ybytes, h.g.t[i].y, static_cast<size_t>(rows) * h.g.t[i].n * 4);
  if (!join) {
    settle_matvec();
    h = HeldMatvec{};
    h.g.type = w.type;
    h.g.K = K;
    h.x = x;
    h.rows = rows;
    if (dtype_info(w.type).quantized && (q8_src_ != x || q8_bytes_ != xbytes)) {
      const size_t qbytes = static_cast<size_t>(rows) * K + static_cast<size_t>(rows) * (K / 32) * sizeof(float2);
      void* buf = ensure(q8_, qbytes);
      int8_t* xq = static_cast<int8_t*>(buf);
      float2* xds = reinterpret_cast<float2*>(xq + ((static_cast<size_t>(rows) * K + 15) & ~size_t(15)));
      if (held_norm_.out == x && held_norm_.rows == rows && held_norm_.n == K) {
        settle_norm(xq, xds);
      } else {
        settle_norm();
        sig(4, x, rows, K, buf);
        enqueue([=, this] { cuda::quantize_q8(x, rows, K, xq, xds, st_); });
      }
      q8_src_ = x;
      q8_bytes_ = xbytes;
    }
  }
  settle_norm();
  h.g.t[h.g.count++] = cuda::MatvecTarget{w.data, w.row_size(), N, y};
  wrote(y, ybytes);
}

void CudaBackend::settle_matvec() {
  if (held_mv_.g.count == 0) return;
  const HeldMatvec h = held_mv_;
  held_mv_ = HeldMatvec{};
  const cuda::MatvecGroup g = h.g;
  const float* x = h.x;
  const int R = h.rows, K = g.K;
  int8_t* xq = static_cast<int8_t*>(q8_.ptr);
  const float2* xds = reinterpret_cast<const float2*>(xq + ((static_cast<size_t>(R) * K + 15) & ~size_t(15)));
  uint64_t key = 1469598103934665603ull;  // FNV-1a over the group's shape
  for (uint64_t v : {static_cast<uint64_t>(g.type), static_cast<uint64_t>(K), static_cast<uint64_t>(g.count),
                     static_cast<uint64_t>(g.glu != nullptr), static_cast<uint64_t>(g.t[0].n),
                     static_cast<uint64_t>(g.t[1].n), static_cast<uint64_t>(g.t[2].n), static_cast<uint64_t>(R)})
    key = (key ^ v) * 1099511628211ull;
  auto it = tuned_.find(key);
  const int variant = it != tuned_.end() ? it->second : (tuned_[key] = tune_group(g, x, xq, xds, R));
  if (variant == cuda::matvec_variant_count(g.type)) {  // cuBLAS won for this lone 16-bit weight
    const void* xc = gemm_input(x, 1, K, g.type);
    const void* w0 = g.t[0].w;
    const int n0 = g.t[0].n;
    float* y0 = g.t[0].y;
    const DType at = g.type;
    sig(9, w0, xc, 1, y0, K, n0, static_cast<int>(at), static_cast<int>(DType::F32));
    enqueue([=, this] { gemm16(at, w0, xc, 1, K, n0, y0, DType::F32); });
    return;
  }
  sig(5, static_cast<int>(g.type), K, R, g.count, g.glu, x, pdl_, variant);
  for (int i = 0; i < g.count; ++i) sig(g.t[i].w, g.t[i].n, g.t[i].y);
  const bool pdl = pdl_;
  const int sms = num_sms_;
  enqueue([=, this] { cuda::matvec_group(g, x, xq, xds, R, sms, st_, pdl, variant); });
}

void CudaBackend::matmul(const TensorView& w, const float* x, int rows, float* y) {
  const int K = static_cast<int>(w.ne[0]);
  const int N = static_cast<int>(w.rows());
  const DType t = w.type;
  const size_t xbytes = static_cast<size_t>(rows) * K * 4, ybytes = static_cast<size_t>(rows) * N * 4;
  const bool is_float = t == DType::F32 || t == DType::F16 || t == DType::BF16;
  const DType act = t == DType::F16 ? DType::F16 : DType::BF16;
  use(y, ybytes, true);
  if (rows <= cuda::kMatvecMaxRows && (!is_float || rows == 1) && cuda::matvec_group_supported(t, K)) {
    use(x, xbytes);
    settle_gemm();
    settle_rope();
    settle_add();
    hold_matvec(w, x, rows, y);
    return;
  }
  if (rows > 1 && t != DType::F32) {
    // The GEMM reads the 16-bit copy when one exists (a fused SwiGLU's output): no widening.
    if (!gemm_input_cached(x, xbytes, act)) use(x, xbytes);
    settle_matvec();
    settle_rope();
    settle_add();
    const HeldGemm& h = held_gemm_[0];
    const bool join = group_matvec_ && n_gemm_ == 1 && h.x == x && h.rows == rows && h.w.type == t && h.w.ne[0] == K &&
                      !overlaps(y, ybytes, x, xbytes) &&
                      !overlaps(y, ybytes, h.y, static_cast<size_t>(rows) * h.w.rows() * 4);
    if (!join) settle_gemm();
    held_gemm_[n_gemm_++] = HeldGemm{w, x, rows, y};
    wrote(y, ybytes);
    return;
  }
  use(x, xbytes);
  settle();
  const void* wd = w.data;
  if (rows == 1 && is_float) {  // F32 weights, or rows too long to stage in shared memory
    sig(3, wd, x, y, K, N);
    enqueue([=, this] { cuda::matvec_float(t, wd, K, N, x, 1, y, st_); });
    wrote(y, ybytes);
    return;
  }
  // F32 weights: exact FP32 GEMM (no TF32), F32 weights must match the CPU closely.
  // Column-major y(N, rows) = W(K, N)ᵀ · x(K, rows).
  f32_gemm_seen_ = true;
  sig(6, wd, x, rows, y, K, N);
  enqueue([=, this] {
    const float one = 1.0f, zero = 0.0f;
    check_blas(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, N, rows, K, &one, wd, CUDA_R_32F, K, x, CUDA_R_32F, K,
                            &zero, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
               "sgemm");
  });
  wrote(y, ybytes);
}

const void* CudaBackend::gemm_input(const float* x, int rows, int K, DType act) {
  const size_t xbytes = static_cast<size_t>(rows) * K * 4;
  if (gemm_input_cached(x, xbytes, act)) {
    settle_norm();
    return conv_data_;
  }
  void* cv = ensure(conv_, static_cast<size_t>(rows) * K * 2);
  if (held_norm_.out == x && held_norm_.rows == rows && held_norm_.n == K) {
    settle_norm(nullptr, nullptr, cv, act);
  } else {
    settle_norm();
    sig(8, x, rows, K, cv, static_cast<int>(act));
    enqueue([=, this] { cuda::convert_f32(x, static_cast<size_t>(rows) * K, act, cv, st_); });
  }
  cache_gemm_input(x, xbytes, act, cv);
  return cv;
}

void CudaBackend::emit_gemm(const TensorView& w, const void* xc, DType act, int rows, void* y, bool y16) {
  const int K = static_cast<int>(w.ne[0]);
  const int N = static_cast<int>(w.rows());
  const DType t = w.type;
  const void* wmat = w.data;
  if (dtype_info(t).quantized) {
    const void* wd = w.data;
    const size_t rb = w.row_size();
    void* dq = ensure(deq_, static_cast<size_t>(N) * K * 2);
    sig(7, wd, static_cast<int>(t), dq, K, N);
    enqueue([=, this] { cuda::dequant_to_bf16(t, wd, rb, K, N, dq, st_); });
    wmat = dq;
  }
  const DType yt = y16 ? act : DType::F32;
  // Timed on first sight of the shape (outside any capture: ops are only recorded here).
  const bool lt = lt_enabled_ && lt_.prepare(act, wmat, xc, rows, K, N, y, yt, false).is_ok();
  sig(9, wmat, xc, rows, y, K, N, static_cast<int>(act), static_cast<int>(yt), lt);
  if (lt) {
    enqueue([=, this] { lt_.run(act, wmat, xc, rows, K, N, y, yt, false); });
  } else {
    enqueue([=, this] { gemm16(act, wmat, xc, rows, K, N, y, yt); });
  }
}

void CudaBackend::settle_gemm() {
  if (n_gemm_ == 0) return;
  const int n = n_gemm_;
  n_gemm_ = 0;
  const HeldGemm h0 = held_gemm_[0];
  const DType act = h0.w.type == DType::F16 ? DType::F16 : DType::BF16;
  const void* xc = gemm_input(h0.x, h0.rows, static_cast<int>(h0.w.ne[0]), act);
  for (int i = 0; i < n; ++i) emit_gemm(held_gemm_[i].w, xc, act, h0.rows, held_gemm_[i].y, false);
}

bool CudaBackend::fuse_gemm_swiglu(const float* gate, const float* up, float* out, size_t n) {
  const HeldGemm a = held_gemm_[0], b = held_gemm_[1];
  const size_t bytes = n * 4;
  auto disjoint_or_same = [&](const float* p) { return p == out || !overlaps(p, bytes, out, bytes); };
  // BF16 only: F16 gate/up results could overflow where the F32 path does not.
  if (n_gemm_ != 2 || a.w.type == DType::F16 || a.y != gate || b.y != up || a.w.rows() != b.w.rows() ||
      static_cast<size_t>(a.rows) * a.w.rows() != n || !disjoint_or_same(gate) || !disjoint_or_same(up))
    return false;
  n_gemm_ = 0;
  const DType act = DType::BF16;
  const void* xc = gemm_input(a.x, a.rows, static_cast<int>(a.w.ne[0]), act);
  for (const Scratch* sc : {&glu_g_, &glu_u_, &glu_o_}) release_scratch(sc->ptr);
  void* g = ensure(glu_g_, n * 2);
  void* u = ensure(glu_u_, n * 2);
  void* o = ensure(glu_o_, n * 2);
  emit_gemm(a.w, xc, act, a.rows, g, true);
  emit_gemm(b.w, xc, act, a.rows, u, true);
  sig(31, g, u, o, n, static_cast<int>(act));
  enqueue([=, this] { cuda::swiglu16(act, g, u, o, n, st_); });
  if (gate != out) lazy_.push_back(Lazy{const_cast<float*>(gate), n, g, act});
  if (up != out) lazy_.push_back(Lazy{const_cast<float*>(up), n, u, act});
  leave_lazy_gemm_input(out, n, o, act);
  return true;
}

void CudaBackend::release_scratch(const void* src) {
  if (!src) return;
  for (size_t i = 0; i < lazy_.size();) {
    if (lazy_[i].src == src) {
      materialize(lazy_[i]);
      lazy_.erase(lazy_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  if (conv_data_ == src) conv_src_ = nullptr;
}

void CudaBackend::use(const void* p, size_t bytes, bool whole_write) {
  if (lazy_.empty() || !p) return;
  const char* a = static_cast<const char*>(p);
  for (size_t i = 0; i < lazy_.size();) {
    const Lazy l = lazy_[i];
    const char* d = reinterpret_cast<const char*>(l.dst);
    const size_t lb = l.n * 4;
    if (!overlaps(a, bytes, d, lb)) {
      ++i;
      continue;
    }
    lazy_.erase(lazy_.begin() + static_cast<std::ptrdiff_t>(i));
    if (!(whole_write && a <= d && d + lb <= a + bytes)) materialize(l);
  }
}

void CudaBackend::materialize(const Lazy& l) {
  const Lazy c = l;
  sig(30, c.dst, c.n, c.src, static_cast<int>(c.t));
  enqueue([=, this] { cuda::widen_to_f32(c.t, c.src, c.n, c.dst, st_); });
}

void CudaBackend::gemm16(DType act, const void* wmat, const void* xc, int rows, int K, int N, void* y, DType yt) {
  const float one = 1.0f, zero = 0.0f;
  const cudaDataType dt = act == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  const cudaDataType ct = yt == DType::F32 ? CUDA_R_32F : dt;
  check_blas(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, N, rows, K, &one, wmat, dt, K, xc, dt, K, &zero, y, ct, N,
                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "gemm");
}

// Times each candidate for a matvec group (first sight of its shape only): the kernel variants,
// and for a lone 16-bit weight without SwiGLU cuBLAS too. Outputs go to scratch so no queued op
// sees the trial writes; the L2 is flushed before every timed run, since in a step each weight
// comes from HBM (a 14 MB quantized weight would otherwise be timed from L2).
int CudaBackend::tune_group(const cuda::MatvecGroup& group, const float* x, const int8_t* xq, const float2* xds, int R) {
  full_sync();
  cuda::MatvecGroup g = group;
  size_t total = 0;
  for (int i = 0; i < g.count; ++i) total += static_cast<size_t>(g.t[i].n);
  const size_t out_bytes = (((total + g.t[0].n) * R * 4) + 255) & ~size_t(255);
  constexpr size_t kFlushBytes = 128u << 20;
  char* scratch = static_cast<char*>(ensure(tune_, out_bytes + static_cast<size_t>(g.K) * 2 + kFlushBytes));
  float* out = reinterpret_cast<float*>(scratch);
  for (int i = 0; i < g.count; ++i) {
    g.t[i].y = out;
    out += static_cast<size_t>(g.t[i].n) * R;
  }
  if (g.glu) g.glu = out;
  void* xc = scratch + out_bytes;
  void* flush_buf = scratch + out_bytes + ((static_cast<size_t>(g.K) * 2 + 255) & ~size_t(255));
  const bool quant = dtype_info(g.type).quantized;
  const bool blas_ok = !quant && R == 1 && g.count == 1 && !g.glu;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  float best = 1e30f;
  int best_v = 0;
  const int kernels = cuda::matvec_variant_count(g.type);
  for (int v = 0; v < kernels + (blas_ok ? 1 : 0); ++v) {
    auto run = [&] {
      if (v < kernels) {
        cuda::matvec_group(g, x, xq, xds, R, num_sms_, st_, false, v);
      } else {
        cuda::convert_f32(x, static_cast<size_t>(g.K), g.type, xc, st_);
        gemm16(g.type, g.t[0].w, xc, 1, g.K, g.t[0].n, g.t[0].y, DType::F32);
      }
    };
    for (int i = 0; i < 2; ++i) run();
    constexpr int kReps = 10;
    float ms = 0;
    for (int i = 0; i < kReps; ++i) {
      check(cudaMemsetAsync(flush_buf, i, kFlushBytes, st_), "L2 flush");
      cudaEventRecord(e0, st_);
      run();
      cudaEventRecord(e1, st_);
      cudaEventSynchronize(e1);
      float one = 0;
      cudaEventElapsedTime(&one, e0, e1);
      ms += one;
    }
    if (std::getenv("MLXR_CUDA_TUNE_LOG"))
      std::fprintf(stderr, "mlxr cuda: matvec %s K=%d R=%d rows %zu in %d weights%s, variant %d: %.2f us\n",
                   dtype_name(g.type), g.K, R, total, g.count, g.glu ? " +swiglu" : "", v, ms * 1e3f / kReps);
    // cuBLAS is no programmatic dependent: in a step it cannot start under the previous
    // kernel's tail as ours do, so it must win by more than that is worth.
    const float score = v < kernels ? ms : ms * 1.05f;
    if (score < best) {
      best = score;
      best_v = v;
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return best_v;
}

void CudaBackend::add(float* x, const float* y, size_t n) {
  use(x, n * 4);
  use(y, n * 4);
  settle();
  held_add_ = HeldAdd{x, y, n};
  wrote(x, n * 4);
}

void CudaBackend::add_row(float* x, const float* bias, int rows, int n) {
  use(x, static_cast<size_t>(rows) * n * 4);
  settle();
  sig(11, x, bias, rows, n);
  enqueue([=, this] { cuda::add_row(x, bias, rows, n, st_); });
  wrote(x, static_cast<size_t>(rows) * n * 4);
}

void CudaBackend::mul_scalar(float* x, float s, size_t n) {
  use(x, n * 4);
  settle();
  sig(12, x, s, n);
  enqueue([=, this] { cuda::mul_scalar(x, s, n, st_); });
  wrote(x, n * 4);
}

namespace {
// The YaRN correction range, as cpu::rope_cache computes it.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
  return n_dims * std::log(n_ctx_orig / (n_rot * 2 * static_cast<float>(M_PI))) / (2 * std::log(base));
}
}  // namespace

void CudaBackend::rope(float* x, int n_heads, int head_dim, const RopeParams& p, const float* ff) {
  cuda::RopeArgs a;
  a.neox = p.style == RopeStyle::kNeox;
  a.n_dims = p.n_dims;
  a.mscale = p.yarn_attn_factor;
  if (p.scaling == RopeScaling::kLinear || p.scaling == RopeScaling::kYarn) a.freq_scale = 1.0f / p.factor;
  if (p.scaling == RopeScaling::kYarn) {
    a.ext_factor = p.yarn_ext_factor < 0 ? 1.0f : p.yarn_ext_factor;
    const int orig = p.orig_ctx > 0 ? p.orig_ctx : 4096;
    a.corr0 = std::max(0.0f, std::floor(yarn_corr_dim(p.n_dims, orig, p.yarn_beta_fast, p.theta)));
    a.corr1 = std::min(static_cast<float>(p.n_dims - 1), std::ceil(yarn_corr_dim(p.n_dims, orig, p.yarn_beta_slow, p.theta)));
    if (a.ext_factor != 0.0f) a.mscale *= 1.0f + 0.1f * std::log(1.0f / a.freq_scale);
  }
  a.theta_scale = std::pow(p.theta, -2.0f / p.n_dims);
  use(x, static_cast<size_t>(T_) * n_heads * head_dim * 4);
  settle_gemm();
  settle_matvec();
  settle_norm();
  settle_add();
  const int T = T_;
  const int32_t* pos = d_pos_;
  const HeldRope& h = held_rope_;
  const size_t n_this = static_cast<size_t>(T) * n_heads * head_dim, n_held = static_cast<size_t>(h.T) * h.n_heads * h.head_dim;
  if (h.x && !h.x2 && !overlaps(x, n_this * 4, h.x, n_held * 4) && h.head_dim == head_dim && h.ff == ff && h.T == T && h.pos == pos &&
      std::memcmp(&h.a, &a, sizeof a) == 0) {
    held_rope_.x2 = x;
    held_rope_.n2 = n_heads;
  } else {
    settle_rope();
    held_rope_ = HeldRope{x, n_heads, head_dim, T, nullptr, 0, a, ff, pos};
  }
  wrote(x, static_cast<size_t>(T) * n_heads * head_dim * 4);
}

void CudaBackend::swiglu(const float* gate, const float* up, float* out, size_t n) {
  use(out, n * 4, true);
  if (fuse_gemm_swiglu(gate, up, out, n)) return;
  const HeldMatvec& h = held_mv_;
  if (h.g.count == 2 && h.g.t[0].y == gate && h.g.t[1].y == up && h.g.t[0].n == h.g.t[1].n &&
      static_cast<size_t>(h.rows) * h.g.t[0].n == n) {
    held_mv_.g.glu = out;
    settle_matvec();
    wrote(out, n * 4);
    return;
  }
  use(gate, n * 4);
  use(up, n * 4);
  settle();
  sig(14, gate, up, out, n);
  enqueue([=, this] { cuda::swiglu(gate, up, out, n, st_); });
  wrote(out, n * 4);
}

void CudaBackend::gelu_mul(const float* gate, const float* up, float* out, size_t n) {
  use(gate, n * 4);
  use(up, n * 4);
  use(out, n * 4, true);
  settle();
  sig(15, gate, up, out, n);
  enqueue([=, this] { cuda::gelu_mul(gate, up, out, n, st_); });
  wrote(out, n * 4);
}

void CudaBackend::kv_store(int layer, const float* k, const float* v) {
  const size_t kv_bytes = static_cast<size_t>(T_) * kv_.n_kv_heads * kv_.head_dim * 4;
  use(k, kv_bytes);
  use(v, kv_bytes);
  const cuda::KVArgs a = kv_args(layer);
  const int T = T_;
  const HeldRope r = held_rope_;
  // v is read while q is rotated in place: they must not overlap.
  const bool v_apart = !overlaps(v, kv_bytes, r.x, static_cast<size_t>(T) * r.n_heads * r.head_dim * 4);
  if (r.x2 == k && r.n2 == kv_.n_kv_heads && r.head_dim == kv_.head_dim && r.T == T && r.pos == d_pos_ && v_apart) {
    held_rope_ = HeldRope{};
    settle();
    sig(23, layer, r.x, r.n_heads, k, v, T, a.tables, a.stride, a.positions, a.seq_of, r.a.neox, r.a.n_dims,
        r.a.theta_scale, r.a.freq_scale, r.a.ext_factor, r.a.mscale, r.a.corr0, r.a.corr1, r.ff);
    enqueue([=, this] { cuda::rope_kv_store(a, r.x, r.n_heads, r.x2, v, T, r.a, r.ff, st_); });
    return;
  }
  settle();
  sig(16, layer, k, v, T, a.tables, a.stride, a.positions, a.seq_of);
  enqueue([=, this] { cuda::kv_store(a, k, v, T, st_); });
}

void CudaBackend::attention(int layer, const float* q, int n_head, float scale, int window, float* out) {
  use(q, static_cast<size_t>(T_) * n_head * kv_.head_dim * 4);
  use(out, static_cast<size_t>(T_) * n_head * kv_.head_dim * 4, true);
  settle();
  const cuda::KVArgs a = kv_args(layer);
  const int T = T_;
  if (multi_token_seq_ && cuda::attention_tiled_supported(kv_.dtype, kv_.head_dim)) {
    const int32_t* tiles = d_tiles_;
    const int nt = n_tiles_;
    const size_t n = static_cast<size_t>(T) * n_head * kv_.head_dim;
    // Prefill: the output is written as BF16 only, the input of the output projection's GEMM;
    // the F32 out stays lazy. Not for F32-weight models, whose GEMMs read F32.
    void* out16 = nullptr;
    if (T > cuda::kMatvecMaxRows && !f32_gemm_seen_ && cuda::attention_tiled_out16()) {
      release_scratch(attn16_.ptr);
      out16 = ensure(attn16_, n * 2);
    }
    sig(17, layer, q, n_head, scale, window, out, tiles, nt, a.tables, a.stride, out16);
    enqueue([=, this] { cuda::attention_tiled(a, tiles, nt, q, n_head, scale, window, out, out16, st_); });
    if (out16) {
      leave_lazy_gemm_input(out, n, out16, DType::BF16);
      return;
    }
  } else {
    // Splits of the key range: cuda::attention_splits; the bound follows the bucketed table stride
    // so repeated decode steps keep the same launch shape.
    const int group_chunks = (n_head / kv_.n_kv_heads + 7) / 8;
    const int blocks = T * kv_.n_kv_heads * group_chunks;
    const int max_keys = std::min(stride_ * kv_.block_size, window > 0 ? window : 1 << 30);
    const int nsplit = cuda::attention_splits(kv_.dtype, kv_.head_dim, blocks, max_keys, num_sms_);
    float* ws_o = nullptr;
    float* ws_ml = nullptr;
    unsigned* counters = nullptr;
    if (nsplit > 1) {
      const size_t no = static_cast<size_t>(T) * n_head * nsplit * kv_.head_dim;
      const size_t nml = static_cast<size_t>(T) * n_head * nsplit * 2;
      ws_o = static_cast<float*>(ensure(attn_ws_, (no + nml) * sizeof(float)));
      ws_ml = ws_o + no;
      // Zeroed here, never during a capture: ahead on the stream of every launch (eager or a
      // graph's) that uses the new buffer.
      const size_t cb = static_cast<size_t>(blocks) * sizeof(unsigned);
      const bool fresh = attn_cnt_.cap < cb;
      counters = static_cast<unsigned*>(ensure(attn_cnt_, cb));
      if (fresh) check(cudaMemsetAsync(counters, 0, attn_cnt_.cap, st_), "attention counters");
    }
    sig(18, layer, q, n_head, scale, window, out, nsplit, ws_o, T, a.tables, a.stride, counters);
    enqueue([=, this] {
      cuda::attention_split(a, q, T, n_head, scale, window, nsplit, ws_o, ws_ml, counters, out, st_);
    });
  }
  wrote(out, static_cast<size_t>(T) * n_head * kv_.head_dim * 4);
}

void CudaBackend::gather_output_rows(const float* x, int n, float* out) {
  use(x, static_cast<size_t>(T_) * n * 4);
  use(out, static_cast<size_t>(n_out_) * n * 4, true);
  settle();
  const int32_t* rows = d_out_;
  const int nr = n_out_;
  sig(19, x, n, out, rows, nr);
  enqueue([=, this] { cuda::gather_rows(x, n, rows, nr, out, st_); });
  wrote(out, static_cast<size_t>(nr) * n * 4);
}

void CudaBackend::top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse) {
  use(logits, static_cast<size_t>(rows) * n * 4);
  const double t0 = begin_host_read();
  // One scratch: values, indices, lse, then the kernel's workspace.
  const size_t nk = static_cast<size_t>(rows) * k;
  const size_t out_bytes = ((2 * nk + rows) * 4 + 255) & ~size_t(255);
  char* buf = static_cast<char*>(ensure(topk_, out_bytes + cuda::top_k_workspace_bytes(rows, n, k)));
  float* dv = reinterpret_cast<float*>(buf);
  int32_t* di = reinterpret_cast<int32_t*>(dv + nk);
  float* dl = reinterpret_cast<float*>(di + nk);
  ++stats_.eager_ops;
  cuda::top_k_rows(logits, rows, n, k, dv, di, dl, buf + out_bytes, st_);
  check(cudaMemcpyAsync(vals, dv, nk * 4, cudaMemcpyDeviceToHost, st_), "top-k values to host");
  check(cudaMemcpyAsync(idx, di, nk * 4, cudaMemcpyDeviceToHost, st_), "top-k indices to host");
  if (lse) check(cudaMemcpyAsync(lse, dl, static_cast<size_t>(rows) * 4, cudaMemcpyDeviceToHost, st_), "top-k lse to host");
  end_host_read(t0);
}

void CudaBackend::leave_graph_mode() {
  flush();
  recording_ = false;
}

const void* CudaBackend::upload_small(const void* host, size_t bytes, size_t offset) {
  char* dst = static_cast<char*>(idx_.ptr) + offset;
  check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, st_), "index upload");
  return dst;
}

void CudaBackend::gather_rows(const float* x, const int32_t* rows, int n_rows, int n, float* out) {
  const int32_t x_rows = n_rows > 0 ? *std::max_element(rows, rows + n_rows) + 1 : 0;
  use(x, static_cast<size_t>(x_rows) * n * 4);
  use(out, static_cast<size_t>(n_rows) * n * 4, true);
  settle();
  leave_graph_mode();
  // Ordered after earlier users of idx_ by the stream; pageable copies return once read.
  ensure(idx_, static_cast<size_t>(n_rows) * 8 + 256);
  const auto* d_rows = static_cast<const int32_t*>(upload_small(rows, static_cast<size_t>(n_rows) * 4, 0));
  ++stats_.eager_ops;
  cuda::gather_rows(x, n, d_rows, n_rows, out, st_);
  wrote(out, static_cast<size_t>(n_rows) * n * 4);
}

void CudaBackend::scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales, int n_rows,
                                     int n) {
  const int32_t dst_rows = n_rows > 0 ? *std::max_element(rows, rows + n_rows) + 1 : 0;
  use(dst, static_cast<size_t>(dst_rows) * n * 4);
  use(src, static_cast<size_t>(n_rows) * n * 4);
  settle();
  leave_graph_mode();
  const size_t off = (static_cast<size_t>(n_rows) * 4 + 255) & ~size_t(255);
  ensure(idx_, off + static_cast<size_t>(n_rows) * 4);
  const auto* d_rows = static_cast<const int32_t*>(upload_small(rows, static_cast<size_t>(n_rows) * 4, 0));
  const auto* d_scales = static_cast<const float*>(upload_small(scales, static_cast<size_t>(n_rows) * 4, off));
  ++stats_.eager_ops;
  cuda::scatter_add_scaled(dst, src, d_rows, d_scales, n_rows, n, st_);
  wrote(dst, 0);
  conv_src_ = q8_src_ = nullptr;
}

void CudaBackend::fill_zero(float* x, size_t n) {
  use(x, n * 4, true);
  settle();
  sig(20, x, n);
  enqueue([=, this] { check(cudaMemsetAsync(x, 0, n * sizeof(float), st_), "fill_zero"); });
  wrote(x, n * 4);
}

}  // namespace

bool cuda_device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

Expected<std::unique_ptr<Backend>> make_cuda_backend(int device) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return make_error(cuda_error("no usable CUDA device", e));
  if (device < 0 || device >= n)
    return make_error("cuda: device " + std::to_string(device) + " does not exist (" + std::to_string(n) + " found)");
  auto b = std::make_unique<CudaBackend>(device);
  MLXR_RETURN_IF_ERROR(b->init());
  return std::unique_ptr<Backend>(std::move(b));
}

const char* cuda_op_name(int kind) {
  switch (kind) {
    case 1: return "get_rows";
    case 2: return "rms_norm";
    case 3: return "matvec (float)";
    case 4: return "quantize_q8";
    case 5: return "matvec group";
    case 6: return "sgemm";
    case 7: return "dequant to bf16";
    case 8: return "convert to 16-bit";
    case 9: return "gemm 16-bit";
    case 10: return "add";
    case 11: return "add_row";
    case 12: return "mul_scalar";
    case 13: return "rope";
    case 14: return "swiglu";
    case 15: return "gelu_mul";
    case 16: return "kv_store";
    case 17: return "attention (tiled)";
    case 18: return "attention (split)";
    case 19: return "gather_output_rows";
    case 20: return "fill_zero";
    case 22: return "rope (q and k)";
    case 23: return "rope + kv_store";
    case 30: return "widen lazy result";
    case 31: return "swiglu 16-bit";
    default: return "";
  }
}

const CudaBackendStats* cuda_backend_stats(const Backend& b) {
  const auto* c = dynamic_cast<const CudaBackend*>(&b);
  return c ? &c->stats() : nullptr;
}

}  // namespace mlxr
