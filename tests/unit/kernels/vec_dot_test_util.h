// Random rows for kernel tests: quantised weight rows with every bit pattern in the quants and
// sane block scales, and activation rows that are never zero.
#pragma once
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/base/fp16.h"
#include "core/tensor/dtype.h"

namespace mlxr::testing {

// Byte offsets of the fp16 scale fields inside one block of each quantised type.
inline std::vector<int> fp16_fields(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: case DType::IQ4_NL: return {0};
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: case DType::Q8_1:
      return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q6_K: return {208};
    default: return {};
  }
}

// n values of type t (n a multiple of the block size): random quant bytes, random positive
// scales in [0.5, 2) * scale; F32/F16/BF16 get normal values * scale.
inline std::vector<uint8_t> random_row(DType t, int64_t n, std::mt19937& rng, float scale = 0.01f) {
  const auto& info = dtype_info(t);
  std::vector<uint8_t> out(n / info.block_elems * info.block_bytes);
  std::uniform_real_distribution<float> ud(0.5f, 2.0f);
  std::normal_distribution<float> nd(0.f, 1.f);
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = nd(rng) * scale;
      if (t == DType::F32) std::memcpy(out.data() + 4 * i, &v, 4);
      const uint16_t h = t == DType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
      if (t != DType::F32) std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
  }
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  for (size_t blk = 0; blk < out.size(); blk += info.block_bytes) {
    if (t == DType::Q8_K) {
      const float d = ud(rng) * scale;
      std::memcpy(out.data() + blk, &d, 4);
      continue;
    }
    for (int off : fp16_fields(t)) {
      const uint16_t h = fp32_to_fp16(ud(rng) * scale);
      std::memcpy(out.data() + blk + off, &h, 2);
    }
  }
  return out;
}

// Activations: normal values, none zero, with a few outliers.
inline std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float v = nd(rng);
    if (v == 0) v = 0.25f;
    if (i % 97 == 5) v *= 20;
    x[i] = v;
  }
  return x;
}

}  // namespace mlxr::testing
