// Syntax tree of the chat-template language (internal to core/tokenizer).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/tokenizer/jinja_value.h"

namespace mlxr::jinja {

struct Expr {
  enum Kind {
    kLiteral, kName, kAttr, kItem, kSlice, kCall, kFilter, kTest, kUnary, kBinary, kAnd, kOr, kNot,
    kTernary, kList, kDict, kTuple,
  } kind;
  int line = 0;
  Value literal;                                   // kLiteral
  std::string name;                                // kName, kAttr, kFilter, kTest, op of kUnary/kBinary
  std::vector<std::unique_ptr<Expr>> kids;         // operands / items / slice parts (null = omitted)
  std::vector<std::unique_ptr<Expr>> args;         // call/filter/test positional args
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  bool negate = false;                             // kTest: "is not"
};
using ExprPtr = std::unique_ptr<Expr>;

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  enum Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue, kCallBlock } kind;
  int line = 0;
  std::string text;                                 // kText
  ExprPtr expr;                                     // kOutput, kSet value, kFor iterable
  std::vector<std::pair<ExprPtr, Body>> branches;   // kIf: (cond, body)...
  Body body, else_body;                             // kFor, kMacro, kSetBlock; else: kIf, kFor
  std::vector<std::string> targets;                 // kFor loop vars, kSet name (or ns, attr)
  ExprPtr cond;                                     // kFor filter
  std::string name;                                 // kMacro name, kSet attr target
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro params with defaults
};

// Parses template source (after trim/lstrip preprocessing) into statements.
Expected<Body> parse_template(const std::string& source);

}  // namespace mlxr::jinja
