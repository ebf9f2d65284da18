// The seam between models and hardware. A model is written once against these ops; the CPU
// and CUDA backends implement them over their own memory. Activation pointers (`float*`) are
// backend memory (host memory on CPU, device memory on CUDA) from alloc(). Shapes in comments
// are row-major: (T, n) is T rows of n floats.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/base/status.h"
#include "core/formats/model_file.h"
#include "core/kv/batch.h"
#include "core/kv/kv_layout.h"
#include "core/tensor/tensor.h"

namespace mlxr {

// The most candidates Backend::top_k_rows returns per row (one CTA's shared memory on CUDA).
inline constexpr int kMaxTopK = 1024;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Memory.
  virtual Expected<float*> alloc(size_t n_floats) = 0;
  virtual void free(float* p) = 0;
  // Host memory that to_host copies into fastest (CUDA: pinned, so a step's logits do not crawl
  // through a bounce buffer), for per-step outputs. CPU: ordinary memory.
  virtual Expected<float*> alloc_host(size_t n_floats) = 0;
  virtual void free_host(float* p) = 0;
  // A weight usable by matmul/get_rows on this backend. CPU: the view itself (no copy).
  virtual Expected<TensorView> upload(const TensorView& host) = 0;
  // Backend memory upload(host) will take (0 where the view is used in place).
  virtual size_t upload_bytes(const TensorView& host) const = 0;
  // Sizes weight memory once, before the uploads: `bytes` is the sum of upload_bytes() of the
  // weights to come. CUDA takes them as one device allocation; an error says how much is free.
  virtual Status reserve_weights(size_t bytes) = 0;
  // An F32 copy of a small tensor (norm weights, biases, rope factors), dequantised if needed.
  // CPU: points into the file when it is already F32.
  virtual Expected<const float*> upload_f32(const TensorView& host) = 0;
  virtual void to_host(float* dst, const float* src, size_t n_floats) = 0;
  virtual void from_host(float* dst, const float* src, size_t n_floats) = 0;

  // KV arena (one per backend instance, sized once).
  virtual Status init_kv(const KVLayout& layout) = 0;
  virtual const KVLayout& kv_layout() const = 0;
  // Copy whole blocks (copy-on-write of a shared block) in every layer.
  virtual void kv_copy_block(int src_block, int dst_block) = 0;

  // Per-step metadata (positions, block tables); valid until the next set_batch.
  virtual Status set_batch(const Batch& batch) = 0;

  // Ops. T = batch.n_tokens() of the current batch unless a count is given.
  virtual void get_rows(const TensorView& table, float* out /*(T, ne0)*/) = 0;  // rows by batch.tokens
  virtual void rms_norm(const float* x, const float* w, float eps, int rows, int n, float* out) = 0;
  // y (rows, w.ne[1]) = x (rows, w.ne[0]) · Wᵀ
  virtual void matmul(const TensorView& w, const float* x, int rows, float* y) = 0;
  virtual void add(float* x, const float* y, size_t n) = 0;                  // x += y
  virtual void add_row(float* x, const float* bias, int rows, int n) = 0;    // x[r] += bias
  virtual void mul_scalar(float* x, float s, size_t n) = 0;
  // In place on (T, n_heads, head_dim), positions from the batch. freq_factors: (n_dims/2) or null.
  virtual void rope(float* x, int n_heads, int head_dim, const RopeParams& p, const float* freq_factors) = 0;
  virtual void swiglu(const float* gate, const float* up, float* out, size_t n) = 0;  // silu(g)*u
  virtual void gelu_mul(const float* gate, const float* up, float* out, size_t n) = 0;  // gelu(g)*u
  // Write this step's K and V (T, n_kv_heads*head_dim) into the cache at the batch positions.
  virtual void kv_store(int layer, const float* k, const float* v) = 0;
  // Causal attention of q (T, n_head*head_dim) over each token's sequence in the cache.
  // sliding_window 0 = full attention.
  virtual void attention(int layer, const float* q, int n_head, float scale, int sliding_window,
                         float* out) = 0;
  // Copy selected rows: out[i] = x[rows[i]] for the batch's output_rows.
  virtual void gather_output_rows(const float* x, int n, float* out) = 0;
  // Per row of logits (rows, n) in backend memory: the k largest values, largest first (equal
  // values: lower index first), their indices, and the row's log-sum-exp (of the raw values).
  // NaN counts as -inf (it is never ranked above a number, and adds nothing to the sum).
  // Written to host memory (alloc_host memory is fastest on CUDA): vals (rows, k), idx (rows, k),
  // lse (rows); the results are ready on return. 1 <= k <= kMaxTopK, k <= n. lse may be null
  // when no logprobs are wanted (a 128K-row sum of exponentials is the CPU's largest cost here).
  virtual void top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse) = 0;
  // Mixture-of-experts routing; `rows` and `scales` are host arrays of n_rows entries.
  virtual void gather_rows(const float* x, const int32_t* rows, int n_rows, int n, float* out) = 0;
  // dst[rows[i]] += scales[i] * src[i], in order of i.
  virtual void scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales,
                                  int n_rows, int n) = 0;
  virtual void fill_zero(float* x, size_t n) = 0;
  virtual void sync() = 0;
};

// A growable buffer of Backend::alloc_host memory; the backend must outlive it.
class HostBuffer {
 public:
  explicit HostBuffer(Backend& be) : be_(be) {}
  ~HostBuffer() {
    if (p_) be_.free_host(p_);
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  // At least n floats (contents not kept when it grows).
  Expected<float*> reserve(size_t n) {
    if (n <= cap_) return p_;
    auto q = be_.alloc_host(n);
    if (!q) return q.status();
    if (p_) be_.free_host(p_);
    p_ = *q;
    cap_ = n;
    return p_;
  }
  float* data() const { return p_; }

 private:
  Backend& be_;
  float* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace mlxr
