// Helpers shared by the tokenizer tests: file reading, JSONL rows, id formatting.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <map>
#include <memory>

#include "core/base/json.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/support/test_data.h"

namespace mlxr::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<Json> read_jsonl(const std::string& path) {
  std::vector<Json> rows;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = Json::parse(line);
    if (j) rows.push_back(*j);
  }
  return rows;
}

inline std::vector<int32_t> ids_of(const Json& arr) {
  std::vector<int32_t> v;
  for (auto& e : arr.as_array()) v.push_back(static_cast<int32_t>(e.as_int()));
  return v;
}

inline std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t i : ids) s += " " + std::to_string(i);
  return s;
}

// Printable form of a test string for failure messages.
inline std::string quoted(const std::string& s) {
  std::string out;
  json_escape(out, s);
  return out;
}

inline std::string source_dir() { return MLXR_SOURCE_DIR; }

// Loads a tokenizer once per test binary (the big vocabularies take a while to parse).
inline Expected<std::shared_ptr<Tokenizer>> cached_tokenizer(const std::string& path) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  auto t = Tokenizer::load_path(path);
  if (t) cache[path] = *t;
  return t;
}

}  // namespace mlxr::testing
