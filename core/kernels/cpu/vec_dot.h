// Dot products of one weight row with one activation row, the inner loop of matmul. The
// activation row is already in vec_dot_type(weight type) (core/quant/quant.h), as in llama.cpp's
// CPU backend: a quantised weight block meets a Q8 activation block and the products are summed
// as integers, then scaled by the two block scales.
//
// Each weight type has a scalar reference (vec_dot.cpp) and, where the CPU has AVX2+FMA+F16C,
// a SIMD version (vec_dot_avx2.cpp) chosen once at runtime. Both form the same integer block
// sums; they differ only in the order of the float additions. The AVX2 kernels add in the order
// of llama.cpp's x86 build (per-block FMA into 8 lanes, its reductions; F16 as its AVX-512 build,
// which made the shared golden outputs), and the activations are rounded as its x86 quantisers
// round them, so greedy outputs of quantised models can match llama.cpp's token for token.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor/dtype.h"

namespace mlxr {

// n: elements in the row (a multiple of the weight type's block size); w: weight row of the
// weight type; a: activation row of vec_dot_type(weight type).
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

// Converts n floats (a multiple of the block size) to the activation format of a vec_dot.
using FromFloatFn = void (*)(const float* x, void* y, int64_t n);

// True when the CPU can run the *_avx2.cpp kernels (checked once).
bool cpu_has_avx2();

// Kernels for a weight type; nullptr when the type has none. vec_dot_best is the AVX2 one when
// the CPU supports it, else the scalar one.
VecDotFn vec_dot_scalar(DType weight);
VecDotFn vec_dot_avx2(DType weight);
VecDotFn vec_dot_best(DType weight);

// A register-blocked tile for prefill: rm weight rows (w, stride ws bytes) times rn activation
// rows (a, stride as bytes) -> y[r * ys + o] for o < rm, r < rn. The activation rows must be laid
// out by tile_act_row_bytes / tile_act_finish (below); a `grouped` tile instead reads its rn rows
// interleaved by tile_act_group at a (as unused). fn is nullptr when the type has no tile
// (matmul then calls the vec_dot once per pair).
using VecDotTileFn = void (*)(int64_t n, const uint8_t* w, size_t ws, const uint8_t* a, size_t as,
                              float* y, size_t ys);
struct VecDotTile {
  int rm = 0, rn = 0;
  VecDotTileFn fn = nullptr;
  bool grouped = false;
};
VecDotTile vec_dot_tile_avx2(DType weight);
VecDotTile vec_dot_tile_best(DType weight);  // the AVX2 tile when the CPU supports it, else none

// Decode (one activation row): an rm x 1 tile over a row finished by tile_act_finish, faster than
// the vec_dot (it reads the precomputed extras, converts 8 block scales at once, prefetches) and
// bit-identical to it on each row. fn is nullptr when the type has none (matmul then calls the
// vec_dot).
VecDotTile vec_dot_gemv_avx2(DType weight);
VecDotTile vec_dot_gemv_best(DType weight);

// Activation rows as the tiles read them: the row in `act` format, then, for Q8_0, its n/32 block
// scales as fp32 starting at byte tile_act_extra_offset (so a tile skips an fp16 conversion per
// block pair), then from byte q8_0_m8_offset 16 int16 per block, 8 * (q[2k] + q[2k+1])
// (the offset term of Q4_0's (q - 8) * a). tile_act_finish writes those extras once the row has
// been converted. A vec_dot reads only the leading row, so one such buffer serves both.
size_t tile_act_row_bytes(DType act, int64_t n);
size_t tile_act_extra_offset(DType act, int64_t n);
void tile_act_finish(DType act, uint8_t* row, int64_t n);
// The Q8_0 offsets, inline for the kernels (which run once per weight row). 34 = sizeof(BlockQ8_0).
constexpr size_t q8_0_extra_offset(int64_t n) { return (static_cast<size_t>(n / 32) * 34 + 3) & ~size_t{3}; }
constexpr size_t q8_0_m8_offset(int64_t n) {
  return (q8_0_extra_offset(n) + static_cast<size_t>(n / 32) * 4 + 31) & ~size_t{31};
}

// Groups of rn finished rows of vec_dot_type(weight) interleaved block by block for the grouped
// tiles of that weight type (one pointer, aligned loads). Q8_0, per block of 32: rn x 32 quants,
// then rn fp32 scales; for Q4_0 weights the quants are stored plus 128 (unsigned), so that the
// tile multiplies them unsigned by signed weights without a sign flip per row. Q8_K, per block of
// 256: rn x 256 quants, rn fp32 scales, then rn x 8 int16 sums of each 32 quants.
// tile_act_group reads rn rows of stride `stride` and writes tile_act_group_bytes at dst.
// Weight types without a grouped tile: 0 bytes.
size_t tile_act_group_bytes(DType weight, int64_t n, int rn);
void tile_act_group(DType weight, int64_t n, const uint8_t* rows, size_t stride, int rn, uint8_t* dst);

// Activation converters for F32/F16/BF16/Q8_0/Q8_1/Q8_K; the AVX2 ones produce the same bytes as
// the scalar reference quantisers (quantize_row). nullptr for other types.
FromFloatFn from_float_scalar(DType act);
FromFloatFn from_float_avx2(DType act);
FromFloatFn from_float_best(DType act);

}  // namespace mlxr
