// Scalar reference dot products (the oracle of the AVX2 kernels) and runtime dispatch.
#include "core/kernels/cpu/vec_dot.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/fp16.h"
#include "core/quant/blocks.h"
#include "core/quant/quant.h"

namespace mlxr {
namespace {

float dot_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i] * y[i]);
  return static_cast<float>(s);
}

float dot_f16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
  return static_cast<float>(s);
}

float dot_bf16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]));
  return static_cast<float>(s);
}

uint32_t qh32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j)
      sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    s += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
  }
  return s;
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j)
      sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
    s += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d)) +
         fp16_to_fp32(x[i].m) * fp16_to_fp32(y[i].s);
  }
  return s;
}

float dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    const uint32_t qh = qh32(x[i].qh);
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = ((x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
      const int hi = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      sumi += lo * y[i].qs[j] + hi * y[i].qs[j + 16];
    }
    s += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
  }
  return s;
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    const uint32_t qh = qh32(x[i].qh);
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      sumi += lo * y[i].qs[j] + hi * y[i].qs[j + 16];
    }
    s += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d)) +
         fp16_to_fp32(x[i].m) * fp16_to_fp32(y[i].s);
  }
  return s;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
  }
  return s;
}

float dot_iq4_nl(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j)
      sumi += kIQ4NLValues[x[i].qs[j] & 0xF] * y[i].qs[j] +
              kIQ4NLValues[x[i].qs[j] >> 4] * y[i].qs[j + 16];
    s += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
  }
  return s;
}

// K-quants: integer sums per sub-block times the sub-block scale, then one float scale per
// super-block; the min term uses Q8_K's precomputed sums of 16.
float dot_q2_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int summs = 0, isum = 0;
    for (int j = 0; j < 16; ++j) summs += (x[i].scales[j] >> 4) * y[i].bsums[j];
    const int8_t* q8 = y[i].qs;
    int is = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q2 = x[i].qs + 32 * half;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, q8 += 16) {
          int sub = 0;
          for (int l = 0; l < 16; ++l) sub += ((q2[l + 16 * part] >> shift) & 3) * q8[l];
          isum += (x[i].scales[is++] & 0xF) * sub;
        }
      }
    }
    const float dall = y[i].d * fp16_to_fp32(x[i].d);
    const float dmin = y[i].d * fp16_to_fp32(x[i].dmin);
    s += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return s;
}

float dot_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int8_t sc[16];
    q3k_scales(x[i].scales, sc);
    const int8_t* q8 = y[i].qs;
    int isum = 0, is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q3 = x[i].qs + 32 * half;
      for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (int part = 0; part < 2; ++part, q8 += 16) {
          int sub = 0;
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * part;
            sub += (((q3[k] >> shift) & 3) - ((x[i].hmask[k] & m) ? 0 : 4)) * q8[l];
          }
          isum += sc[is++] * sub;
        }
      }
    }
    s += fp16_to_fp32(x[i].d) * y[i].d * static_cast<float>(isum);
  }
  return s;
}

template <bool kFive, typename Block>
float dot_q45_k(int64_t n, const Block* x, const BlockQ8_K* y) {
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int isum = 0, summs = 0;
    const int8_t* q8 = y[i].qs;
    for (int j = 0; j < 8; ++j, q8 += 32) {
      uint8_t sc, m;
      k4_scale_min(j, x[i].scales, &sc, &m);
      summs += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
      const uint8_t* q = x[i].qs + 32 * (j / 2);
      const int shift = (j & 1) * 4;
      int sub = 0;
      for (int l = 0; l < 32; ++l) {
        int v = (q[l] >> shift) & 0xF;
        if constexpr (kFive) v |= ((x[i].qh[l] >> j) & 1) << 4;
        sub += v * q8[l];
      }
      isum += sc * sub;
    }
    const float d = y[i].d * fp16_to_fp32(x[i].d);
    const float dmin = y[i].d * fp16_to_fp32(x[i].dmin);
    s += d * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return s;
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
  return dot_q45_k<false>(n, static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a));
}
float dot_q5_k(int64_t n, const void* w, const void* a) {
  return dot_q45_k<true>(n, static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int isum = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[i].ql + 64 * half;
      const uint8_t* qh = x[i].qh + 32 * half;
      const int8_t* sc = x[i].scales + 8 * half;
      const int8_t* q8 = y[i].qs + 128 * half;
      int sub[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        sub[is] += q1 * q8[l];
        sub[is + 2] += q2 * q8[l + 32];
        sub[is + 4] += q3 * q8[l + 64];
        sub[is + 6] += q4 * q8[l + 96];
      }
      for (int k = 0; k < 8; ++k) isum += sc[k] * sub[k];
    }
    s += fp16_to_fp32(x[i].d) * y[i].d * static_cast<float>(isum);
  }
  return s;
}

void to_f32(const float* x, void* y, int64_t n) { std::memcpy(y, x, static_cast<size_t>(n) * 4); }
void to_f16(const float* x, void* y, int64_t n) { (void)quantize_row(DType::F16, x, y, n); }
void to_bf16(const float* x, void* y, int64_t n) { (void)quantize_row(DType::BF16, x, y, n); }
// Q8_0/Q8_1 activations as llama.cpp's CPU backend makes them on x86 (its AVX2
// quantize_row_q8_0/_q8_1, not the _ref file quantisers): id = 127/amax and round half to even.
// Copying this rounding keeps greedy outputs of quantised models equal to llama.cpp's.
template <bool kSum, typename Block>
void to_q8_cpu(const float* x, Block* y, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));  // default mode: half to even
      sum += y[i].qs[j];
    }
    if constexpr (kSum) y[i].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}
void to_q8_0(const float* x, void* y, int64_t n) { to_q8_cpu<false>(x, static_cast<BlockQ8_0*>(y), n); }
void to_q8_1(const float* x, void* y, int64_t n) { to_q8_cpu<true>(x, static_cast<BlockQ8_1*>(y), n); }
void to_q8_k(const float* x, void* y, int64_t n) { (void)quantize_row(DType::Q8_K, x, y, n); }

}  // namespace

bool cpu_has_avx2() {
  static const bool ok = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return false;
#endif
  }();
  return ok;
}

VecDotFn vec_dot_scalar(DType weight) {
  switch (weight) {
    case DType::F32: return dot_f32;
    case DType::F16: return dot_f16;
    case DType::BF16: return dot_bf16;
    case DType::Q4_0: return dot_q4_0;
    case DType::Q4_1: return dot_q4_1;
    case DType::Q5_0: return dot_q5_0;
    case DType::Q5_1: return dot_q5_1;
    case DType::Q8_0: return dot_q8_0;
    case DType::IQ4_NL: return dot_iq4_nl;
    case DType::Q2_K: return dot_q2_k;
    case DType::Q3_K: return dot_q3_k;
    case DType::Q4_K: return dot_q4_k;
    case DType::Q5_K: return dot_q5_k;
    case DType::Q6_K: return dot_q6_k;
    default: return nullptr;
  }
}

VecDotFn vec_dot_best(DType weight) {
  if (cpu_has_avx2())
    if (VecDotFn f = vec_dot_avx2(weight)) return f;
  return vec_dot_scalar(weight);
}

static_assert(sizeof(BlockQ8_0) == 34);

size_t tile_act_extra_offset(DType act, int64_t n) {
  if (act == DType::Q8_0) return q8_0_extra_offset(n);
  return (*row_bytes(act, static_cast<uint64_t>(n)) + 3) & ~size_t{3};  // the fp32 extras start 4-aligned
}

size_t tile_act_row_bytes(DType act, int64_t n) {
  if (act != DType::Q8_0) return tile_act_extra_offset(act, n);
  return q8_0_m8_offset(n) + static_cast<size_t>(n / 32) * 32;
}

void tile_act_finish(DType act, uint8_t* row, int64_t n) {
  if (act != DType::Q8_0) return;
  float* extra = reinterpret_cast<float*>(row + tile_act_extra_offset(act, n));
  auto* m8 = reinterpret_cast<int16_t*>(row + q8_0_m8_offset(n));
  const auto* b = reinterpret_cast<const BlockQ8_0*>(row);
  for (int64_t i = 0; i < n / 32; ++i) {
    extra[i] = fp16_to_fp32(b[i].d);
    for (int k = 0; k < 16; ++k) m8[16 * i + k] = static_cast<int16_t>(8 * (b[i].qs[2 * k] + b[i].qs[2 * k + 1]));
  }
}

size_t tile_act_group_bytes(DType weight, int64_t n, int rn) {
  const auto r = static_cast<size_t>(rn);
  if (weight == DType::Q4_0 || weight == DType::Q8_0) return static_cast<size_t>(n / 32) * r * (32 + 4);
  if (weight == DType::Q4_K) return static_cast<size_t>(n / 256) * r * (256 + 4 + 16);
  return 0;
}

void tile_act_group(DType weight, int64_t n, const uint8_t* rows, size_t stride, int rn, uint8_t* dst) {
  const auto r_n = static_cast<size_t>(rn);
  if (weight == DType::Q4_0 || weight == DType::Q8_0) {
    const size_t extra = q8_0_extra_offset(n);
    const uint8_t bias = weight == DType::Q4_0 ? 0x80 : 0;  // int8 q -> uint8 q + 128
    for (int64_t i = 0; i < n / 32; ++i, dst += r_n * 36) {
      for (size_t r = 0; r < r_n; ++r) {
        const uint8_t* row = rows + r * stride;
        const auto* q = reinterpret_cast<const uint8_t*>(reinterpret_cast<const BlockQ8_0*>(row)[i].qs);
        for (int j = 0; j < 32; ++j) dst[32 * r + j] = q[j] ^ bias;
        std::memcpy(dst + 32 * r_n + 4 * r, row + extra + 4 * i, 4);
      }
    }
  } else if (weight == DType::Q4_K) {
    for (int64_t i = 0; i < n / 256; ++i, dst += r_n * 276) {
      for (size_t r = 0; r < r_n; ++r) {
        const BlockQ8_K& b = reinterpret_cast<const BlockQ8_K*>(rows + r * stride)[i];
        std::memcpy(dst + 256 * r, b.qs, 256);
        std::memcpy(dst + 256 * r_n + 4 * r, &b.d, 4);
        int16_t s32[8];
        for (int j = 0; j < 8; ++j) s32[j] = static_cast<int16_t>(b.bsums[2 * j] + b.bsums[2 * j + 1]);
        std::memcpy(dst + 260 * r_n + 16 * r, s32, 16);
      }
    }
  }
}

VecDotTile vec_dot_gemv_best(DType weight) {
  return cpu_has_avx2() ? vec_dot_gemv_avx2(weight) : VecDotTile{};
}

VecDotTile vec_dot_tile_best(DType weight) {
  return cpu_has_avx2() ? vec_dot_tile_avx2(weight) : VecDotTile{};
}

FromFloatFn from_float_scalar(DType act) {
  switch (act) {
    case DType::F32: return to_f32;
    case DType::F16: return to_f16;
    case DType::BF16: return to_bf16;
    case DType::Q8_0: return to_q8_0;
    case DType::Q8_1: return to_q8_1;
    case DType::Q8_K: return to_q8_k;
    default: return nullptr;
  }
}

FromFloatFn from_float_best(DType act) {
  if (cpu_has_avx2())
    if (FromFloatFn f = from_float_avx2(act)) return f;
  return from_float_scalar(act);
}

}  // namespace mlxr
