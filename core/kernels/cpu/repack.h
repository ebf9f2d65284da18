// Q4_0 weights repacked at load, as llama.cpp's CPU backend repacks them (block_q4_0x8): 8 rows
// interleaved block by block, so one sequential stream feeds 8 independent FMA chains at decode,
// where a single row is one chain of dependent FMAs. The repacked tensor replaces the mapped one
// (same size), so memory stays the weights once. Each row's result is bit-identical to
// vec_dot_avx2(Q4_0) (same int32 lanes, same FMA order); prefill unpacks a group back to rows.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mlxr {

// One block of 32 elements of 8 rows: the 8 fp16 scales, then for each row pair (2p, 2p + 1) 32
// bytes whose low nibble is element j of row 2p and high nibble element j of row 2p + 1.
struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[4][32];
};
static_assert(sizeof(BlockQ4_0x8) == 144);

// 8 Q4_0 rows of k elements (stride w_row bytes) <-> k / 32 BlockQ4_0x8.
void repack_q4_0x8(const uint8_t* w, size_t w_row, int64_t k, BlockQ4_0x8* dst);
void unpack_q4_0x8(const BlockQ4_0x8* g, int64_t k, uint8_t* rows /* 8 rows of k / 32 BlockQ4_0 */);
// Row r (< 8) of a group, dequantized (as dequantize_row(Q4_0)).
void dequantize_q4_0x8_row(const BlockQ4_0x8* g, int64_t k, int r, float* y);

// 8 dot products of one group with one activation row finished by tile_act_finish (Q8_0):
// y[r] == vec_dot_avx2(Q4_0)(n, row r, a) bit for bit. nullptr without AVX2.
using GemvQ4_0x8Fn = void (*)(int64_t n, const BlockQ4_0x8* w, const uint8_t* a, float* y);
GemvQ4_0x8Fn gemv_q4_0x8_avx2();
GemvQ4_0x8Fn gemv_q4_0x8_best();

}  // namespace mlxr
