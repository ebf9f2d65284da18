// A small JSON value with a strict parser (RFC 8259) and a writer. Objects keep key order,
// because chat templates print tool schemas in the order they were given. The one JSON reader of
// core/: tokenizer.json and chat templates, safetensors headers, config.json, shard indexes.
// Nesting is limited so hostile input cannot exhaust the stack; errors name the byte offset.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace mlxr {

// Deepest nesting of arrays/objects parse() accepts; real configs and tokenizers use < 10.
constexpr int kJsonMaxDepth = 64;

class Json {
 public:
  enum Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : type_(kBool), b_(b) {}
  Json(int v) : type_(kInt), i_(v) {}
  Json(int64_t v) : type_(kInt), i_(v) {}
  Json(double v) : type_(kDouble), d_(v) {}
  Json(std::string s) : type_(kString), s_(std::move(s)) {}
  Json(const char* s) : type_(kString), s_(s) {}
  Json(Array a) : type_(kArray), a_(std::make_shared<Array>(std::move(a))) {}
  Json(Object o) : type_(kObject), o_(std::make_shared<Object>(std::move(o))) {}

  Type type() const { return type_; }
  bool is_null() const { return type_ == kNull; }
  bool is_bool() const { return type_ == kBool; }
  bool is_number() const { return type_ == kInt || type_ == kDouble; }
  bool is_int() const { return type_ == kInt; }
  bool is_string() const { return type_ == kString; }
  bool is_array() const { return type_ == kArray; }
  bool is_object() const { return type_ == kObject; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return type_ == kDouble ? static_cast<int64_t>(d_) : i_; }
  // The value if it is an integer: written as one, or a double that is exactly one (2.0, 1e3).
  // nullopt for fractions, non-numbers and values outside int64.
  std::optional<int64_t> exact_int() const;
  double as_double() const { return type_ == kInt ? static_cast<double>(i_) : d_; }
  const std::string& as_string() const { return s_; }
  const Array& as_array() const { return a_ ? *a_ : empty_array(); }
  const Object& as_object() const { return o_ ? *o_ : empty_object(); }
  Array& mutable_array();
  Object& mutable_object();

  // Object member or nullptr (also nullptr when this is not an object).
  const Json* find(std::string_view key) const;
  // Like find(), but a member that is null counts as absent.
  const Json* find_non_null(std::string_view key) const;
  // Convenience accessors with defaults, for reading config files.
  std::string get_string(std::string_view key, const std::string& def = "") const;
  int64_t get_int(std::string_view key, int64_t def) const;
  bool get_bool(std::string_view key, bool def) const;

  // Compact JSON (no spaces), strings escaped as JSON requires (non-ASCII kept as UTF-8).
  std::string dump() const;

  // Parses a whole document (surrounding whitespace allowed). Besides RFC 8259, NaN, Infinity and
  // -Infinity are accepted, as Python's json.dumps writes them. Errors read
  // "<context>: invalid JSON: <what> at byte N (line L, column C)"; `context` names the document,
  // e.g. "config: /m/config.json".
  static Expected<Json> parse(std::string_view text, std::string_view context = "json");

 private:
  static const Array& empty_array();
  static const Object& empty_object();
  Type type_ = kNull;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<Array> a_;  // shared: copies are cheap; mutation goes through mutable_*
  std::shared_ptr<Object> o_;
};

// Appends `s` as a JSON string literal. ensure_ascii escapes non-ASCII as \uXXXX (Python's
// json.dumps default); otherwise UTF-8 is copied through.
void json_escape(std::string& out, std::string_view s, bool ensure_ascii = false);

}  // namespace mlxr
