// Values of the chat-template interpreter (a Jinja subset): Python-like semantics with the
// printing conventions of @huggingface/jinja (the engine transformers.js uses), which is the
// oracle of the tests. Lists and dicts are shared by reference, as in Python.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/base/json.h"

namespace mlxr::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion-ordered
struct Args;
using Function = std::function<Value(Args&)>;

struct Value {
  enum Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };
  Kind kind = kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<Function> fn;
  bool is_tuple = false;
  bool is_namespace = false;

  static Value none() { Value v; v.kind = kNone; return v; }
  static Value boolean(bool x) { Value v; v.kind = kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = kInt; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = kFloat; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = kString; v.s = std::move(x); return v; }
  static Value make_list(List l = {}) { Value v; v.kind = kList; v.list = std::make_shared<List>(std::move(l)); return v; }
  static Value make_dict(Dict d = {}) { Value v; v.kind = kDict; v.dict = std::make_shared<Dict>(std::move(d)); return v; }
  static Value function(Function f) { Value v; v.kind = kFunction; v.fn = std::make_shared<Function>(std::move(f)); return v; }
  static Value from_json(const Json& j);

  bool is_undefined() const { return kind == kUndefined; }
  bool is_none() const { return kind == kNone; }
  bool is_string() const { return kind == kString; }
  bool is_number() const { return kind == kInt || kind == kFloat; }
  bool is_list() const { return kind == kList; }
  bool is_dict() const { return kind == kDict; }
  double as_double() const { return kind == kFloat ? f : static_cast<double>(kind == kBool ? b : i); }

  bool truthy() const;
  // Dict member or undefined.
  Value get(const std::string& key) const;
  void set(const std::string& key, Value v);
  // What {{ x }} prints.
  std::string str() const;
  std::string to_json(int indent = -1, int depth = 0) const;
};

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // The n-th positional argument or the keyword `name`, else `def`.
  Value get(size_t n, const char* name, Value def = Value()) const {
    for (auto& [k, v] : kw)
      if (k == name) return v;
    return n < pos.size() ? pos[n] : def;
  }
};

// Thrown inside the interpreter, turned into an Expected error at render().
struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool equals(const Value& a, const Value& b);

}  // namespace mlxr::jinja
