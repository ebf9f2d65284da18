// A small JSON reader for config.json, safetensors headers and index files (core/ may use only
// the standard library). Nesting is limited so hostile input cannot exhaust the stack; errors
// name the byte offset.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace mlxr {

struct JsonValue {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool b = false;
  double num = 0;
  bool is_int = false;  // a number written without fraction/exponent that fits int64
  int64_t i = 0;
  std::string str;
  std::vector<JsonValue> arr;
  std::vector<std::pair<std::string, JsonValue>> obj;  // in file order

  bool is_null() const { return kind == kNull; }
  bool is_object() const { return kind == kObject; }
  bool is_array() const { return kind == kArray; }
  bool is_string() const { return kind == kString; }
  bool is_number() const { return kind == kNumber; }
  bool is_bool() const { return kind == kBool; }
  // Member lookup (objects only; nullptr when absent or not an object).
  const JsonValue* get(std::string_view key) const;
  // The member if present and not null.
  const JsonValue* get_non_null(std::string_view key) const;
  std::optional<int64_t> as_int() const;  // integer numbers only
  std::optional<double> as_double() const;
};

constexpr int kJsonMaxDepth = 64;

// Parses a whole document (trailing whitespace allowed). `what` prefixes error messages,
// e.g. "config.json".
Expected<JsonValue> parse_json(std::string_view text, const std::string& what);

}  // namespace mlxr
