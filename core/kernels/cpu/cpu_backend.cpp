#include "core/kernels/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "core/kernels/cpu/attention.h"
#include "core/kernels/cpu/repack.h"
#include "core/kernels/cpu/ops.h"
#include "core/kernels/cpu/topk.h"
#include "core/quant/quant.h"

namespace mlxr {

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {}
CpuBackend::~CpuBackend() = default;

Expected<float*> CpuBackend::alloc(size_t n_floats) {
  float* p = static_cast<float*>(::operator new[](n_floats * sizeof(float), std::align_val_t(64), std::nothrow));
  if (!p) return make_error("cpu: out of memory allocating " + std::to_string(n_floats * 4) + " bytes");
  return p;
}

void CpuBackend::free(float* p) { ::operator delete[](p, std::align_val_t(64)); }

namespace {
// Asks the kernel to reclaim the whole pages of [p, p + n): a file mapping's pages are dropped
// (read back from the file if touched again), anonymous ones would go to swap, so no data is lost
// either way. Best effort: older kernels without MADV_PAGEOUT keep the pages.
void release_pages(const void* p, size_t n) {
#ifdef MADV_PAGEOUT
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const auto e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_PAGEOUT);
#endif
}
}  // namespace

// Q4_0 matrices whose rows come in eights are repacked (repack.h) when the CPU has AVX2; the
// mapped original's pages are then handed back to the kernel, so the weights stay resident once.
Expected<TensorView> CpuBackend::upload(const TensorView& host) {
  if (host.type != DType::Q4_0 || host.layout != TensorView::Layout::kRows || host.n_dims != 2 || host.ne[1] % 8 ||
      host.ne[0] % 32 || !gemv_q4_0x8_best())
    return host;
  const int64_t k = host.ne[0], groups = host.ne[1] / 8, nb = k / 32;
  const size_t w_row = host.row_size();
  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[host.nbytes + 64]);
  if (!buf) return make_error("cpu: out of memory repacking " + host.name);
  auto* dst = reinterpret_cast<BlockQ4_0x8*>(buf.get() + (64 - reinterpret_cast<uintptr_t>(buf.get()) % 64) % 64);
  const auto* src = static_cast<const uint8_t*>(host.data);
  pool_.parallel_for(static_cast<size_t>(groups), [&](int, size_t b, size_t e) {
    for (size_t g = b; g < e; ++g) repack_q4_0x8(src + g * 8 * w_row, w_row, k, dst + g * nb);
  });
  release_pages(host.data, host.nbytes);
  TensorView v = host;
  v.data = dst;
  v.layout = TensorView::Layout::kQ4_0x8;
  repacked_.push_back(std::move(buf));
  return v;
}

Expected<const float*> CpuBackend::upload_f32(const TensorView& host) {
  if (host.type == DType::F32) return static_cast<const float*>(host.data);
  if (!can_dequantize(host.type)) return make_error(std::string("cpu: cannot convert ") + dtype_name(host.type) + " tensor '" + host.name + "' to F32");
  auto buf = std::make_unique<float[]>(static_cast<size_t>(host.n_elements()));
  const size_t rb = host.row_size();
  for (int64_t r = 0; r < host.rows(); ++r)
    dequantize_row(host.type, static_cast<const uint8_t*>(host.data) + r * rb, buf.get() + r * host.ne[0], host.ne[0]);
  owned_.push_back(std::move(buf));
  return owned_.back().get();
}

void CpuBackend::to_host(float* dst, const float* src, size_t n) { std::memcpy(dst, src, n * sizeof(float)); }
void CpuBackend::from_host(float* dst, const float* src, size_t n) { std::memcpy(dst, src, n * sizeof(float)); }

Status CpuBackend::init_kv(const KVLayout& layout) {
  if (layout.dtype != DType::F32 && layout.dtype != DType::F16 && layout.dtype != DType::BF16)
    return make_error(std::string("cpu: unsupported KV cache type ") + dtype_name(layout.dtype));
  kv_layout_ = layout;
  try {
    kv_arena_.assign(layout.total_bytes(), 0);
  } catch (const std::bad_alloc&) {
    return make_error("cpu: cannot allocate a KV cache of " + std::to_string(layout.total_bytes() >> 20) + " MiB");
  }
  return Status::ok();
}

void CpuBackend::kv_copy_block(int src, int dst) {
  const size_t bb = kv_layout_.block_elems() * dtype_info(kv_layout_.dtype).block_bytes;
  const size_t lb = kv_layout_.layer_bytes();
  for (int l = 0; l < 2 * kv_layout_.n_layers; ++l) {
    uint8_t* base = kv_arena_.data() + l * lb;
    std::memcpy(base + dst * bb, base + src * bb, bb);
  }
}

Status CpuBackend::set_batch(const Batch& batch) {
  const KVLayout& L = kv_layout_;
  if (kv_arena_.empty()) return make_error("cpu: KV cache not initialised");
  for (int t = 0; t < batch.n_tokens(); ++t) {
    const int s = batch.seq_of[t];
    if (s < 0 || s >= batch.n_seqs()) return make_error("batch: token " + std::to_string(t) + " has invalid sequence index");
    const int pos = batch.positions[t];
    const auto& table = batch.block_tables[s];
    if (pos < 0 || static_cast<size_t>(pos / L.block_size) >= table.size())
      return make_error("batch: position " + std::to_string(pos) + " has no KV block");
  }
  for (const auto& table : batch.block_tables)
    for (int b : table)
      if (b < 0 || b >= L.n_blocks) return make_error("batch: block id " + std::to_string(b) + " out of range");
  batch_ = &batch;
  return Status::ok();
}

void CpuBackend::get_rows(const TensorView& table, float* out) {
  const int64_t n = table.ne[0];
  const size_t rb = table.row_size();
  for (int t = 0; t < batch_->n_tokens(); ++t) {
    const int32_t id = batch_->tokens[t];
    if (table.layout == TensorView::Layout::kQ4_0x8)
      dequantize_q4_0x8_row(static_cast<const BlockQ4_0x8*>(table.data) + (id / 8) * (n / 32), n, id % 8, out + t * n);
    else
      dequantize_row(table.type, static_cast<const uint8_t*>(table.data) + id * rb, out + t * n, n);
  }
}

void CpuBackend::rms_norm(const float* x, const float* w, float eps, int rows, int n, float* out) {
  pool_.parallel_for(static_cast<size_t>(rows), 4, [&](int, size_t b, size_t e) {
    cpu::rms_norm(x + b * n, w, eps, static_cast<int>(e - b), n, out + b * n);
  });
}

void CpuBackend::matmul(const TensorView& w, const float* x, int rows, float* y) {
  mlxr::matmul(w, x, rows, y, pool_, scratch_);
}

void CpuBackend::add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void CpuBackend::add_row(float* x, const float* bias, int rows, int n) {
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < n; ++i) x[static_cast<size_t>(r) * n + i] += bias[i];
}

void CpuBackend::mul_scalar(float* x, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void CpuBackend::rope(float* x, int n_heads, int head_dim, const RopeParams& p, const float* ff) {
  const int T = batch_->n_tokens();
  pool_.parallel_for(static_cast<size_t>(T), 4, [&](int, size_t b, size_t e) {
    cpu::rope(x + b * n_heads * head_dim, batch_->positions.data() + b, static_cast<int>(e - b), n_heads, head_dim, p, ff);
  });
}

void CpuBackend::swiglu(const float* gate, const float* up, float* out, size_t n) {
  pool_.parallel_for(n, 8192, [&](int, size_t b, size_t e) { cpu::swiglu(gate + b, up + b, out + b, e - b); });
}

void CpuBackend::gelu_mul(const float* gate, const float* up, float* out, size_t n) {
  pool_.parallel_for(n, 8192, [&](int, size_t b, size_t e) { cpu::gelu_mul(gate + b, up + b, out + b, e - b); });
}

void CpuBackend::kv_store(int layer, const float* k, const float* v) {
  const size_t lb = kv_layout_.layer_bytes();
  cpu::KVLayerView view{kv_arena_.data() + (2 * layer) * lb, kv_arena_.data() + (2 * layer + 1) * lb, &kv_layout_};
  cpu::kv_store(view, *batch_, k, v);
}

void CpuBackend::attention(int layer, const float* q, int n_head, float scale, int sliding_window, float* out) {
  const size_t lb = kv_layout_.layer_bytes();
  cpu::KVLayerView view{kv_arena_.data() + (2 * layer) * lb, kv_arena_.data() + (2 * layer + 1) * lb, &kv_layout_};
  cpu::attention(view, *batch_, q, n_head, scale, sliding_window, out, pool_);
}

void CpuBackend::gather_output_rows(const float* x, int n, float* out) {
  gather_rows(x, batch_->output_rows.data(), static_cast<int>(batch_->output_rows.size()), n, out);
}

void CpuBackend::top_k_rows(const float* logits, int rows, int n, int k, float* vals, int32_t* idx, float* lse) {
  // Rows are independent: one chunk of rows per worker.
  pool_.parallel_for(static_cast<size_t>(rows), [&](int, size_t b, size_t e) {
    cpu::top_k_rows(logits + b * n, static_cast<int>(e - b), n, k, vals + b * k, idx + b * k, lse ? lse + b : nullptr);
  });
}

void CpuBackend::gather_rows(const float* x, const int32_t* rows, int n_rows, int n, float* out) {
  for (int i = 0; i < n_rows; ++i)
    std::memcpy(out + static_cast<size_t>(i) * n, x + static_cast<size_t>(rows[i]) * n, n * sizeof(float));
}

void CpuBackend::scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales,
                                    int n_rows, int n) {
  for (int i = 0; i < n_rows; ++i) {
    float* d = dst + static_cast<size_t>(rows[i]) * n;
    const float* s = src + static_cast<size_t>(i) * n;
    for (int k = 0; k < n; ++k) d[k] += scales[i] * s[k];
  }
}

void CpuBackend::fill_zero(float* x, size_t n) { std::memset(x, 0, n * sizeof(float)); }

}  // namespace mlxr
