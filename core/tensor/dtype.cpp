#include "core/tensor/dtype.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace mlxr {
namespace {

constexpr std::array<DTypeInfo, 21> kTypes = {{
    {DType::F32, "F32", 1, 4, false},
    {DType::F16, "F16", 1, 2, false},
    {DType::Q4_0, "Q4_0", 32, 18, true},
    {DType::Q4_1, "Q4_1", 32, 20, true},
    {DType::Q5_0, "Q5_0", 32, 22, true},
    {DType::Q5_1, "Q5_1", 32, 24, true},
    {DType::Q8_0, "Q8_0", 32, 34, true},
    {DType::Q8_1, "Q8_1", 32, 36, true},
    {DType::Q2_K, "Q2_K", 256, 84, true},
    {DType::Q3_K, "Q3_K", 256, 110, true},
    {DType::Q4_K, "Q4_K", 256, 144, true},
    {DType::Q5_K, "Q5_K", 256, 176, true},
    {DType::Q6_K, "Q6_K", 256, 210, true},
    {DType::Q8_K, "Q8_K", 256, 292, true},
    {DType::IQ4_NL, "IQ4_NL", 32, 18, true},
    {DType::I8, "I8", 1, 1, false},
    {DType::I16, "I16", 1, 2, false},
    {DType::I32, "I32", 1, 4, false},
    {DType::I64, "I64", 1, 8, false},
    {DType::F64, "F64", 1, 8, false},
    {DType::BF16, "BF16", 1, 2, false},
}};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t code) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == code) return t;
  return std::nullopt;
}

const DTypeInfo& dtype_info(DType t) {
  for (const auto& i : kTypes)
    if (i.type == t) return i;
  return kTypes[0];  // unreachable for valid enum values
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string up(name);
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const auto& t : kTypes)
    if (up == t.name) return t.type;
  return std::nullopt;
}

std::optional<size_t> row_bytes(DType t, uint64_t n) {
  const auto& i = dtype_info(t);
  if (n % i.block_elems != 0) return std::nullopt;
  return static_cast<size_t>(n / i.block_elems * i.block_bytes);
}

}  // namespace mlxr
