#include "core/base/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mlxr {

const Json::Array& Json::empty_array() {
  static const Array a;
  return a;
}
const Json::Object& Json::empty_object() {
  static const Object o;
  return o;
}

Json::Array& Json::mutable_array() {
  if (!a_) a_ = std::make_shared<Array>();
  else if (a_.use_count() > 1) a_ = std::make_shared<Array>(*a_);
  return *a_;
}

Json::Object& Json::mutable_object() {
  if (!o_) o_ = std::make_shared<Object>();
  else if (o_.use_count() > 1) o_ = std::make_shared<Object>(*o_);
  return *o_;
}

const Json* Json::find(std::string_view key) const {
  if (type_ != kObject || !o_) return nullptr;
  for (auto& kv : *o_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const Json* Json::find_non_null(std::string_view key) const {
  const Json* v = find(key);
  return v && !v->is_null() ? v : nullptr;
}

std::optional<int64_t> Json::exact_int() const {
  if (type_ == kInt) return i_;
  if (type_ != kDouble) return std::nullopt;
  // The bounds keep the cast defined; the round trip rejects fractions (and NaN).
  if (d_ >= -9.0e18 && d_ <= 9.0e18 && static_cast<double>(static_cast<int64_t>(d_)) == d_)
    return static_cast<int64_t>(d_);
  return std::nullopt;
}

std::string Json::get_string(std::string_view key, const std::string& def) const {
  const Json* v = find(key);
  return v && v->is_string() ? v->as_string() : def;
}
int64_t Json::get_int(std::string_view key, int64_t def) const {
  const Json* v = find(key);
  return v && v->is_number() ? v->as_int() : def;
}
bool Json::get_bool(std::string_view key, bool def) const {
  const Json* v = find(key);
  return v && v->is_bool() ? v->as_bool() : def;
}

void json_escape(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (c >= 0x80 && ensure_ascii) {
          // Decode one UTF-8 sequence (invalid bytes pass through as U+FFFD).
          uint32_t cp = 0xFFFD;
          int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
          if (len > 1 && i + len <= s.size()) {
            cp = c & (0x7F >> len);
            for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
            i += len - 1;
          }
          char buf[16];
          if (cp >= 0x10000) {
            cp -= 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

namespace {

void dump_into(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::kNull: out += "null"; break;
    case Json::kBool: out += v.as_bool() ? "true" : "false"; break;
    case Json::kInt: out += std::to_string(v.as_int()); break;
    case Json::kDouble: {
      double d = v.as_double();
      if (!std::isfinite(d)) { out += "null"; break; }
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      break;
    }
    case Json::kString: json_escape(out, v.as_string()); break;
    case Json::kArray: {
      out += '[';
      bool first = true;
      for (auto& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        dump_into(e, out);
      }
      out += ']';
      break;
    }
    case Json::kObject: {
      out += '{';
      bool first = true;
      for (auto& kv : v.as_object()) {
        if (!first) out += ',';
        first = false;
        json_escape(out, kv.first);
        out += ':';
        dump_into(kv.second, out);
      }
      out += '}';
      break;
    }
  }
}

class Parser {
 public:
  Parser(std::string_view t, std::string_view context) : t_(t), context_(context) {}

  Expected<Json> run() {
    Json v;
    if (!value(v, 0)) return make_error(err_);
    ws();
    if (p_ != t_.size()) return fail("unexpected trailing characters");
    return v;
  }

 private:
  Error fail(const std::string& what) {
    // Byte offset for binary containers (safetensors headers); line and column so a user can
    // find the problem in a large text file.
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p_ && i < t_.size(); ++i) {
      if (t_[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    err_ = std::string(context_) + ": invalid JSON: " + what + " at byte " + std::to_string(p_) + " (line " +
           std::to_string(line) + ", column " + std::to_string(col) + ")";
    return Error{err_};
  }
  bool failb(const std::string& what) {
    fail(what);
    return false;
  }
  void ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t')) ++p_;
  }
  bool consume(std::string_view lit) {
    if (t_.substr(p_, lit.size()) != lit) return false;
    p_ += lit.size();
    return true;
  }
  bool hex4(uint32_t& v) {
    if (t_.size() - p_ < 4) return failb("truncated \\u escape");
    v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = t_[p_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return failb("bad hex digit in \\u escape");
    }
    return true;
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { out += static_cast<char>(0xE0 | (cp >> 12)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
    else { out += static_cast<char>(0xF0 | (cp >> 18)); out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
  }
  bool string(std::string& out) {
    ++p_;  // opening quote
    while (true) {
      size_t start = p_;
      while (p_ < t_.size() && t_[p_] != '"' && t_[p_] != '\\' && static_cast<unsigned char>(t_[p_]) >= 0x20) ++p_;
      out.append(t_.data() + start, p_ - start);
      if (p_ >= t_.size()) return failb("unterminated string");
      char c = t_[p_];
      if (c == '"') { ++p_; return true; }
      if (c != '\\') return failb("control character in string");
      if (++p_ >= t_.size()) return failb("unterminated escape");
      char e = t_[p_++];
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
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            // A high surrogate must be followed by \uDC00..\uDFFF: strings stay valid UTF-8.
            if (!consume("\\u")) return failb("unpaired surrogate");
            uint32_t lo;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return failb("invalid low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return failb("unpaired low surrogate");
          }
          put_utf8(out, cp);
          break;
        }
        default: return failb(std::string("invalid escape '\\") + e + "'");
      }
    }
  }
  size_t digits() {
    size_t d = p_;
    while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
    return p_ - d;
  }
  bool number(Json& out) {
    size_t start = p_;
    bool integral = true;
    if (t_[p_] == '-') ++p_;
    if (digits() == 0) return failb("bad number");
    if (p_ < t_.size() && t_[p_] == '.') {
      integral = false;
      ++p_;
      if (digits() == 0) return failb("bad number fraction");
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      integral = false;
      ++p_;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (digits() == 0) return failb("bad number exponent");
    }
    const char* b = t_.data() + start;
    const char* e = t_.data() + p_;
    if (integral) {
      // Integers stay exact (token ids, tensor offsets past 2^53); only those beyond int64 become doubles.
      int64_t v;
      auto r = std::from_chars(b, e, v);
      if (r.ec == std::errc() && r.ptr == e) { out = Json(v); return true; }
    }
    double d;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) {
      p_ = start;
      return failb("number out of range");
    }
    if (r.ec != std::errc() || r.ptr != e) {
      p_ = start;
      return failb("bad number");
    }
    out = Json(d);
    return true;
  }
  bool value(Json& out, int depth) {
    if (depth > kJsonMaxDepth) return failb("nesting deeper than " + std::to_string(kJsonMaxDepth));
    ws();
    if (p_ >= t_.size()) return failb("unexpected end of input");
    char c = t_[p_];
    if (consume("null")) { out = Json(); return true; }
    if (consume("true")) { out = Json(true); return true; }
    if (consume("false")) { out = Json(false); return true; }
    // Python's json.dumps writes these for non-finite floats.
    if (consume("NaN")) { out = Json(std::numeric_limits<double>::quiet_NaN()); return true; }
    if (consume("Infinity")) { out = Json(std::numeric_limits<double>::infinity()); return true; }
    if (consume("-Infinity")) { out = Json(-std::numeric_limits<double>::infinity()); return true; }
    switch (c) {
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = Json(std::move(s));
        return true;
      }
      case '[': {
        ++p_;
        Json::Array arr;
        ws();
        if (p_ < t_.size() && t_[p_] == ']') { ++p_; out = Json(std::move(arr)); return true; }
        while (true) {
          Json e;
          if (!value(e, depth + 1)) return false;
          arr.push_back(std::move(e));
          ws();
          if (p_ >= t_.size()) return failb("unterminated array");
          if (t_[p_] == ',') { ++p_; continue; }
          if (t_[p_] == ']') { ++p_; break; }
          return failb("expected ',' or ']'");
        }
        out = Json(std::move(arr));
        return true;
      }
      case '{': {
        ++p_;
        Json::Object obj;
        ws();
        if (p_ < t_.size() && t_[p_] == '}') { ++p_; out = Json(std::move(obj)); return true; }
        while (true) {
          ws();
          if (p_ >= t_.size() || t_[p_] != '"') return failb("expected a string key");
          std::string key;
          if (!string(key)) return false;
          ws();
          if (p_ >= t_.size() || t_[p_] != ':') return failb("expected ':'");
          ++p_;
          Json v;
          if (!value(v, depth + 1)) return false;
          obj.emplace_back(std::move(key), std::move(v));
          ws();
          if (p_ >= t_.size()) return failb("unterminated object");
          if (t_[p_] == ',') { ++p_; continue; }
          if (t_[p_] == '}') { ++p_; break; }
          return failb("expected ',' or '}'");
        }
        out = Json(std::move(obj));
        return true;
      }
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number(out);
        return failb(std::string("unexpected character '") + c + "'");
    }
  }

  std::string_view t_;
  std::string_view context_;
  size_t p_ = 0;
  std::string err_;
};

}  // namespace

std::string Json::dump() const {
  std::string out;
  dump_into(*this, out);
  return out;
}

Expected<Json> Json::parse(std::string_view text, std::string_view context) { return Parser(text, context).run(); }

}  // namespace mlxr
