// A small backtracking regex engine over code points, for pre-tokenizer patterns
// (tokenizer.json "Split" regexes and llama.cpp's per-family lists). Perl/Oniguruma semantics:
// leftmost-first alternation, greedy/lazy quantifiers, (?:...), (?i:...), (?=...), (?!...),
// ^ $, classes with ranges, \s \S \d \D \w \W \p{..} \P{..} (L, N, P, S, M, Z, C and their
// two-letter subcategories), escapes \r \n \t \f \v \x.. \u.... Quantifiers apply to anything
// that matches exactly one code point (a class, a literal, or a group of lookaheads + one class)
// and `?` applies to any group; other repeated groups are rejected with a clear error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace mlxr {

class Regex {
 public:
  static Expected<std::shared_ptr<const Regex>> compile(std::string_view pattern);

  // Leftmost match starting in cps[from, end), where the subject is cps[begin, end) (^, $ and
  // lookaheads see only that range). Returns true and [mbegin, mend) on success.
  bool search(const uint32_t* cps, size_t begin, size_t from, size_t end, size_t& mbegin,
              size_t& mend) const;
  // Match starting exactly at `pos`; returns the end or SIZE_MAX.
  size_t match_at(const uint32_t* cps, size_t pos, size_t end) const;

  const std::string& pattern() const { return pattern_; }
  struct Impl;
  ~Regex();

 private:
  Regex() = default;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxr
