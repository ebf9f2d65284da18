// A small argv parser shared by the subcommands: --flag VALUE, --flag=VALUE, -f VALUE,
// boolean switches and positionals. Unknown options are errors, so typos never pass silently.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mlxr::cli {

class Args {
 public:
  // `with_value`: options that take a value (e.g. {"-m", "--model"}); `switches`: boolean ones.
  // Aliases: pass "-m|--model" to register both spellings under the last name.
  Args(int argc, char** argv, const std::vector<std::string>& with_value, const std::vector<std::string>& switches);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& def) const;
  // Typed getters set error() on a malformed number.
  int get_int(const std::string& name, int def);
  double get_double(const std::string& name, double def);
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> canonical_;
  std::set<std::string> takes_value_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positionals_;
  std::string error_;
};

}  // namespace mlxr::cli
