#include "tools/synth/types.h"

#include "core/quant/quant.h"

namespace mlxr::tools {

bool writable_type(DType t) {
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) return true;
  // Q8_1 and Q8_K are activation formats: llama.cpp does not load them as weights.
  if (t == DType::Q8_1 || t == DType::Q8_K) return false;
  return dtype_info(t).quantized && can_quantize(t);
}

std::string writable_type_names() {
  std::string s;
  for (uint32_t code = 0; code < 64; ++code) {
    auto info = dtype_info(code);
    if (info && writable_type(info->type)) s += (s.empty() ? "" : ", ") + std::string(info->name);
  }
  return s;
}

DType fallback_type(DType want, int64_t ne0) {
  auto fits = [&](DType t) { return ne0 % dtype_info(t).block_elems == 0; };
  if (fits(want)) return want;
  DType alt = DType::F16;
  switch (want) {
    case DType::Q4_K: alt = DType::Q5_0; break;
    case DType::Q5_K: alt = DType::Q5_1; break;
    case DType::Q6_K: alt = DType::Q8_0; break;
    case DType::Q2_K:
    case DType::Q3_K: alt = DType::IQ4_NL; break;
    default: return DType::F16;
  }
  if (!writable_type(alt)) alt = alt == DType::IQ4_NL ? DType::Q4_0 : DType::Q8_0;
  if (!writable_type(alt) || !fits(alt)) return DType::F16;
  return alt;
}

uint32_t llama_ftype(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 12;  // Q3_K_M
    case DType::Q4_K: return 14;  // Q4_K_S: every weight Q4_K
    case DType::Q5_K: return 16;  // Q5_K_S
    case DType::Q6_K: return 18;
    case DType::IQ4_NL: return 25;
    case DType::BF16: return 32;
    default: return 0;
  }
}

}  // namespace mlxr::tools
