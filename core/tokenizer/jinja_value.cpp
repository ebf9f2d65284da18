#include "core/tokenizer/jinja_value.h"

#include <charconv>
#include <cmath>

namespace mlxr::jinja {

Value Value::from_json(const Json& j) {
  switch (j.type()) {
    case Json::kNull: return none();
    case Json::kBool: return boolean(j.as_bool());
    case Json::kInt: return integer(j.as_int());
    case Json::kDouble: return number(j.as_double());
    case Json::kString: return string(j.as_string());
    case Json::kArray: {
      List l;
      for (auto& e : j.as_array()) l.push_back(from_json(e));
      return make_list(std::move(l));
    }
    case Json::kObject: {
      Dict d;
      for (auto& [k, v] : j.as_object()) d.emplace_back(k, from_json(v));
      return make_dict(std::move(d));
    }
  }
  return Value();
}

bool Value::truthy() const {
  switch (kind) {
    case kUndefined: case kNone: return false;
    case kBool: return b;
    case kInt: return i != 0;
    case kFloat: return f != 0;
    case kString: return !s.empty();
    case kList: return !list->empty();
    case kDict: return !dict->empty() || is_namespace;
    case kFunction: return true;
  }
  return false;
}

Value Value::get(const std::string& key) const {
  if (kind != kDict) return Value();
  for (auto& [k, v] : *dict)
    if (k == key) return v;
  return Value();
}

void Value::set(const std::string& key, Value v) {
  for (auto& [k, x] : *dict)
    if (k == key) {
      x = std::move(v);
      return;
    }
  dict->emplace_back(key, std::move(v));
}

namespace {
std::string number_text(double d, bool json) {
  if (std::isnan(d)) return json ? "NaN" : "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == std::floor(d) && std::fabs(d) < 1e21) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(d));
    std::string s(buf, r.ptr);
    if (d == 0 && std::signbit(d)) s = "-0";
    return json ? s : s + ".0";  // JSON.stringify(2.0) is "2"; printing gives "2.0"
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string Value::str() const {
  switch (kind) {
    case kUndefined: case kNone: return "";
    case kBool: return b ? "true" : "false";
    case kInt: return std::to_string(i);
    case kFloat: return number_text(f, false);
    case kString: return s;
    case kList: case kDict: return to_json();
    case kFunction: return "[function]";
  }
  return "";
}

std::string Value::to_json(int indent, int depth) const {
  std::string out;
  switch (kind) {
    case kUndefined: case kNone: return "null";
    case kBool: return b ? "true" : "false";
    case kInt: return std::to_string(i);
    case kFloat: return number_text(f, true);
    case kString: json_escape(out, s); return out;
    case kFunction: return "null";
    case kList: case kDict: {
      // Python's json.dumps separators, as @huggingface/jinja writes them: ", " and ": "
      // without indent; "," and ": " with it.
      bool is_list = kind == kList;
      size_t n = is_list ? list->size() : dict->size();
      out += is_list ? '[' : '{';
      if (n == 0) {
        out += is_list ? ']' : '}';
        return out;
      }
      std::string pad = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
      for (size_t k = 0; k < n; ++k) {
        if (k) out += indent > 0 ? "," : ", ";
        out += pad;
        if (is_list) {
          out += (*list)[k].to_json(indent, depth + 1);
        } else {
          json_escape(out, (*dict)[k].first);
          out += ": ";
          out += (*dict)[k].second.to_json(indent, depth + 1);
        }
      }
      if (indent > 0) out += "\n" + std::string(static_cast<size_t>(indent) * depth, ' ');
      out += is_list ? ']' : '}';
      return out;
    }
  }
  return out;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  if ((a.kind == Value::kBool || b.kind == Value::kBool) && (a.is_number() || b.is_number()))
    return a.as_double() == b.as_double();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::kUndefined: case Value::kNone: return true;
    case Value::kBool: return a.b == b.b;
    case Value::kString: return a.s == b.s;
    case Value::kList: {
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equals((*a.list)[k], (*b.list)[k])) return false;
      return true;
    }
    case Value::kDict: {
      if (a.dict->size() != b.dict->size()) return false;
      for (auto& [k, v] : *a.dict)
        if (!equals(v, b.get(k))) return false;
      return true;
    }
    default: return false;
  }
}

}  // namespace mlxr::jinja
