#include "daemon/server/modelfile.h"

#include <cctype>
#include <vector>

namespace mlxr::server {

Status parse_modelfile(const std::string& text, std::string* from, registry::ImportOptions* opt) {
  std::vector<std::string> lines;
  size_t i = 0;
  while (i <= text.size()) {
    size_t nl = text.find('\n', i);
    std::string l = text.substr(i, nl == std::string::npos ? std::string::npos : nl - i);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
    if (nl == std::string::npos) break;
    i = nl + 1;
  }
  auto err = [](size_t ln, const std::string& m) { return Status::error("Modelfile line " + std::to_string(ln + 1) + ": " + m); };
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    const std::string& line = lines[ln];
    size_t a = line.find_first_not_of(" \t");
    if (a == std::string::npos || line[a] == '#') continue;
    size_t sp = line.find_first_of(" \t", a);
    std::string kw = line.substr(a, sp == std::string::npos ? std::string::npos : sp - a);
    for (auto& c : kw) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string rest;
    if (sp != std::string::npos) {
      size_t b = line.find_first_not_of(" \t", sp);
      if (b != std::string::npos) rest = line.substr(b);
    }
    size_t start_ln = ln;
    // """ block: up to the closing """ (possibly on a later line).
    if (rest.rfind("\"\"\"", 0) == 0) {
      std::string body = rest.substr(3);
      size_t close = body.find("\"\"\"");
      while (close == std::string::npos) {
        if (++ln >= lines.size()) return err(start_ln, "unterminated \"\"\" block");
        body += "\n" + lines[ln];
        close = body.find("\"\"\"");
      }
      rest = body.substr(0, close);
    } else {
      while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.pop_back();
      if (rest.size() >= 2 && rest.front() == '"' && rest.back() == '"') rest = rest.substr(1, rest.size() - 2);
    }
    if (kw == "FROM") {
      if (rest.empty()) return err(start_ln, "FROM needs a model name or path");
      *from = rest;
    } else if (kw == "TEMPLATE") {
      opt->template_text = rest;
    } else if (kw == "SYSTEM") {
      opt->system = rest;
    } else if (kw == "PARAMETER") {
      size_t s2 = rest.find_first_of(" \t");
      if (s2 == std::string::npos) return err(start_ln, "PARAMETER needs a name and a value");
      std::string key = rest.substr(0, s2);
      std::string val = rest.substr(rest.find_first_not_of(" \t", s2));
      if (val.size() >= 2 && val.front() == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
      if (key == "stop") {
        if (!opt->parameters.contains("stop")) opt->parameters["stop"] = nlohmann::json::array();
        opt->parameters["stop"].push_back(val);
      } else {
        nlohmann::json num = nlohmann::json::parse(val, nullptr, false);
        if (num.is_discarded() || !num.is_number()) return err(start_ln, "PARAMETER " + key + " must be a number, got '" + val + "'");
        opt->parameters[key] = num;
      }
    } else {
      return err(start_ln, "instruction " + kw + " is not supported (FROM, PARAMETER, TEMPLATE, SYSTEM)");
    }
  }
  return Status::ok();
}

}  // namespace mlxr::server
