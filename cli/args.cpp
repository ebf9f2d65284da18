#include "cli/args.h"

#include <cstdlib>

namespace mlxr::cli {
namespace {

std::vector<std::string> split_aliases(const std::string& spec) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t bar = spec.find('|', start);
    out.push_back(spec.substr(start, bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

}  // namespace

Args::Args(int argc, char** argv, const std::vector<std::string>& with_value, const std::vector<std::string>& switches) {
  for (const auto& spec : with_value) {
    auto names = split_aliases(spec);
    for (const auto& n : names) canonical_[n] = names.back();
    takes_value_.insert(names.back());
  }
  for (const auto& spec : switches) {
    auto names = split_aliases(spec);
    for (const auto& n : names) canonical_[n] = names.back();
  }
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 2 || a[0] != '-' || a == "--") {
      if (a == "--") {
        for (++i; i < argc; ++i) positionals_.push_back(argv[i]);
        break;
      }
      positionals_.push_back(a);
      continue;
    }
    std::string value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    auto it = canonical_.find(a);
    if (it == canonical_.end()) {
      error_ = "unknown option " + a;
      return;
    }
    const std::string& name = it->second;
    if (takes_value_.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) {
          error_ = "option " + a + " needs a value";
          return;
        }
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      if (inline_value) {
        error_ = "option " + a + " takes no value";
        return;
      }
      flags_.insert(name);
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& def) const {
  auto v = get(name);
  return v ? *v : def;
}

int Args::get_int(const std::string& name, int def) {
  auto v = get(name);
  if (!v) return def;
  char* end = nullptr;
  long x = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || x < -2147483647L || x > 2147483647L) {
    error_ = "option " + name + " expects an integer, got '" + *v + "'";
    return def;
  }
  return static_cast<int>(x);
}

double Args::get_double(const std::string& name, double def) {
  auto v = get(name);
  if (!v) return def;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') {
    error_ = "option " + name + " expects a number, got '" + *v + "'";
    return def;
  }
  return x;
}

}  // namespace mlxr::cli
