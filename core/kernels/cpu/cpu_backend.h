// The CPU implementation of the Backend seam: weights used in place from the mmap, a thread
// pool for every op that pays for it, and the KV arena in host memory.
#pragma once
#include <memory>
#include <vector>

#include "core/base/thread_pool.h"
#include "core/kernels/cpu/matmul.h"
#include "core/tensor/backend.h"

namespace mlxr {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads = 0);
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  ThreadPool& pool() { return pool_; }

  Expected<float*> alloc(size_t n_floats) override;
  void free(float* p) override;
  Expected<float*> alloc_host(size_t n_floats) override { return alloc(n_floats); }
  void free_host(float* p) override { free(p); }
  Expected<TensorView> upload(const TensorView& host) override;
  // Weights are used in place from the mapped file (Q4_0's repacked copy is allocated per tensor
  // as it is made, and the mapped original released): nothing to reserve.
  size_t upload_bytes(const TensorView&) const override { return 0; }
  Status reserve_weights(size_t) override { return Status::ok(); }
  Expected<const float*> upload_f32(const TensorView& host) override;
  void to_host(float* dst, const float* src, size_t n_floats) override;
  void from_host(float* dst, const float* src, size_t n_floats) override;

  Status init_kv(const KVLayout& layout) override;
  const KVLayout& kv_layout() const override { return kv_layout_; }
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
  void sync() override {}

 private:
  ThreadPool pool_;
  MatmulScratch scratch_;
  KVLayout kv_layout_;
  std::vector<uint8_t> kv_arena_;
  std::vector<std::unique_ptr<float[]>> owned_;  // upload_f32 conversions
  std::vector<std::unique_ptr<uint8_t[]>> repacked_;  // Q4_0 weights in the x8 layout (upload)
  const Batch* batch_ = nullptr;
};

}  // namespace mlxr
