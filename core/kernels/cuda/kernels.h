// Launchers of the CUDA backend's kernels. Plain C++ signatures (device pointers, a stream) so
// the backend itself compiles as ordinary C++; every kernel lives in a .cu file beside this one
// and has its CPU reference in core/kernels/cpu or core/quant (named in each .cu file).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/tensor/dtype.h"

namespace mlxr::cuda {

// Aborts with the kernel's name when the last launch failed: ops return void by contract, and
// a failed launch means a bug or a lost device, not bad user input.
void check_launch(const char* what);

// Whether the decode kernels use programmatic dependent launch (MLXR_CUDA_PDL=0 turns it off).
bool pdl_enabled();

// Weight types kept as stored in GPU memory (every other type is converted to F32 at upload).
bool device_type_supported(DType t);

// One row of ggml-typed weights per id: out (n, ne0) float, bit-exact with dequantize_row.
void get_rows(DType t, const void* table, size_t row_bytes, int64_t ne0, const int32_t* ids, int n,
              float* out, cudaStream_t s);
// W (rows, ne0) of a device type -> bf16 (rows, ne0), for prefill GEMMs of quantized weights.
void dequant_to_bf16(DType t, const void* w, size_t row_bytes, int64_t ne0, int64_t rows, void* out,
                     cudaStream_t s);
// x (n floats) -> F16 or BF16, round to nearest even.
void convert_f32(const float* x, size_t n, DType to, void* out, cudaStream_t s);

// out = rms_norm(x) * w. y != null: x += y first, in the same pass (the residual add before a
// norm). q != null (n % 32 == 0): out is also quantized as quantize_q8 does, into q and ds.
// out16 != null: out is also written as t16 (BF16/F16), the input of a following GEMM.
void rms_norm(float* x, const float* y, const float* w, float eps, int rows, int n, float* out, int8_t* q, float2* ds,
              void* out16, DType t16, cudaStream_t s);

struct RopeArgs {
  int neox = 0;
  int n_dims = 0;
  float theta_scale = 1;  // theta^(-2/n_dims), computed on the host as the CPU computes it
  float freq_scale = 1;
  float ext_factor = 0;
  float mscale = 1;       // attention factor, YaRN's log term already applied
  float corr0 = 0, corr1 = 0;
};
void rope(float* x, const int32_t* positions, int T, int n_heads, int head_dim, const RopeArgs& a,
          const float* freq_factors, cudaStream_t s);

// rope of two tensors with the same positions and parameters (q and k) in one launch.
void rope2(float* x1, int n1, float* x2, int n2, const int32_t* positions, int T, int head_dim, const RopeArgs& a,
           const float* freq_factors, cudaStream_t s);

void swiglu(const float* g, const float* u, float* out, size_t n, cudaStream_t s);
void gelu_mul(const float* g, const float* u, float* out, size_t n, cudaStream_t s);
// out = silu(g) * u on 16-bit (t: BF16/F16) gate/up GEMM outputs, computed in fp32, written as t.
void swiglu16(DType t, const void* g, const void* u, void* out, size_t n, cudaStream_t s);
// x (n values of t: BF16/F16) -> F32.
void widen_to_f32(DType t, const void* x, size_t n, float* out, cudaStream_t s);
void add(float* x, const float* y, size_t n, cudaStream_t s);
void add_row(float* x, const float* b, int rows, int n, cudaStream_t s);
void mul_scalar(float* x, float v, size_t n, cudaStream_t s);
void gather_rows(const float* x, int n, const int32_t* rows, int n_rows, float* out, cudaStream_t s);
// dst[rows[i]] += scales[i] * src[i] for i in order (rows, scales in device memory).
void scatter_add_scaled(float* dst, const float* src, const int32_t* rows, const float* scales, int n_rows, int n,
                        cudaStream_t s);

// Activations for the quantized matvec: per 32 values one int8 block with (d, d*sum(q)).
void quantize_q8(const float* x, int rows, int K, int8_t* q, float2* ds, cudaStream_t s);
// y (R, N) = x (R, K) · Wᵀ for R <= 8, one weight row per warp. Float weights read x directly
// (rounded to the weight's precision).
constexpr int kMatvecMaxRows = 8;
void matvec_float(DType t, const void* w, int K, int N, const float* x, int R, float* y, cudaStream_t s);

// Up to three weights of one type and K that share the input, as one launch (q/k/v, gate/up).
// With glu set (two weights of equal n), glu = silu(y0) * y1 is written too (SwiGLU fused).
struct MatvecTarget {
  const void* w = nullptr;
  size_t row_bytes = 0;
  int n = 0;          // weight rows = outputs per activation row
  float* y = nullptr; // (R, n)
};
struct MatvecGroup {
  DType type = DType::F32;
  int K = 0;
  int count = 0;
  MatvecTarget t[3];
  float* glu = nullptr;  // (R, t[0].n)
};
bool matvec_group_supported(DType t, int K);
// 16-bit weights: R == 1, x read directly. Quantized: R <= kMatvecMaxRows, the q8 activations.
// variant < matvec_variant_count(g.type) picks the kernel (the backend times them per shape):
//   16-bit:    0, 1, 2: register loads 4, 8 or 16 deep per lane; 3, 4, 5: bulk copies
//   quantized: 0: register loads; 1, 2, 3: bulk copies
// Bulk copies (Hopper cp.async.bulk into a ring of shared-memory stages, persistent grid) come
// in three launch configurations: 1 block per multiprocessor with a ~200 KB ring, 2 blocks of
// ~100 KB, 1 block of ~96 KB. A group they cannot take (rows not a multiple of 16 bytes, weights
// not 16-byte aligned) runs variant 0; so does a variant out of range.
// num_sms: the device's multiprocessor count. pdl: launched as a programmatic dependent of the
// previous kernel (weights are fetched before waiting for it).
constexpr int kMatvecVariants = 6;  // the most of any type
int matvec_variant_count(DType t);
void matvec_group(const MatvecGroup& g, const float* x, const int8_t* xq, const float2* xds, int R, int num_sms,
                  cudaStream_t s, bool pdl, int variant = 0);

// Paged KV cache. Tables: one row of `stride` block ids per sequence.
struct KVArgs {
  void* k = nullptr;  // this layer's K plane: (n_blocks, block_size, n_kv, hd)
  void* v = nullptr;
  DType dtype = DType::F16;
  int block_size = 16;
  int n_kv = 0;
  int hd = 0;
  const int32_t* tables = nullptr;
  int stride = 0;
  const int32_t* positions = nullptr;
  const int32_t* seq_of = nullptr;
};
void kv_store(const KVArgs& kv, const float* k, const float* v, int T, cudaStream_t s);
// rope2 of q (T, nq heads) and k (T, kv.n_kv heads) with the batch positions, then kv_store of
// the rotated k and of v, as one launch (head_dim kv.hd).
void rope_kv_store(const KVArgs& kv, float* q, int nq, float* k, const float* v, int T, const RopeArgs& a,
                   const float* ff, cudaStream_t s);

// Split-KV (flash-decoding) attention: every token attends over its own range, any T, any hd
// <= 256, any cache type (F16/BF16 with hd 64/128 on the tensor cores). When nsplit > 1: ws_o
// (T*n_head*nsplit*hd), ws_ml (T*n_head*nsplit*2) and counters (T*n_kv*ceil(group/8)), which
// must be zero before the first launch and are zero again after each: the tensor-core kernel's
// last block per (token, kv head, 8 heads) merges the splits, counted there (no second launch).
// Launches that share counters must be ordered (one stream).
void attention_split(const KVArgs& kv, const float* q, int T, int n_head, float scale, int window,
                     int nsplit, float* ws_o, float* ws_ml, unsigned* counters, float* out, cudaStream_t s);
// How many splits attention_split should use: blocks = T * n_kv * ceil(group / 8), max_keys the
// most keys one token can see (bucketed table stride x block size, or the window).
int attention_splits(DType kv, int hd, int blocks, int max_keys, int num_sms);
// Tiled prefill attention on the tensor cores (mma.sync): tiles of up to kAttnTileRows
// consecutive tokens of one sequence; tile i is tiles[5i..5i+5) = {t0, n_rows, seq, min_pos,
// max_pos}. Rows may sit at any positions (each row has its own causal/window mask).
constexpr int kAttnTileRows = 128;
// Once per device, before any launch: raises shared-memory limits, and reads MLXR_CUDA_ATTN
// (=legacy: the previous, slower kernels, kept for comparison).
void attention_init();
bool attention_tiled_supported(DType kv, int hd);
// out16 != null: the output is written there as BF16 instead (the next GEMM's input), when
// attention_tiled_out16() (not with MLXR_CUDA_ATTN=legacy).
bool attention_tiled_out16();
void attention_tiled(const KVArgs& kv, const int32_t* tiles, int n_tiles, const float* q, int n_head,
                     float scale, int window, float* out, void* out16, cudaStream_t s);

}  // namespace mlxr::cuda
