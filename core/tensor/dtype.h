// Element types, numbered as ggml numbers them (so GGUF type codes map 1:1).
// Quantized types are stored in blocks: block_elems() values packed into block_bytes().
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mlxr {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct DTypeInfo {
  DType type;
  const char* name;
  uint32_t block_elems;
  uint32_t block_bytes;
  bool quantized;
};

// nullopt for codes that are unknown, retired or not allowed in files.
std::optional<DTypeInfo> dtype_info(uint32_t code);
const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive: "q4_k", "F16"

// Bytes for one row of n elements; nullopt if n is not a multiple of the block size.
std::optional<size_t> row_bytes(DType t, uint64_t n);

}  // namespace mlxr
