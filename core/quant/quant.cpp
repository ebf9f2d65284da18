#include "core/quant/quant.h"

#include <cstring>
#include <string>

#include "core/base/fp16.h"
#include "core/quant/quant_impl.h"

namespace mlxr {

bool can_quantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q8_0: case DType::Q8_1: case DType::Q2_K: case DType::Q3_K:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::Q8_K:
      return true;
    default:
      return false;
  }
}

Status check_row(DType t, int64_t n, bool quantize) {
  const char* what = quantize ? "quantize" : "dequantize";
  if (quantize ? !can_quantize(t) : !can_dequantize(t))
    return Status::error(std::string("quant: cannot ") + what + " type " + dtype_name(t));
  const int64_t be = dtype_info(t).block_elems;
  if (n < 0 || n % be != 0)
    return Status::error(std::string("quant: ") + what + " " + dtype_name(t) + ": row of " +
                         std::to_string(n) + " values is not a multiple of the block size " +
                         std::to_string(be));
  return Status::ok();
}

Status quantize_row(DType t, const float* src, void* dst, int64_t n) {
  MLXR_RETURN_IF_ERROR(check_row(t, n, true));
  using namespace quant_detail;
  const int64_t nb = n / dtype_info(t).block_elems;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); break;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
      break;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
      break;
    }
    case DType::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); break;
    case DType::Q4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), nb); break;
    case DType::Q5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), nb); break;
    case DType::Q5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), nb); break;
    case DType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); break;
    case DType::Q8_1: quantize_q8_1(src, static_cast<BlockQ8_1*>(dst), nb); break;
    case DType::Q2_K: quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), nb); break;
    case DType::Q3_K: quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), nb); break;
    case DType::Q4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), nb); break;
    case DType::Q5_K: quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), nb); break;
    case DType::Q6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), nb); break;
    case DType::Q8_K: quantize_q8_k(src, static_cast<BlockQ8_K*>(dst), nb); break;
    default: break;  // excluded by check_row
  }
  return Status::ok();
}

DType vec_dot_type(DType weight) {
  switch (weight) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: case DType::IQ4_NL:
      return DType::Q8_0;
    case DType::Q4_1: case DType::Q5_1:
      return DType::Q8_1;
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return DType::Q8_K;
    case DType::F16: return DType::F16;
    case DType::BF16: return DType::BF16;
    default: return DType::F32;
  }
}

}  // namespace mlxr
