// Lexer and parser of the chat-template language. Whitespace handling follows transformers /
// @huggingface/jinja: trim_blocks and lstrip_blocks on, one trailing newline dropped, and the
// "-" markers of {%- -%} {{- -}} {#- -#} strip whitespace on that side.
#include <cctype>

#include "core/tokenizer/jinja_ast.h"

namespace mlxr::jinja {
namespace {

struct Tok {
  enum Kind { kText, kOpenExpr, kCloseExpr, kOpenStmt, kCloseStmt, kName, kString, kInt, kFloat, kOp, kEnd } kind;
  std::string v;
  int line;
};

// Jinja's keep_trailing_newline=False. trim_blocks / lstrip_blocks are applied by the lexer,
// so that line numbers in errors stay those of the source.
std::string preprocess(std::string t) {
  if (!t.empty() && t.back() == '\n') t.pop_back();
  return t;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Tok> run() {
    std::vector<Tok> toks;
    size_t p = 0;
    bool strip_next = false;
    while (p < s_.size()) {
      size_t open = s_.find('{', p);
      while (open != std::string::npos && open + 1 < s_.size() && s_[open + 1] != '{' &&
             s_[open + 1] != '%' && s_[open + 1] != '#')
        open = s_.find('{', open + 1);
      if (open + 1 >= s_.size()) open = std::string::npos;
      std::string text = s_.substr(p, open == std::string::npos ? std::string::npos : open - p);
      if (strip_next) text.erase(0, text.find_first_not_of(" \t\n\r"));
      strip_next = false;
      // lstrip_blocks: a block or comment tag alone at the start of its line eats the indent.
      if (open != std::string::npos && s_[open + 1] != '{') {
        size_t ls = s_.rfind('\n', open == 0 ? 0 : open - 1);
        ls = (ls == std::string::npos || open == 0) ? 0 : ls + 1;
        if (ls >= p && s_.find_first_not_of(" \t", ls) >= open) {
          size_t e = text.find_last_not_of(" \t");
          text = e == std::string::npos ? "" : text.substr(0, e + 1);
        }
      }
      bool lstrip = open != std::string::npos && open + 2 < s_.size() && s_[open + 2] == '-';
      if (lstrip) {
        size_t e = text.find_last_not_of(" \t\n\r");
        text = e == std::string::npos ? "" : text.substr(0, e + 1);
      }
      if (!text.empty()) toks.push_back({Tok::kText, text, line_at(p)});
      if (open == std::string::npos) break;
      char kind = s_[open + 1];
      p = open + 2 + (lstrip ? 1 : 0);
      if (kind == '#') {
        size_t close = s_.find("#}", p);
        if (close == std::string::npos) throw_at(open, "unterminated comment");
        strip_next = close > 0 && s_[close - 1] == '-';
        p = close + 2;
        if (p < s_.size() && s_[p] == '\n') ++p;  // trim_blocks
        continue;
      }
      toks.push_back({kind == '{' ? Tok::kOpenExpr : Tok::kOpenStmt, "", line_at(open)});
      const char* closer = kind == '{' ? "}}" : "%}";
      // Expression tokens up to the closer.
      while (true) {
        while (p < s_.size() && std::isspace(static_cast<unsigned char>(s_[p]))) ++p;
        if (p >= s_.size()) throw_at(open, std::string("missing '") + closer + "'");
        if (s_[p] == '-' && s_.compare(p + 1, 2, closer) == 0) {
          strip_next = true;
          p += 3;
          break;
        }
        if (s_.compare(p, 2, closer) == 0 && (kind != '{' || !brace_depth_)) {
          p += 2;
          break;
        }
        toks.push_back(token(p));
      }
      toks.push_back({kind == '{' ? Tok::kCloseExpr : Tok::kCloseStmt, "", line_at(p)});
      if (kind == '%' && p < s_.size() && s_[p] == '\n') ++p;  // trim_blocks
    }
    toks.push_back({Tok::kEnd, "", line_at(s_.size())});
    return toks;
  }

 private:
  int line_at(size_t pos) const {
    int l = 1;
    for (size_t i = 0; i < pos && i < s_.size(); ++i) l += s_[i] == '\n';
    return l;
  }
  [[noreturn]] void throw_at(size_t pos, const std::string& msg) const {
    throw TemplateError("line " + std::to_string(line_at(pos)) + ": " + msg);
  }

  Tok token(size_t& p) {
    int line = line_at(p);
    char c = s_[p];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t b = p;
      while (p < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p])) || s_[p] == '_')) ++p;
      return {Tok::kName, s_.substr(b, p - b), line};
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t b = p;
      bool is_float = false;
      while (p < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[p])) || s_[p] == '_')) ++p;
      if (p + 1 < s_.size() && s_[p] == '.' && std::isdigit(static_cast<unsigned char>(s_[p + 1]))) {
        is_float = true;
        ++p;
        while (p < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p]))) ++p;
      }
      std::string num;
      for (size_t i = b; i < p; ++i)
        if (s_[i] != '_') num += s_[i];
      return {is_float ? Tok::kFloat : Tok::kInt, num, line};
    }
    if (c == '\'' || c == '"') {
      std::string v;
      ++p;
      while (p < s_.size() && s_[p] != c) {
        if (s_[p] == '\\' && p + 1 < s_.size()) {
          char e = s_[p + 1];
          switch (e) {
            case 'n': v += '\n'; break;
            case 't': v += '\t'; break;
            case 'r': v += '\r'; break;
            case 'b': v += '\b'; break;
            case 'f': v += '\f'; break;
            case '\\': v += '\\'; break;
            case '\'': v += '\''; break;
            case '"': v += '"'; break;
            default: v += '\\'; v += e;
          }
          p += 2;
          continue;
        }
        v += s_[p++];
      }
      if (p >= s_.size()) throw_at(p, "unterminated string literal");
      ++p;
      return {Tok::kString, v, line};
    }
    static const char* kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                 "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}"};
    for (const char* op : kOps) {
      size_t n = std::char_traits<char>::length(op);
      if (s_.compare(p, n, op) == 0) {
        if (op[0] == '{' ) ++brace_depth_;
        if (op[0] == '}' && brace_depth_ > 0) --brace_depth_;
        p += n;
        return {Tok::kOp, op, line};
      }
    }
    throw_at(p, std::string("unexpected character '") + c + "'");
  }

  const std::string& s_;
  int brace_depth_ = 0;
};

class Parser {
 public:
  explicit Parser(std::vector<Tok> t) : t_(std::move(t)) {}

  Body parse_all() {
    Body b = body({});
    if (peek().kind != Tok::kEnd) fail("unexpected '{% " + stmt_word() + " %}'");
    return b;
  }

 private:
  const Tok& peek(int k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  Tok next() { return t_[std::min(i_++, t_.size() - 1)]; }
  [[noreturn]] void fail(const std::string& msg) const {
    throw TemplateError("line " + std::to_string(peek().line) + ": " + msg);
  }
  bool is_op(const char* op, int k = 0) const { return peek(k).kind == Tok::kOp && peek(k).v == op; }
  bool is_name(const char* n, int k = 0) const { return peek(k).kind == Tok::kName && peek(k).v == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(std::string("expected '") + op + "' but found '" + peek().v + "'");
    ++i_;
  }
  std::string expect_name() {
    if (peek().kind != Tok::kName) fail("expected a name but found '" + peek().v + "'");
    return next().v;
  }
  void expect_close_stmt() {
    if (peek().kind != Tok::kCloseStmt) fail("expected '%}' but found '" + peek().v + "'");
    ++i_;
  }
  std::string stmt_word() const { return peek().kind == Tok::kOpenStmt ? peek(1).v : peek().v; }

  // Statements until one of `enders` (the opening "{%" of the ender is left unconsumed).
  Body body(std::initializer_list<const char*> enders) {
    Body out;
    while (true) {
      const Tok& tk = peek();
      if (tk.kind == Tok::kEnd) {
        if (enders.size()) fail(std::string("missing '{% ") + *(enders.end() - 1) + " %}' (template ended)");
        return out;
      }
      if (tk.kind == Tok::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::kText;
        s->text = tk.v;
        s->line = tk.line;
        out.push_back(std::move(s));
        ++i_;
        continue;
      }
      if (tk.kind == Tok::kOpenExpr) {
        ++i_;
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::kOutput;
        s->line = tk.line;
        s->expr = expr();
        if (peek().kind != Tok::kCloseExpr) fail("expected '}}' but found '" + peek().v + "'");
        ++i_;
        out.push_back(std::move(s));
        continue;
      }
      if (tk.kind == Tok::kOpenStmt) {
        std::string w = peek(1).v;
        for (const char* e : enders)
          if (w == e) return out;
        ++i_;
        auto st = statement();
        if (st) out.push_back(std::move(st));
        continue;
      }
      fail("unexpected '" + tk.v + "'");
    }
  }

  std::unique_ptr<Stmt> statement() {
    int line = peek().line;
    std::string w = expect_name();
    auto s = std::make_unique<Stmt>();
    s->line = line;
    if (w == "if") {
      s->kind = Stmt::kIf;
      ExprPtr c = expr();
      expect_close_stmt();
      Body b = body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(c), std::move(b));
      while (true) {
        ++i_;  // "{%"
        std::string k = expect_name();
        if (k == "elif") {
          ExprPtr c2 = expr();
          expect_close_stmt();
          Body b2 = body({"elif", "else", "endif"});
          s->branches.emplace_back(std::move(c2), std::move(b2));
        } else if (k == "else") {
          expect_close_stmt();
          s->else_body = body({"endif"});
        } else {
          expect_close_stmt();
          break;
        }
      }
      return s;
    }
    if (w == "for") {
      s->kind = Stmt::kFor;
      s->targets.push_back(expect_name());
      while (is_op(",")) {
        ++i_;
        s->targets.push_back(expect_name());
      }
      if (!is_name("in")) fail("expected 'in' in for loop");
      ++i_;
      s->expr = expr_no_ternary();
      if (is_name("if")) {
        ++i_;
        s->cond = expr();
      }
      expect_close_stmt();
      s->body = body({"else", "endfor"});
      ++i_;
      if (expect_name() == "else") {
        expect_close_stmt();
        s->else_body = body({"endfor"});
        ++i_;
        expect_name();
      }
      expect_close_stmt();
      return s;
    }
    if (w == "set") {
      std::string target = expect_name();
      if (is_op(".")) {
        ++i_;
        s->name = expect_name();  // ns.attr
      }
      s->targets.push_back(target);
      if (is_op("=")) {
        ++i_;
        s->kind = Stmt::kSet;
        s->expr = expr();
        expect_close_stmt();
        return s;
      }
      s->kind = Stmt::kSetBlock;
      expect_close_stmt();
      s->body = body({"endset"});
      ++i_;
      expect_name();
      expect_close_stmt();
      return s;
    }
    if (w == "macro") {
      s->kind = Stmt::kMacro;
      s->name = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        std::string p = expect_name();
        ExprPtr def;
        if (is_op("=")) {
          ++i_;
          def = expr();
        }
        s->params.emplace_back(p, std::move(def));
        if (is_op(",")) ++i_;
        else if (!is_op(")")) fail("expected ',' or ')' in macro parameters");
      }
      ++i_;
      expect_close_stmt();
      s->body = body({"endmacro"});
      ++i_;
      expect_name();
      expect_close_stmt();
      return s;
    }
    if (w == "break" || w == "continue") {
      s->kind = w == "break" ? Stmt::kBreak : Stmt::kContinue;
      expect_close_stmt();
      return s;
    }
    if (w == "generation" || w == "endgeneration") {  // training-only markers: no output
      expect_close_stmt();
      return nullptr;
    }
    fail("unknown statement '{% " + w + " %}'");
  }

  // ---- expressions (Jinja precedence) ----
  ExprPtr make(Expr::Kind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  ExprPtr expr() {
    ExprPtr a = expr_or();
    if (is_name("if")) {
      int line = peek().line;
      ++i_;
      ExprPtr c = expr_or();
      ExprPtr b;
      if (is_name("else")) {
        ++i_;
        b = expr();
      }
      auto t = make(Expr::kTernary, line);
      t->kids.push_back(std::move(c));
      t->kids.push_back(std::move(a));
      t->kids.push_back(std::move(b));
      return t;
    }
    return a;
  }
  ExprPtr expr_no_ternary() { return expr_or(); }
  ExprPtr expr_or() {
    ExprPtr a = expr_and();
    while (is_name("or")) {
      int line = peek().line;
      ++i_;
      auto e = make(Expr::kOr, line);
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_and());
      a = std::move(e);
    }
    return a;
  }
  ExprPtr expr_and() {
    ExprPtr a = expr_not();
    while (is_name("and")) {
      int line = peek().line;
      ++i_;
      auto e = make(Expr::kAnd, line);
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_not());
      a = std::move(e);
    }
    return a;
  }
  ExprPtr expr_not() {
    if (is_name("not")) {
      int line = peek().line;
      ++i_;
      auto e = make(Expr::kNot, line);
      e->kids.push_back(expr_not());
      return e;
    }
    return expr_cmp();
  }
  ExprPtr expr_cmp() {
    ExprPtr a = expr_concat();
    while (true) {
      int line = peek().line;
      std::string op;
      if (peek().kind == Tok::kOp && (peek().v == "==" || peek().v == "!=" || peek().v == "<" ||
                                      peek().v == ">" || peek().v == "<=" || peek().v == ">=")) {
        op = next().v;
      } else if (is_name("in")) {
        ++i_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        i_ += 2;
        op = "not in";
      } else {
        return a;
      }
      auto e = make(Expr::kBinary, line);
      e->name = op;
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_concat());
      a = std::move(e);
    }
  }
  ExprPtr expr_concat() {
    ExprPtr a = expr_add();
    while (is_op("~")) {
      int line = peek().line;
      ++i_;
      auto e = make(Expr::kBinary, line);
      e->name = "~";
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_add());
      a = std::move(e);
    }
    return a;
  }
  ExprPtr expr_add() {
    ExprPtr a = expr_mul();
    while (is_op("+") || is_op("-")) {
      int line = peek().line;
      auto e = make(Expr::kBinary, line);
      e->name = next().v;
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_mul());
      a = std::move(e);
    }
    return a;
  }
  ExprPtr expr_mul() {
    ExprPtr a = expr_unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      int line = peek().line;
      auto e = make(Expr::kBinary, line);
      e->name = next().v;
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_unary());
      a = std::move(e);
    }
    return a;
  }
  ExprPtr expr_unary() {
    if (is_op("-") || is_op("+")) {
      int line = peek().line;
      auto e = make(Expr::kUnary, line);
      e->name = next().v;
      e->kids.push_back(expr_unary());
      return e;
    }
    return expr_pow();
  }
  ExprPtr expr_pow() {
    ExprPtr a = expr_filtered();
    if (is_op("**")) {
      int line = peek().line;
      ++i_;
      auto e = make(Expr::kBinary, line);
      e->name = "**";
      e->kids.push_back(std::move(a));
      e->kids.push_back(expr_unary());
      return e;
    }
    return a;
  }
  void call_args(Expr& e) {
    // After '('.
    while (!is_op(")")) {
      if (peek().kind == Tok::kName && is_op("=", 1)) {
        std::string k = next().v;
        ++i_;
        e.kwargs.emplace_back(k, expr());
      } else {
        e.args.push_back(expr());
      }
      if (is_op(",")) ++i_;
      else if (!is_op(")")) fail("expected ',' or ')' in call");
    }
    ++i_;
  }
  ExprPtr expr_filtered() {
    ExprPtr a = expr_postfix();
    while (true) {
      if (is_op("|")) {
        int line = peek().line;
        ++i_;
        auto e = make(Expr::kFilter, line);
        e->name = expect_name();
        e->kids.push_back(std::move(a));
        if (is_op("(")) {
          ++i_;
          call_args(*e);
        }
        a = std::move(e);
        continue;
      }
      if (is_name("is")) {
        int line = peek().line;
        ++i_;
        auto e = make(Expr::kTest, line);
        if (is_name("not")) {
          ++i_;
          e->negate = true;
        }
        e->name = expect_name();
        e->kids.push_back(std::move(a));
        if (is_op("(")) {
          ++i_;
          call_args(*e);
        } else if (peek().kind == Tok::kString || peek().kind == Tok::kInt || peek().kind == Tok::kFloat ||
                   (peek().kind == Tok::kName && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("in") && !is_name("is") && !is_name("not"))) {
          e->args.push_back(expr_postfix());  // "is divisibleby 3", "is equalto 'x'"
        }
        a = std::move(e);
        continue;
      }
      return a;
    }
  }
  ExprPtr expr_postfix() {
    ExprPtr a = primary();
    while (true) {
      int line = peek().line;
      if (is_op(".")) {
        ++i_;
        auto e = make(Expr::kAttr, line);
        if (peek().kind == Tok::kInt) e->name = next().v;  // x.0
        else e->name = expect_name();
        e->kids.push_back(std::move(a));
        a = std::move(e);
      } else if (is_op("[")) {
        ++i_;
        ExprPtr parts[3];
        bool slice = false;
        int idx = 0;
        while (!is_op("]")) {
          if (is_op(":")) {
            slice = true;
            ++idx;
            ++i_;
            if (idx > 2) fail("too many ':' in slice");
            continue;
          }
          parts[idx] = expr();
        }
        ++i_;
        auto e = make(slice ? Expr::kSlice : Expr::kItem, line);
        e->kids.push_back(std::move(a));
        if (slice) {
          for (auto& p : parts) e->kids.push_back(std::move(p));
        } else {
          if (!parts[0]) fail("empty subscript");
          e->kids.push_back(std::move(parts[0]));
        }
        a = std::move(e);
      } else if (is_op("(")) {
        ++i_;
        auto e = make(Expr::kCall, line);
        e->kids.push_back(std::move(a));
        call_args(*e);
        a = std::move(e);
      } else {
        return a;
      }
    }
  }
  ExprPtr primary() {
    const Tok tk = next();
    auto lit = [&](Value v) {
      auto e = make(Expr::kLiteral, tk.line);
      e->literal = std::move(v);
      return e;
    };
    switch (tk.kind) {
      case Tok::kString: {
        std::string s = tk.v;
        while (peek().kind == Tok::kString) s += next().v;  // adjacent literals concatenate
        return lit(Value::string(s));
      }
      case Tok::kInt: return lit(Value::integer(std::stoll(tk.v)));
      case Tok::kFloat: return lit(Value::number(std::stod(tk.v)));
      case Tok::kName: {
        if (tk.v == "true" || tk.v == "True") return lit(Value::boolean(true));
        if (tk.v == "false" || tk.v == "False") return lit(Value::boolean(false));
        if (tk.v == "none" || tk.v == "None") return lit(Value::none());
        auto e = make(Expr::kName, tk.line);
        e->name = tk.v;
        return e;
      }
      case Tok::kOp:
        if (tk.v == "(") {
          ExprPtr first = expr();
          if (is_op(")")) {
            ++i_;
            return first;
          }
          auto t = make(Expr::kTuple, tk.line);
          t->kids.push_back(std::move(first));
          while (is_op(",")) {
            ++i_;
            if (is_op(")")) break;
            t->kids.push_back(expr());
          }
          expect_op(")");
          return t;
        }
        if (tk.v == "[") {
          auto l = make(Expr::kList, tk.line);
          while (!is_op("]")) {
            l->kids.push_back(expr());
            if (is_op(",")) ++i_;
            else if (!is_op("]")) fail("expected ',' or ']' in list");
          }
          ++i_;
          return l;
        }
        if (tk.v == "{") {
          auto d = make(Expr::kDict, tk.line);
          while (!is_op("}")) {
            d->kids.push_back(expr());
            expect_op(":");
            d->kids.push_back(expr());
            if (is_op(",")) ++i_;
            else if (!is_op("}")) fail("expected ',' or '}' in dict");
          }
          ++i_;
          return d;
        }
        break;
      default:
        break;
    }
    --i_;
    fail("unexpected '" + (peek().kind == Tok::kCloseExpr ? std::string("}}") : peek().kind == Tok::kCloseStmt ? std::string("%}") : peek().v) + "' in expression");
  }

  std::vector<Tok> t_;
  size_t i_ = 0;
};

}  // namespace

Expected<Body> parse_template(const std::string& source) {
  try {
    std::string pre = preprocess(source);
    Lexer lx(pre);
    Parser p(lx.run());
    return p.parse_all();
  } catch (const TemplateError& e) {
    return make_error(std::string("chat template: ") + e.what());
  }
}

}  // namespace mlxr::jinja
