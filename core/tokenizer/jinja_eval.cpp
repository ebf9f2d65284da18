// The chat-template interpreter: statements, expressions, and the filters, tests, globals and
// methods that real chat templates use. Semantics follow Jinja2; where @huggingface/jinja (the
// oracle) prints differently (booleans as true/false, none as ""), we follow it.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include "core/tokenizer/jinja.h"
#include "core/tokenizer/jinja_ast.h"
#include "core/tokenizer/unicode.h"

namespace mlxr::jinja {
namespace {

[[noreturn]] void fail(int line, const std::string& msg) {
  throw TemplateError("line " + std::to_string(line) + ": " + msg);
}

// Raised by raise_exception(): the message is shown as is.
struct UserError : TemplateError {
  using TemplateError::TemplateError;
};

struct LoopControl {
  enum Kind { kNone, kBreak, kContinue } kind = kNone;
};

class Scope {
 public:
  explicit Scope(Scope* parent = nullptr) : parent_(parent) {}
  Value* find(const std::string& k) {
    for (Scope* s = this; s; s = s->parent_) {
      auto it = s->vars_.find(k);
      if (it != s->vars_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(const std::string& k, Value v) { vars_[k] = std::move(v); }

 private:
  Scope* parent_;
  std::map<std::string, Value> vars_;
};

std::string kind_name(const Value& v) {
  static const char* n[] = {"undefined", "none", "boolean", "integer", "float", "string", "list", "dict", "function"};
  return n[v.kind];
}

// ---- string helpers ----
bool is_space_char(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto in = [&](char c) {
    if (chars.is_string()) return chars.s.find(c) != std::string::npos;
    return is_space_char(c);
  };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && in(s[b])) ++b;
  if (right)
    while (e > b && in(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string map_case(const std::string& s, int mode) {  // 0 lower, 1 upper
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cp = unicode::decode_one(s, pos);
    unicode::append_utf8(out, mode ? unicode::to_upper(cp) : unicode::to_lower(cp));
  }
  return out;
}

std::string title_case(const std::string& s) {
  std::string out;
  size_t pos = 0;
  bool start = true;
  while (pos < s.size()) {
    uint32_t cp = unicode::decode_one(s, pos);
    bool letter = unicode::flags(cp) & (unicode::kLetter | unicode::kNumber);
    unicode::append_utf8(out, letter ? (start ? unicode::to_upper(cp) : unicode::to_lower(cp)) : cp);
    start = !letter;
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& a, const std::string& b, int64_t count = -1) {
  if (a.empty()) return s;
  std::string out;
  size_t pos = 0;
  while (count != 0) {
    size_t q = s.find(a, pos);
    if (q == std::string::npos) break;
    out.append(s, pos, q - pos);
    out += b;
    pos = q + a.size();
    if (count > 0) --count;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t b = pos;
    unicode::decode_one(s, pos);
    out.push_back(s.substr(b, pos - b));
  }
  return out;
}

// Items of an iterable: list elements, dict keys, string characters.
List iterate(const Value& v, int line) {
  switch (v.kind) {
    case Value::kList: return *v.list;
    case Value::kDict: {
      List keys;
      for (auto& [k, x] : *v.dict) keys.push_back(Value::string(k));
      return keys;
    }
    case Value::kString: {
      List l;
      for (auto& c : utf8_chars(v.s)) l.push_back(Value::string(c));
      return l;
    }
    case Value::kUndefined: case Value::kNone: return {};
    default: fail(line, "cannot iterate over a " + kind_name(v));
  }
}

int64_t py_index(int64_t i, size_t n) { return i < 0 ? i + static_cast<int64_t>(n) : i; }

Value slice(const Value& v, const Value& a, const Value& b, const Value& c, int line) {
  int64_t step = c.is_number() ? static_cast<int64_t>(c.as_double()) : 1;
  if (step == 0) fail(line, "slice step cannot be zero");
  std::vector<Value> items;
  std::vector<std::string> chars;
  size_t n;
  if (v.is_list()) n = v.list->size();
  else if (v.is_string()) { chars = utf8_chars(v.s); n = chars.size(); }
  else fail(line, "cannot slice a " + kind_name(v));
  auto clampi = [&](const Value& x, int64_t def) -> int64_t {
    if (!x.is_number()) return def;
    int64_t i = py_index(static_cast<int64_t>(x.as_double()), n);
    if (step > 0) return std::clamp<int64_t>(i, 0, static_cast<int64_t>(n));
    return std::clamp<int64_t>(i, -1, static_cast<int64_t>(n) - 1);
  };
  int64_t start = clampi(a, step > 0 ? 0 : static_cast<int64_t>(n) - 1);
  int64_t stop = clampi(b, step > 0 ? static_cast<int64_t>(n) : -1);
  List out;
  std::string sout;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (v.is_list()) out.push_back((*v.list)[i]);
    else sout += chars[i];
  }
  return v.is_list() ? Value::make_list(std::move(out)) : Value::string(sout);
}

bool contains(const Value& container, const Value& x, int line) {
  switch (container.kind) {
    case Value::kString:
      if (!x.is_string()) fail(line, "'in <string>' needs a string on the left");
      return container.s.find(x.s) != std::string::npos;
    case Value::kList:
      for (auto& e : *container.list)
        if (equals(e, x)) return true;
      return false;
    case Value::kDict:
      return x.is_string() && !container.get(x.s).is_undefined();
    case Value::kUndefined: case Value::kNone: return false;
    default: fail(line, "cannot test membership in a " + kind_name(container));
  }
}

int compare(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) {
    double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  fail(line, "cannot compare " + kind_name(a) + " with " + kind_name(b));
}

class Interpreter {
 public:
  std::string out;
  // Guards against templates that would never finish or exhaust the stack (a template is
  // model-supplied input): statement budget, macro recursion depth, output size.
  static constexpr int64_t kMaxSteps = 1'000'000;
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxOutput = 64u << 20;
  int64_t steps = 0;
  int depth = 0;

  void exec(const Body& body, Scope& sc, LoopControl& lc) {
    for (auto& s : body) {
      if (++steps > kMaxSteps) fail(s->line, "template runs too long (more than 1M statements)");
      if (out.size() > kMaxOutput) fail(s->line, "template output exceeds 64 MiB");
      exec(*s, sc, lc);
      if (lc.kind != LoopControl::kNone) return;
    }
  }

  void exec(const Stmt& s, Scope& sc, LoopControl& lc) {
    switch (s.kind) {
      case Stmt::kText: out += s.text; return;
      case Stmt::kOutput: out += eval(*s.expr, sc).str(); return;
      case Stmt::kIf:
        for (auto& [cond, body] : s.branches)
          if (eval(*cond, sc).truthy()) return exec(body, sc, lc);
        return exec(s.else_body, sc, lc);
      case Stmt::kFor: return exec_for(s, sc);
      case Stmt::kSet: {
        Value v = eval(*s.expr, sc);
        assign(s, sc, std::move(v));
        return;
      }
      case Stmt::kSetBlock: {
        std::string saved;
        saved.swap(out);
        LoopControl inner;
        exec(s.body, sc, inner);
        std::string captured;
        captured.swap(out);
        out.swap(saved);
        assign(s, sc, Value::string(captured));
        return;
      }
      case Stmt::kMacro: {
        sc.set(s.name, make_macro(s, sc));
        return;
      }
      case Stmt::kBreak: lc.kind = LoopControl::kBreak; return;
      case Stmt::kContinue: lc.kind = LoopControl::kContinue; return;
      case Stmt::kCallBlock: return;
    }
  }

  void assign(const Stmt& s, Scope& sc, Value v) {
    if (s.name.empty()) {
      sc.set(s.targets[0], std::move(v));
      return;
    }
    Value* ns = sc.find(s.targets[0]);
    if (!ns || !ns->is_dict()) fail(s.line, "cannot set '" + s.name + "' on '" + s.targets[0] + "' (not a namespace)");
    ns->set(s.name, std::move(v));
  }

  Value make_macro(const Stmt& s, Scope& defining) {
    const Stmt* def = &s;
    Scope* closure = &defining;
    return Value::function([this, def, closure](Args& a) {
      if (depth >= kMaxDepth) fail(def->line, "macro '" + def->name + "' nests deeper than 64 calls");
      struct DepthGuard {
        int& d;
        explicit DepthGuard(int& x) : d(++x) {}
        ~DepthGuard() { --d; }
      } guard(depth);
      Scope local(closure);
      for (size_t k = 0; k < def->params.size(); ++k) {
        const auto& [name, dflt] = def->params[k];
        Value v = a.get(k, name.c_str());
        if (v.is_undefined() && dflt) v = eval(*dflt, local);
        local.set(name, v);
      }
      std::string saved;
      saved.swap(out);
      LoopControl lc;
      exec(def->body, local, lc);
      std::string result;
      result.swap(out);
      out.swap(saved);
      return Value::string(result);
    });
  }

  void exec_for(const Stmt& s, Scope& sc) {
    Value seq = eval(*s.expr, sc);
    List items;
    if (seq.is_dict() && s.targets.size() == 2) {
      for (auto& [k, v] : *seq.dict) items.push_back(Value::make_list({Value::string(k), v}));
    } else {
      items = iterate(seq, s.line);
    }
    // The `if` filter of the loop applies before loop.* is computed (Jinja semantics).
    if (s.cond) {
      List kept;
      for (auto& it : items) {
        Scope probe(&sc);
        bind_targets(s, probe, it);
        if (eval(*s.cond, probe).truthy()) kept.push_back(it);
      }
      items.swap(kept);
    }
    if (items.empty()) {
      LoopControl lc;
      exec(s.else_body, sc, lc);
      return;
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t k = 0; k < n; ++k) {
      Scope body(&sc);
      bind_targets(s, body, items[k]);
      Value loop = Value::make_dict();
      loop.set("index", Value::integer(k + 1));
      loop.set("index0", Value::integer(k));
      loop.set("revindex", Value::integer(n - k));
      loop.set("revindex0", Value::integer(n - k - 1));
      loop.set("first", Value::boolean(k == 0));
      loop.set("last", Value::boolean(k == n - 1));
      loop.set("length", Value::integer(n));
      loop.set("previtem", k > 0 ? items[k - 1] : Value());
      loop.set("nextitem", k + 1 < n ? items[k + 1] : Value());
      body.set("loop", loop);
      LoopControl lc;
      exec(s.body, body, lc);
      if (lc.kind == LoopControl::kBreak) break;
    }
  }

  void bind_targets(const Stmt& s, Scope& sc, const Value& item) {
    if (s.targets.size() == 1) {
      sc.set(s.targets[0], item);
      return;
    }
    List parts = iterate(item, s.line);
    if (parts.size() != s.targets.size())
      fail(s.line, "cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(s.targets.size()));
    for (size_t k = 0; k < parts.size(); ++k) sc.set(s.targets[k], parts[k]);
  }

  // ---- expressions ----
  Value eval(const Expr& e, Scope& sc) {
    switch (e.kind) {
      case Expr::kLiteral: return e.literal;
      case Expr::kName: {
        Value* v = sc.find(e.name);
        if (v) return *v;
        return global(e.name);
      }
      case Expr::kAttr: {
        Value obj = eval(*e.kids[0], sc);
        return attribute(obj, e.name, e.line);
      }
      case Expr::kItem: {
        Value obj = eval(*e.kids[0], sc);
        Value key = eval(*e.kids[1], sc);
        return item(obj, key, e.line);
      }
      case Expr::kSlice: {
        Value obj = eval(*e.kids[0], sc);
        Value a = e.kids[1] ? eval(*e.kids[1], sc) : Value();
        Value b = e.kids[2] ? eval(*e.kids[2], sc) : Value();
        Value c = e.kids[3] ? eval(*e.kids[3], sc) : Value();
        return slice(obj, a, b, c, e.line);
      }
      case Expr::kCall: {
        Args a = args_of(e, sc);
        // Methods: obj.name(...) on strings, dicts, lists.
        if (e.kids[0]->kind == Expr::kAttr) {
          Value obj = eval(*e.kids[0]->kids[0], sc);
          const std::string& m = e.kids[0]->name;
          if (obj.is_string() || (obj.is_dict() && !obj.is_namespace && obj.get(m).kind != Value::kFunction) || obj.is_list())
            return method(obj, m, a, e.line);
          Value f = attribute(obj, m, e.line);
          if (f.kind != Value::kFunction) fail(e.line, "'" + m + "' is not callable");
          return (*f.fn)(a);
        }
        Value f = eval(*e.kids[0], sc);
        if (f.kind != Value::kFunction) {
          std::string n = e.kids[0]->kind == Expr::kName ? e.kids[0]->name : "expression";
          fail(e.line, "'" + n + "' is " + (f.is_undefined() ? "undefined" : "not callable"));
        }
        return (*f.fn)(a);
      }
      case Expr::kFilter: {
        Value x = eval(*e.kids[0], sc);
        Args a = args_of(e, sc);
        return filter(e.name, x, a, e.line);
      }
      case Expr::kTest: {
        Value x;
        if (e.kids[0]->kind == Expr::kName && !sc.find(e.kids[0]->name) && e.name != "defined" && e.name != "undefined")
          x = eval(*e.kids[0], sc);
        else
          x = eval_soft(*e.kids[0], sc);
        Args a = args_of(e, sc);
        bool r = test(e.name, x, a, e.line);
        return Value::boolean(e.negate ? !r : r);
      }
      case Expr::kUnary: {
        Value x = eval(*e.kids[0], sc);
        if (!x.is_number()) fail(e.line, "unary " + e.name + " needs a number, not a " + kind_name(x));
        if (e.name == "+") return x;
        return x.kind == Value::kInt ? Value::integer(-x.i) : Value::number(-x.f);
      }
      case Expr::kNot: return Value::boolean(!eval(*e.kids[0], sc).truthy());
      case Expr::kAnd: {
        Value a = eval(*e.kids[0], sc);
        return a.truthy() ? eval(*e.kids[1], sc) : a;
      }
      case Expr::kOr: {
        Value a = eval(*e.kids[0], sc);
        return a.truthy() ? a : eval(*e.kids[1], sc);
      }
      case Expr::kTernary: {
        if (eval(*e.kids[0], sc).truthy()) return eval(*e.kids[1], sc);
        return e.kids[2] ? eval(*e.kids[2], sc) : Value();
      }
      case Expr::kList: case Expr::kTuple: {
        List l;
        for (auto& k : e.kids) l.push_back(eval(*k, sc));
        Value v = Value::make_list(std::move(l));
        v.is_tuple = e.kind == Expr::kTuple;
        return v;
      }
      case Expr::kDict: {
        Value d = Value::make_dict();
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) {
          Value key = eval(*e.kids[k], sc);
          d.set(key.is_string() ? key.s : key.str(), eval(*e.kids[k + 1], sc));
        }
        return d;
      }
      case Expr::kBinary: return binary(e, sc);
    }
    return Value();
  }

  // Like eval, but an attribute or item of something missing is undefined instead of an
  // error (for `is defined` tests on nested paths).
  Value eval_soft(const Expr& e, Scope& sc) {
    if (e.kind == Expr::kAttr) {
      Value obj = eval_soft(*e.kids[0], sc);
      if (obj.is_undefined() || obj.is_none()) return Value();
      return attribute(obj, e.name, e.line);
    }
    if (e.kind == Expr::kName) {
      Value* v = sc.find(e.name);
      return v ? *v : global(e.name);
    }
    return eval(e, sc);
  }

  Args args_of(const Expr& e, Scope& sc) {
    Args a;
    for (auto& x : e.args) a.pos.push_back(eval(*x, sc));
    for (auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x, sc));
    return a;
  }

  Value attribute(const Value& obj, const std::string& name, int line) {
    if (obj.is_dict()) {
      Value v = obj.get(name);
      if (!v.is_undefined() || obj.is_namespace) return v;
      return v;
    }
    if (obj.is_list() && !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])))
      return item(obj, Value::integer(std::stoll(name)), line);
    if (obj.is_undefined()) fail(line, "'" + name + "' of an undefined value");
    if (obj.is_none()) fail(line, "'" + name + "' of none");
    return Value();
  }

  Value item(const Value& obj, const Value& key, int line) {
    if (obj.is_dict()) {
      if (key.is_string()) return obj.get(key.s);
      return obj.get(key.str());
    }
    if (obj.is_list() || obj.is_string()) {
      if (!key.is_number()) {
        if (key.is_string() && obj.is_list()) return Value();
        fail(line, "index must be an integer, not a " + kind_name(key));
      }
      if (obj.is_list()) {
        int64_t i = py_index(static_cast<int64_t>(key.as_double()), obj.list->size());
        if (i < 0 || i >= static_cast<int64_t>(obj.list->size())) return Value();
        return (*obj.list)[i];
      }
      auto chars = utf8_chars(obj.s);
      int64_t i = py_index(static_cast<int64_t>(key.as_double()), chars.size());
      if (i < 0 || i >= static_cast<int64_t>(chars.size())) return Value();
      return Value::string(chars[i]);
    }
    if (obj.is_undefined()) fail(line, "subscript of an undefined value");
    if (obj.is_none()) fail(line, "subscript of none");
    fail(line, "cannot subscript a " + kind_name(obj));
  }

  Value binary(const Expr& e, Scope& sc) {
    const std::string& op = e.name;
    Value a = eval(*e.kids[0], sc);
    Value b = eval(*e.kids[1], sc);
    if (op == "==") return Value::boolean(equals(a, b));
    if (op == "!=") return Value::boolean(!equals(a, b));
    if (op == "<") return Value::boolean(compare(a, b, e.line) < 0);
    if (op == ">") return Value::boolean(compare(a, b, e.line) > 0);
    if (op == "<=") return Value::boolean(compare(a, b, e.line) <= 0);
    if (op == ">=") return Value::boolean(compare(a, b, e.line) >= 0);
    if (op == "in") return Value::boolean(contains(b, a, e.line));
    if (op == "not in") return Value::boolean(!contains(b, a, e.line));
    if (op == "~") return Value::string(a.str() + b.str());
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value::string(a.s + b.s);
      if (a.is_list() && b.is_list()) {
        List l = *a.list;
        l.insert(l.end(), b.list->begin(), b.list->end());
        return Value::make_list(std::move(l));
      }
      if (a.is_string() || b.is_string()) {
        // @huggingface/jinja concatenates a string with anything printable.
        if (a.is_undefined() || b.is_undefined())
          fail(e.line, "cannot add " + kind_name(a) + " and " + kind_name(b));
        return Value::string(a.str() + b.str());
      }
    }
    if (!a.is_number() || !b.is_number())
      fail(e.line, "unsupported operand types for " + op + ": " + kind_name(a) + " and " + kind_name(b));
    bool ints = a.kind != Value::kFloat && b.kind != Value::kFloat;
    double x = a.as_double(), y = b.as_double();
    if (op == "+") return ints ? Value::integer(a.i + b.i) : Value::number(x + y);
    if (op == "-") return ints ? Value::integer(a.i - b.i) : Value::number(x - y);
    if (op == "*") return ints ? Value::integer(a.i * b.i) : Value::number(x * y);
    if (op == "/") {
      if (y == 0) fail(e.line, "division by zero");
      return Value::number(x / y);
    }
    if (op == "//") {
      if (y == 0) fail(e.line, "division by zero");
      return ints ? Value::integer(static_cast<int64_t>(std::floor(x / y))) : Value::number(std::floor(x / y));
    }
    if (op == "%") {
      if (y == 0) fail(e.line, "modulo by zero");
      // The sign follows the dividend (JS and C++), as in @huggingface/jinja; Python's
      // floored modulo differs only for negative operands, which templates do not use.
      if (ints) return Value::integer(a.i % b.i);
      return Value::number(std::fmod(x, y));
    }
    if (op == "**") {
      double r = std::pow(x, y);
      return ints && b.i >= 0 ? Value::integer(static_cast<int64_t>(r)) : Value::number(r);
    }
    fail(e.line, "unknown operator " + op);
  }

  Value global(const std::string& name) {
    if (name == "range") {
      return Value::function([](Args& a) {
        int64_t start = 0, stop, step = 1;
        if (a.pos.size() == 1) stop = static_cast<int64_t>(a.pos[0].as_double());
        else {
          start = a.pos.size() > 0 ? static_cast<int64_t>(a.pos[0].as_double()) : 0;
          stop = a.pos.size() > 1 ? static_cast<int64_t>(a.pos[1].as_double()) : 0;
          if (a.pos.size() > 2) step = static_cast<int64_t>(a.pos[2].as_double());
        }
        if (step == 0) throw TemplateError("range() step must not be zero");
        List l;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
          l.push_back(Value::integer(i));
          if (l.size() > 1000000) throw TemplateError("range() too large");
        }
        return Value::make_list(std::move(l));
      });
    }
    if (name == "namespace") {
      return Value::function([](Args& a) {
        Value ns = Value::make_dict();
        ns.is_namespace = true;
        for (auto& [k, v] : a.kw) ns.set(k, v);
        if (!a.pos.empty() && a.pos[0].is_dict())
          for (auto& [k, v] : *a.pos[0].dict) ns.set(k, v);
        return ns;
      });
    }
    if (name == "raise_exception") {
      return Value::function([](Args& a) -> Value {
        throw UserError(a.pos.empty() ? "raise_exception called" : a.pos[0].str());
      });
    }
    if (name == "strftime_now") {
      return Value::function([](Args& a) {
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        char buf[256];
        std::string fmt = a.pos.empty() ? "%Y-%m-%d" : a.pos[0].str();
        size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
        return Value::string(std::string(buf, n));
      });
    }
    return Value();
  }

  Value method(Value& obj, const std::string& m, Args& a, int line) {
    if (obj.is_string()) {
      const std::string& s = obj.s;
      if (m == "strip") return Value::string(strip(s, a.get(0, "chars"), true, true));
      if (m == "lstrip") return Value::string(strip(s, a.get(0, "chars"), true, false));
      if (m == "rstrip") return Value::string(strip(s, a.get(0, "chars"), false, true));
      if (m == "upper") return Value::string(map_case(s, 1));
      if (m == "lower") return Value::string(map_case(s, 0));
      if (m == "title") return Value::string(title_case(s));
      if (m == "capitalize") return filter("capitalize", obj, a, line);
      if (m == "startswith" || m == "endswith") {
        Value p = a.get(0, "prefix");
        List cands = p.is_list() ? *p.list : List{p};
        for (auto& c : cands) {
          if (!c.is_string()) fail(line, m + "() needs a string");
          bool hit = m == "startswith" ? s.compare(0, c.s.size(), c.s) == 0
                                       : s.size() >= c.s.size() && s.compare(s.size() - c.s.size(), c.s.size(), c.s) == 0;
          if (hit) return Value::boolean(true);
        }
        return Value::boolean(false);
      }
      if (m == "split") {
        Value sep = a.get(0, "sep");
        int64_t maxsplit = a.get(1, "maxsplit", Value::integer(-1)).i;
        List parts;
        if (!sep.is_string()) {  // whitespace split, empty strings dropped
          size_t p = 0;
          while (p < s.size()) {
            while (p < s.size() && is_space_char(s[p])) ++p;
            if (p >= s.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
              parts.push_back(Value::string(strip(s.substr(p), Value(), false, true)));
              break;
            }
            size_t q = p;
            while (q < s.size() && !is_space_char(s[q])) ++q;
            parts.push_back(Value::string(s.substr(p, q - p)));
            p = q;
          }
          return Value::make_list(std::move(parts));
        }
        if (sep.s.empty()) fail(line, "split(): empty separator");
        size_t p = 0;
        while (true) {
          size_t q = s.find(sep.s, p);
          if (q == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
            parts.push_back(Value::string(s.substr(p)));
            break;
          }
          parts.push_back(Value::string(s.substr(p, q - p)));
          p = q + sep.s.size();
        }
        return Value::make_list(std::move(parts));
      }
      if (m == "replace") {
        Value cnt = a.get(2, "count", Value::integer(-1));
        return Value::string(replace_all(s, a.get(0, "old").str(), a.get(1, "new").str(), cnt.i));
      }
      if (m == "find") {
        size_t q = s.find(a.get(0, "sub").str());
        return Value::integer(q == std::string::npos ? -1 : static_cast<int64_t>(q));
      }
      if (m == "count") {
        std::string sub = a.get(0, "sub").str();
        int64_t n = 0;
        for (size_t q = sub.empty() ? std::string::npos : s.find(sub); q != std::string::npos; q = s.find(sub, q + sub.size())) ++n;
        return Value::integer(n);
      }
      if (m == "join") {
        std::string r;
        List items = iterate(a.get(0, "iterable"), line);
        for (size_t k = 0; k < items.size(); ++k) r += (k ? s : "") + items[k].str();
        return Value::string(r);
      }
      if (m == "isdigit" || m == "isalpha" || m == "isspace") {
        if (s.empty()) return Value::boolean(false);
        for (char c : s) {
          bool ok = m == "isdigit" ? std::isdigit(static_cast<unsigned char>(c)) != 0
                  : m == "isalpha" ? std::isalpha(static_cast<unsigned char>(c)) != 0 : is_space_char(c);
          if (!ok) return Value::boolean(false);
        }
        return Value::boolean(true);
      }
      fail(line, "strings have no method '" + m + "'");
    }
    if (obj.is_dict()) {
      if (m == "get") {
        Value v = obj.get(a.get(0, "key").str());
        return v.is_undefined() ? a.get(1, "default", Value::none()) : v;
      }
      if (m == "items") {
        List l;
        for (auto& [k, v] : *obj.dict) {
          Value t = Value::make_list({Value::string(k), v});
          t.is_tuple = true;
          l.push_back(t);
        }
        return Value::make_list(std::move(l));
      }
      if (m == "keys") {
        List l;
        for (auto& [k, v] : *obj.dict) l.push_back(Value::string(k));
        return Value::make_list(std::move(l));
      }
      if (m == "values") {
        List l;
        for (auto& [k, v] : *obj.dict) l.push_back(v);
        return Value::make_list(std::move(l));
      }
      Value f = obj.get(m);
      if (f.kind == Value::kFunction) return (*f.fn)(a);
      fail(line, "dicts have no method '" + m + "'");
    }
    if (obj.is_list()) {
      if (m == "append") {
        obj.list->push_back(a.get(0, "item"));
        return Value::none();
      }
      if (m == "pop") {
        if (obj.list->empty()) fail(line, "pop from an empty list");
        int64_t i = py_index(a.get(0, "index", Value::integer(-1)).i, obj.list->size());
        if (i < 0 || i >= static_cast<int64_t>(obj.list->size())) fail(line, "pop index out of range");
        Value v = (*obj.list)[i];
        obj.list->erase(obj.list->begin() + i);
        return v;
      }
      if (m == "index") {
        for (size_t k = 0; k < obj.list->size(); ++k)
          if (equals((*obj.list)[k], a.get(0, "value"))) return Value::integer(static_cast<int64_t>(k));
        fail(line, "value not in list");
      }
      fail(line, "lists have no method '" + m + "'");
    }
    fail(line, "a " + kind_name(obj) + " has no method '" + m + "'");
  }

  bool test(const std::string& name, const Value& x, const Args& a, int line) {
    if (name == "defined") return !x.is_undefined();
    if (name == "undefined") return x.is_undefined();
    if (name == "none") return x.is_none();
    if (name == "string") return x.is_string();
    if (name == "number") return x.is_number();
    if (name == "integer") return x.kind == Value::kInt;
    if (name == "float") return x.kind == Value::kFloat;
    if (name == "boolean") return x.kind == Value::kBool;
    if (name == "true") return x.kind == Value::kBool && x.b;
    if (name == "false") return x.kind == Value::kBool && !x.b;
    if (name == "mapping") return x.is_dict();
    if (name == "iterable") return x.is_list() || x.is_dict() || x.is_string();
    if (name == "sequence") return x.is_list() || x.is_string() || x.is_dict();
    if (name == "callable") return x.kind == Value::kFunction;
    if (name == "equalto" || name == "eq" || name == "sameas") return equals(x, a.get(0, "other"));
    if (name == "ne") return !equals(x, a.get(0, "other"));
    if (name == "even") return x.is_number() && static_cast<int64_t>(x.as_double()) % 2 == 0;
    if (name == "odd") return x.is_number() && static_cast<int64_t>(x.as_double()) % 2 != 0;
    if (name == "divisibleby") {
      int64_t d = static_cast<int64_t>(a.get(0, "num").as_double());
      return d != 0 && static_cast<int64_t>(x.as_double()) % d == 0;
    }
    if (name == "in") return contains(a.get(0, "seq"), x, line);
    if (name == "lower") return x.is_string() && map_case(x.s, 0) == x.s;
    if (name == "upper") return x.is_string() && map_case(x.s, 1) == x.s;
    if (name == "gt" || name == "greaterthan") return compare(x, a.get(0, "other"), line) > 0;
    if (name == "lt" || name == "lessthan") return compare(x, a.get(0, "other"), line) < 0;
    if (name == "ge") return compare(x, a.get(0, "other"), line) >= 0;
    if (name == "le") return compare(x, a.get(0, "other"), line) <= 0;
    fail(line, "unknown test '" + name + "'");
  }

  Value filter(const std::string& name, const Value& x, Args& a, int line) {
    if (name == "trim") return Value::string(strip(x.str(), a.get(0, "chars"), true, true));
    if (name == "upper") return Value::string(map_case(x.str(), 1));
    if (name == "lower") return Value::string(map_case(x.str(), 0));
    if (name == "title") return Value::string(title_case(x.str()));
    if (name == "capitalize") {
      std::string s = map_case(x.str(), 0);
      size_t pos = 0;
      if (s.empty()) return Value::string(s);
      uint32_t cp = unicode::decode_one(s, pos);
      std::string r;
      unicode::append_utf8(r, unicode::to_upper(cp));
      return Value::string(r + s.substr(pos));
    }
    if (name == "length" || name == "count") {
      if (x.is_string()) return Value::integer(static_cast<int64_t>(utf8_chars(x.s).size()));
      if (x.is_list()) return Value::integer(static_cast<int64_t>(x.list->size()));
      if (x.is_dict()) return Value::integer(static_cast<int64_t>(x.dict->size()));
      if (x.is_undefined() || x.is_none()) return Value::integer(0);
      fail(line, "length of a " + kind_name(x));
    }
    if (name == "first" || name == "last") {
      List l = iterate(x, line);
      if (l.empty()) return Value();
      return name == "first" ? l.front() : l.back();
    }
    if (name == "reverse") {
      if (x.is_string()) {
        auto c = utf8_chars(x.s);
        std::string r;
        for (auto it = c.rbegin(); it != c.rend(); ++it) r += *it;
        return Value::string(r);
      }
      List l = iterate(x, line);
      std::reverse(l.begin(), l.end());
      return Value::make_list(std::move(l));
    }
    if (name == "list") return Value::make_list(iterate(x, line));
    if (name == "join") {
      std::string sep = a.get(0, "d", Value::string("")).str();
      Value attr = a.get(1, "attribute");
      std::string r;
      List l = iterate(x, line);
      for (size_t k = 0; k < l.size(); ++k) {
        if (k) r += sep;
        r += attr.is_string() ? l[k].get(attr.s).str() : l[k].str();
      }
      return Value::string(r);
    }
    if (name == "tojson") {
      Value ind = a.get(0, "indent");
      return Value::string(x.to_json(ind.is_number() ? static_cast<int>(ind.as_double()) : -1));
    }
    if (name == "string") return Value::string(x.str());
    if (name == "safe") return x;
    if (name == "int") {
      if (x.is_number()) return Value::integer(static_cast<int64_t>(x.as_double()));
      if (x.is_string()) {
        try {
          return Value::integer(std::stoll(x.s));
        } catch (...) {
          return a.get(0, "default", Value::integer(0));
        }
      }
      return a.get(0, "default", Value::integer(0));
    }
    if (name == "float") {
      if (x.is_number()) return Value::number(x.as_double());
      if (x.is_string()) {
        try {
          return Value::number(std::stod(x.s));
        } catch (...) {
        }
      }
      return a.get(0, "default", Value::number(0));
    }
    if (name == "abs") {
      if (!x.is_number()) fail(line, "abs of a " + kind_name(x));
      return x.kind == Value::kInt ? Value::integer(std::llabs(x.i)) : Value::number(std::fabs(x.f));
    }
    if (name == "round") {
      int p = static_cast<int>(a.get(0, "precision", Value::integer(0)).as_double());
      double m = std::pow(10.0, p);
      return Value::number(std::round(x.as_double() * m) / m);
    }
    if (name == "default" || name == "d") {
      bool boolean = a.get(1, "boolean", Value::boolean(false)).truthy();
      if (x.is_undefined() || (boolean && !x.truthy())) return a.get(0, "default_value", Value::string(""));
      return x;
    }
    if (name == "items") {
      if (x.is_undefined() || x.is_none()) return Value::make_list();
      if (!x.is_dict()) fail(line, "items of a " + kind_name(x));
      Value obj = x;
      Args none;
      return method(obj, "items", none, line);
    }
    if (name == "dictsort") {
      if (!x.is_dict()) fail(line, "dictsort of a " + kind_name(x));
      Dict d = *x.dict;
      std::stable_sort(d.begin(), d.end(), [](auto& p, auto& q) { return p.first < q.first; });
      List l;
      for (auto& [k, v] : d) l.push_back(Value::make_list({Value::string(k), v}));
      return Value::make_list(std::move(l));
    }
    if (name == "unique") {
      List out;
      for (auto& v : iterate(x, line)) {
        bool seen = false;
        for (auto& o : out) seen = seen || equals(o, v);
        if (!seen) out.push_back(v);
      }
      return Value::make_list(std::move(out));
    }
    if (name == "sum") {
      double s = 0;
      bool all_int = true;
      for (auto& v : iterate(x, line)) {
        s += v.as_double();
        all_int = all_int && v.kind != Value::kFloat;
      }
      return all_int ? Value::integer(static_cast<int64_t>(s)) : Value::number(s);
    }
    if (name == "min" || name == "max") {
      List l = iterate(x, line);
      if (l.empty()) return Value();
      Value best = l[0];
      for (auto& v : l)
        if ((name == "min") ? compare(v, best, line) < 0 : compare(v, best, line) > 0) best = v;
      return best;
    }
    if (name == "sort") {
      List l = iterate(x, line);
      bool rev = a.get(0, "reverse", Value::boolean(false)).truthy();
      Value attr = a.get(2, "attribute");
      std::stable_sort(l.begin(), l.end(), [&](const Value& p, const Value& q) {
        const Value& pp = attr.is_string() ? p.get(attr.s) : p;
        const Value& qq = attr.is_string() ? q.get(attr.s) : q;
        return rev ? compare(pp, qq, line) > 0 : compare(pp, qq, line) < 0;
      });
      return Value::make_list(std::move(l));
    }
    if (name == "replace") {
      return Value::string(replace_all(x.str(), a.get(0, "old").str(), a.get(1, "new").str(),
                                       a.get(2, "count", Value::integer(-1)).i));
    }
    if (name == "indent") {
      int width = static_cast<int>(a.get(0, "width", Value::integer(4)).as_double());
      bool first = a.get(1, "first", Value::boolean(false)).truthy();
      bool blank = a.get(2, "blank", Value::boolean(false)).truthy();
      std::string pad(static_cast<size_t>(std::max(width, 0)), ' ');
      std::string s = x.str(), r;
      size_t p = 0;
      bool first_line = true;
      while (true) {
        size_t q = s.find('\n', p);
        std::string ln = s.substr(p, q == std::string::npos ? std::string::npos : q - p);
        if ((first_line ? first : true) && (blank || !ln.empty())) r += pad;
        r += ln;
        if (q == std::string::npos) break;
        r += '\n';
        p = q + 1;
        first_line = false;
      }
      return Value::string(r);
    }
    if (name == "map") {
      Value attr = a.get(99, "attribute");
      List out;
      for (auto& v : iterate(x, line)) {
        if (attr.is_string()) {
          Value r = v.get(attr.s);
          out.push_back(r.is_undefined() ? a.get(99, "default") : r);
        } else {
          if (a.pos.empty()) fail(line, "map needs a filter name or attribute=");
          Args rest;
          rest.pos.assign(a.pos.begin() + 1, a.pos.end());
          out.push_back(filter(a.pos[0].str(), v, rest, line));
        }
      }
      return Value::make_list(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      bool by_attr = name == "selectattr" || name == "rejectattr";
      bool keep_if = name == "select" || name == "selectattr";
      size_t first_arg = by_attr ? 1 : 0;
      std::string attr = by_attr ? a.get(0, "attribute").str() : "";
      List out;
      for (auto& v : iterate(x, line)) {
        Value subject = by_attr ? v.get(attr) : v;
        bool r;
        if (a.pos.size() <= first_arg) {
          r = subject.truthy();
        } else {
          Args targs;
          targs.pos.assign(a.pos.begin() + first_arg + 1, a.pos.end());
          r = test(a.pos[first_arg].str(), subject, targs, line);
        }
        if (r == keep_if) out.push_back(v);
      }
      return Value::make_list(std::move(out));
    }
    if (name == "wordcount") {
      Value obj = x;
      Args none;
      return Value::integer(static_cast<int64_t>(method(obj, "split", none, line).list->size()));
    }
    fail(line, "unknown filter '" + name + "'");
  }
};

}  // namespace

struct Template::Impl {
  Body body;
};

Template::~Template() = default;

Expected<std::shared_ptr<const Template>> Template::parse(const std::string& source) {
  auto body = parse_template(source);
  if (!body) return make_error(body.error());
  std::shared_ptr<Template> t(new Template());
  t->impl_ = std::make_unique<Impl>();
  t->impl_->body = std::move(*body);
  return std::shared_ptr<const Template>(t);
}

Expected<std::string> Template::render(const Json& context) const {
  Interpreter in;
  Scope globals;
  for (auto& [k, v] : context.as_object()) globals.set(k, Value::from_json(v));
  try {
    LoopControl lc;
    in.exec(impl_->body, globals, lc);
  } catch (const UserError& e) {
    return make_error(e.what());
  } catch (const TemplateError& e) {
    return make_error(std::string("chat template: ") + e.what());
  }
  return in.out;
}

}  // namespace mlxr::jinja
