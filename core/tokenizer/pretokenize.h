// Pre-tokenization: splitting text into the words that BPE/WordPiece then encode. Rules are a
// list of regexes applied in turn (each splits every current piece into matches and the gaps
// between them, as llama.cpp's unicode_regex_split and HF's Split(behavior=Isolated) do), with
// hand-written matchers for the hot GPT-2 and Llama-3/Qwen2 patterns.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace mlxr {

class Regex;

struct PreTokenizer {
  enum class Mode { kNone, kRegex, kBert };
  // Hand-written equivalents of specific patterns (checked against the regex engine in tests).
  enum class Fast { kNone, kGpt2, kLlama3, kQwen2 };
  // What happens to a match (HF SplitDelimiterBehavior): its own piece, dropped, or glued to
  // the piece before / after it.
  enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext };
  struct Rule {
    std::shared_ptr<const Regex> regex;
    Fast fast = Fast::kNone;
    Behavior behavior = Behavior::kIsolated;
  };
  Mode mode = Mode::kNone;
  std::vector<Rule> rules;

  // Appends the words of `text` as [begin, end) byte ranges.
  void split(std::string_view text, std::vector<std::pair<size_t, size_t>>& words) const;

  static Expected<PreTokenizer> from_patterns(const std::vector<std::string>& patterns,
                                              bool use_fast = true,
                                              std::vector<Behavior> behaviors = {});
  // llama.cpp's table of tokenizer.ggml.pre names.
  static Expected<PreTokenizer> for_llama_cpp(const std::string& pre_name);
  static PreTokenizer bert();
};

// The GPT-2 pattern and the Llama-3 pattern (digits in runs of 1..3; Qwen2 uses single digits).
extern const char* const kGpt2Pattern;
extern const char* const kLlama3Pattern;
extern const char* const kQwen2Pattern;

// Hand-written matchers: the end of the match of that pattern starting at cps[pos], where the
// subject is cps[0, n). Exposed for the equivalence tests.
size_t fast_match(PreTokenizer::Fast f, const uint32_t* cps, size_t pos, size_t n);

}  // namespace mlxr
