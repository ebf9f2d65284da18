#include "daemon/registry/names.h"

#include <cctype>

namespace mlxr::registry {

static bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

Expected<std::string> normalize_name(const std::string& raw) {
  auto bad = [&](const std::string& why) {
    return make_error("registry: invalid model name '" + raw.substr(0, 80) + "': " + why +
                      " (use letters, digits, '.', '_', '-', optional '/' namespaces and one ':tag')");
  };
  if (raw.empty()) return bad("empty");
  if (raw.size() > 200) return bad("longer than 200 characters");
  std::string base = raw, tag = "latest";
  size_t colon = raw.rfind(':');
  if (colon != std::string::npos) {
    base = raw.substr(0, colon);
    tag = raw.substr(colon + 1);
    if (tag.empty()) return bad("empty tag after ':'");
    for (char c : tag)
      if (!name_char(c)) return bad("tag has a character outside [A-Za-z0-9._-]");
    if (tag[0] == '.' || tag[0] == '-') return bad("tag must start with a letter or digit");
  }
  if (base.empty()) return bad("empty name before ':'");
  size_t start = 0;
  while (true) {
    size_t slash = base.find('/', start);
    std::string part = base.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty()) return bad("empty path segment (leading, trailing or double '/')");
    if (part == "." || part == "..") return bad("'.' and '..' segments are not allowed");
    if (!std::isalnum(static_cast<unsigned char>(part[0]))) return bad("each segment must start with a letter or digit");
    for (char c : part)
      if (!name_char(c)) return bad("character '" + std::string(1, c) + "' is not allowed");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (char c : base) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out + ":" + tag;
}

std::string name_from_basename(const std::string& p) {
  std::string s = p;
  size_t q = s.find_first_of("?#");
  if (q != std::string::npos) s = s.substr(0, q);
  while (!s.empty() && s.back() == '/') s.pop_back();
  size_t slash = s.rfind('/');
  if (slash != std::string::npos) s = s.substr(slash + 1);
  for (const char* ext : {".gguf", ".bin", ".safetensors"}) {
    std::string e = ext;
    if (s.size() > e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0) {
      s.resize(s.size() - e.size());
      break;
    }
  }
  std::string out;
  for (char c : s) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += name_char(l) ? l : '-';
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out[0]))) out.erase(0, 1);
  if (out.empty()) out = "model";
  if (out.size() > 120) out.resize(120);
  return out + ":latest";
}

}  // namespace mlxr::registry
