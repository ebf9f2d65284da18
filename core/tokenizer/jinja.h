// A compiled chat template: parse once, render many times with a JSON context
// (messages, tools, add_generation_prompt, bos_token, ...).
#pragma once
#include <memory>
#include <string>

#include "core/base/json.h"
#include "core/base/status.h"

namespace mlxr::jinja {

struct Stmt;

class Template {
 public:
  static Expected<std::shared_ptr<const Template>> parse(const std::string& source);
  // Errors ("chat template: line N: ...", or the template's own raise_exception message) are
  // returned, never thrown.
  Expected<std::string> render(const Json& context) const;
  ~Template();

 private:
  Template() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxr::jinja
