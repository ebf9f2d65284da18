#include "core/kernels/cpu/repack.h"

#include <cstring>

#include "core/base/fp16.h"
#include "core/kernels/cpu/vec_dot.h"
#include "core/quant/blocks.h"

namespace mlxr {

// Element j of a Q4_0 block is the low nibble of qs[j] for j < 16, the high one of qs[j - 16].
void repack_q4_0x8(const uint8_t* w, size_t w_row, int64_t k, BlockQ4_0x8* dst) {
  for (int64_t i = 0; i < k / 32; ++i) {
    const BlockQ4_0* b[8];
    for (int r = 0; r < 8; ++r) {
      b[r] = reinterpret_cast<const BlockQ4_0*>(w + r * w_row) + i;
      dst[i].d[r] = b[r]->d;
    }
    for (int p = 0; p < 4; ++p) {
      const uint8_t* lo = b[2 * p]->qs;
      const uint8_t* hi = b[2 * p + 1]->qs;
      uint8_t* out = dst[i].qs[p];
      for (int j = 0; j < 16; ++j) {
        out[j] = static_cast<uint8_t>((lo[j] & 0x0F) | (hi[j] << 4));
        out[16 + j] = static_cast<uint8_t>((lo[j] >> 4) | (hi[j] & 0xF0));
      }
    }
  }
}

namespace {
// Element j (< 32) of row r in block g.
inline int nibble(const BlockQ4_0x8& g, int r, int j) { return r % 2 ? g.qs[r / 2][j] >> 4 : g.qs[r / 2][j] & 0x0F; }
}  // namespace

// The inverse of repack_q4_0x8, branch-free per row pair (it runs once per group per prefill
// matmul, so it must stay cheap next to the tile).
void unpack_q4_0x8(const BlockQ4_0x8* g, int64_t k, uint8_t* rows) {
  const int64_t nb = k / 32;
  auto* out = reinterpret_cast<BlockQ4_0*>(rows);
  for (int64_t i = 0; i < nb; ++i) {
    for (int p = 0; p < 4; ++p) {
      const uint8_t* q = g[i].qs[p];
      BlockQ4_0& lo = out[(2 * p) * nb + i];
      BlockQ4_0& hi = out[(2 * p + 1) * nb + i];
      lo.d = g[i].d[2 * p];
      hi.d = g[i].d[2 * p + 1];
      // 8 bytes at a time: lo.qs[j] = (q[j] & 0x0F) | (q[j + 16] << 4), hi.qs[j] = (q[j] >> 4) | (q[j + 16] & 0xF0).
      for (int j = 0; j < 16; j += 8) {
        uint64_t a, b;
        std::memcpy(&a, q + j, 8);
        std::memcpy(&b, q + j + 16, 8);
        constexpr uint64_t kLow = 0x0F0F0F0F0F0F0F0Full;
        const uint64_t l = (a & kLow) | ((b & kLow) << 4), h = ((a >> 4) & kLow) | (b & ~kLow);
        std::memcpy(lo.qs + j, &l, 8);
        std::memcpy(hi.qs + j, &h, 8);
      }
    }
  }
}

void dequantize_q4_0x8_row(const BlockQ4_0x8* g, int64_t k, int r, float* y) {
  for (int64_t i = 0; i < k / 32; ++i) {
    const float d = fp16_to_fp32(g[i].d[r]);
    for (int j = 0; j < 32; ++j) y[32 * i + j] = static_cast<float>(nibble(g[i], r, j) - 8) * d;
  }
}

GemvQ4_0x8Fn gemv_q4_0x8_best() { return cpu_has_avx2() ? gemv_q4_0x8_avx2() : nullptr; }

}  // namespace mlxr
