#include "core/formats/json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace mlxr {

const JsonValue* JsonValue::get(std::string_view key) const {
  if (kind != kObject) return nullptr;
  for (const auto& [k, v] : obj)
    if (k == key) return &v;
  return nullptr;
}

const JsonValue* JsonValue::get_non_null(std::string_view key) const {
  const JsonValue* v = get(key);
  return v && !v->is_null() ? v : nullptr;
}

std::optional<int64_t> JsonValue::as_int() const {
  if (kind != kNumber) return std::nullopt;
  if (is_int) return i;
  // 1e3 or 2.0 are integers too when exact.
  if (num >= -9.0e18 && num <= 9.0e18 && static_cast<double>(static_cast<int64_t>(num)) == num)
    return static_cast<int64_t>(num);
  return std::nullopt;
}

std::optional<double> JsonValue::as_double() const {
  if (kind != kNumber) return std::nullopt;
  return num;
}

namespace {

class Parser {
 public:
  Parser(std::string_view s, const std::string& what) : s_(s), what_(what) {}

  Expected<JsonValue> document() {
    JsonValue v;
    auto st = value(v, 0);
    if (!st) return st;
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected trailing characters");
    return v;
  }

 private:
  Error fail(const std::string& msg) const {
    return make_error(what_ + ": invalid JSON: " + msg + " at byte " + std::to_string(pos_));
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  bool consume(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  Status value(JsonValue& v, int depth) {
    if (depth > kJsonMaxDepth) return fail("nesting deeper than " + std::to_string(kJsonMaxDepth));
    skip_ws();
    if (pos_ >= s_.size()) return fail("unexpected end of input");
    char c = s_[pos_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.kind = JsonValue::kString;
      return string(v.str);
    }
    if (consume("null")) { v.kind = JsonValue::kNull; return Status::ok(); }
    if (consume("true")) { v.kind = JsonValue::kBool; v.b = true; return Status::ok(); }
    if (consume("false")) { v.kind = JsonValue::kBool; v.b = false; return Status::ok(); }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v);
    // Python's json.dumps writes these for non-finite floats.
    if (consume("NaN")) { v.kind = JsonValue::kNumber; v.num = std::nan(""); return Status::ok(); }
    if (consume("Infinity")) { v.kind = JsonValue::kNumber; v.num = HUGE_VAL; return Status::ok(); }
    return fail(std::string("unexpected character '") + c + "'");
  }

  Status object(JsonValue& v, int depth) {
    v.kind = JsonValue::kObject;
    ++pos_;  // '{'
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return Status::ok(); }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string key");
      std::string key;
      auto st = string(key);
      if (!st) return st;
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':'");
      ++pos_;
      JsonValue child;
      st = value(child, depth + 1);
      if (!st) return st;
      v.obj.emplace_back(std::move(key), std::move(child));
      skip_ws();
      if (pos_ >= s_.size()) return fail("unterminated object");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == '}') { ++pos_; return Status::ok(); }
      return fail("expected ',' or '}'");
    }
  }

  Status array(JsonValue& v, int depth) {
    v.kind = JsonValue::kArray;
    ++pos_;  // '['
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return Status::ok(); }
    while (true) {
      JsonValue child;
      auto st = value(child, depth + 1);
      if (!st) return st;
      v.arr.push_back(std::move(child));
      skip_ws();
      if (pos_ >= s_.size()) return fail("unterminated array");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == ']') { ++pos_; return Status::ok(); }
      return fail("expected ',' or ']'");
    }
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Expected<uint32_t> hex4() {
    if (s_.size() - pos_ < 4) return fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return fail("bad hex digit in \\u escape");
    }
    return v;
  }

  Status string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) return fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto cp = hex4();
          if (!cp) return cp.status();
          uint32_t code = *cp;
          if (code >= 0xD800 && code < 0xDC00) {
            // A high surrogate must be followed by \uDC00..\uDFFF.
            if (!consume("\\u")) return fail("unpaired surrogate");
            auto lo = hex4();
            if (!lo) return lo.status();
            if (*lo < 0xDC00 || *lo > 0xDFFF) return fail("invalid low surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (*lo - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return fail("unpaired low surrogate");
          }
          put_utf8(out, code);
          break;
        }
        default:
          return fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  Status number(JsonValue& v) {
    size_t start = pos_;
    bool integral = true;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (digits() == 0) return fail("bad number");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (digits() == 0) return fail("bad number fraction");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return fail("bad number exponent");
    }
    std::string text(s_.substr(start, pos_ - start));
    v.kind = JsonValue::kNumber;
    v.num = std::strtod(text.c_str(), nullptr);
    if (integral) {
      errno = 0;
      long long x = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == 0) {
        v.is_int = true;
        v.i = x;
      }
    }
    return Status::ok();
  }

  std::string_view s_;
  const std::string& what_;
  size_t pos_ = 0;
};

}  // namespace

Expected<JsonValue> parse_json(std::string_view text, const std::string& what) {
  return Parser(text, what).document();
}

}  // namespace mlxr
