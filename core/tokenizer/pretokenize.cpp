#include "core/tokenizer/pretokenize.h"

#include "core/tokenizer/regex.h"
#include "core/tokenizer/unicode.h"

namespace mlxr {

const char* const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* const kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

// Variants of the same patterns as spelled in tokenizer.json files and llama.cpp.
PreTokenizer::Fast recognise(const std::string& p) {
  if (p == kGpt2Pattern ||
      p == "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)")
    return PreTokenizer::Fast::kGpt2;
  if (p == kLlama3Pattern ||
      p == "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
           "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    return PreTokenizer::Fast::kLlama3;
  if (p == kQwen2Pattern ||
      p == "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
           "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    return PreTokenizer::Fast::kQwen2;
  return PreTokenizer::Fast::kNone;
}

inline uint8_t fl(uint32_t cp) { return unicode::flags(cp); }
inline bool is_l(uint32_t cp) { return fl(cp) & unicode::kLetter; }
inline bool is_n(uint32_t cp) { return fl(cp) & unicode::kNumber; }
inline bool is_ws(uint32_t cp) { return fl(cp) & unicode::kWhitespace; }
inline bool is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// 's 't 're 've 'm 'll 'd at pos; returns the length or 0.
size_t contraction(const uint32_t* c, size_t pos, size_t n, bool icase) {
  if (c[pos] != '\'' || pos + 1 >= n) return 0;
  auto low = [&](uint32_t x) { return icase ? unicode::to_lower(x) : x; };
  uint32_t a = low(c[pos + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 < n) {
    uint32_t b = low(c[pos + 2]);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

// \s+(?!\S)|\s+ at pos (pos is whitespace): the run, minus its last char when a non-space
// follows and the run is longer than one.
size_t ws_tail(const uint32_t* c, size_t pos, size_t n) {
  size_t e = pos;
  while (e < n && is_ws(c[e])) ++e;
  if (e < n && e - pos > 1) --e;
  return e;
}

size_t match_gpt2(const uint32_t* c, size_t pos, size_t n) {
  if (size_t k = contraction(c, pos, n, false)) return pos + k;
  size_t p = pos;
  uint32_t x = c[p];
  if (x == ' ' && p + 1 < n) {
    uint32_t y = c[p + 1];
    if (is_l(y) || is_n(y) || !is_ws(y)) p = p + 1, x = y;
  }
  if (is_l(x)) {
    while (p < n && is_l(c[p])) ++p;
    return p;
  }
  if (is_n(x)) {
    while (p < n && is_n(c[p])) ++p;
    return p;
  }
  if (!is_ws(x)) {
    while (p < n && !is_ws(c[p]) && !is_l(c[p]) && !is_n(c[p])) ++p;
    return p;
  }
  return ws_tail(c, pos, n);
}

size_t match_llama3(const uint32_t* c, size_t pos, size_t n, size_t max_digits) {
  if (size_t k = contraction(c, pos, n, true)) return pos + k;
  uint32_t x = c[pos];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_l(x)) {
    size_t p = pos + 1;
    while (p < n && is_l(c[p])) ++p;
    return p;
  }
  if (!is_crlf(x) && !is_n(x) && pos + 1 < n && is_l(c[pos + 1])) {
    size_t p = pos + 2;
    while (p < n && is_l(c[p])) ++p;
    return p;
  }
  // \p{N}{1,max}
  if (is_n(x)) {
    size_t p = pos + 1;
    while (p < n && p - pos < max_digits && is_n(c[p])) ++p;
    return p;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  {
    size_t p = pos;
    if (x == ' ' && p + 1 < n) ++p;
    auto sym = [&](uint32_t y) { return !is_ws(y) && !is_l(y) && !is_n(y); };
    if (p < n && sym(c[p])) {
      while (p < n && sym(c[p])) ++p;
      while (p < n && is_crlf(c[p])) ++p;
      return p;
    }
  }
  // \s*[\r\n]+ : the whitespace run up to and including its last \r or \n.
  if (is_ws(x)) {
    size_t e = pos;
    size_t last_nl = SIZE_MAX;
    while (e < n && is_ws(c[e])) {
      if (is_crlf(c[e])) last_nl = e;
      ++e;
    }
    if (last_nl != SIZE_MAX) return last_nl + 1;
    return ws_tail(c, pos, n);
  }
  return pos + 1;  // unreachable for valid categories: every code point is covered above
}

}  // namespace

size_t fast_match(PreTokenizer::Fast f, const uint32_t* cps, size_t pos, size_t n) {
  switch (f) {
    case PreTokenizer::Fast::kGpt2: return match_gpt2(cps, pos, n);
    case PreTokenizer::Fast::kLlama3: return match_llama3(cps, pos, n, 3);
    case PreTokenizer::Fast::kQwen2: return match_llama3(cps, pos, n, 1);
    default: return pos + 1;
  }
}

Expected<PreTokenizer> PreTokenizer::from_patterns(const std::vector<std::string>& patterns,
                                                   bool use_fast, std::vector<Behavior> behaviors) {
  PreTokenizer p;
  p.mode = Mode::kRegex;
  for (auto& pat : patterns) {
    Rule r;
    auto re = Regex::compile(pat);
    if (!re) return make_error("tokenizer: pre-tokenizer " + re.error());
    r.regex = *re;
    if (p.rules.size() < behaviors.size()) r.behavior = behaviors[p.rules.size()];
    if (use_fast && r.behavior == Behavior::kIsolated) r.fast = recognise(pat);
    p.rules.push_back(std::move(r));
  }
  return p;
}

PreTokenizer PreTokenizer::bert() {
  PreTokenizer p;
  p.mode = Mode::kBert;
  return p;
}

Expected<PreTokenizer> PreTokenizer::for_llama_cpp(const std::string& pre) {
  // Regex lists of llama.cpp's llm_tokenizer_bpe, keyed by the names its converter writes.
  std::vector<std::string> pats;
  auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (pre == n) return true;
    return false;
  };
  if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"})) {
    pats = {kLlama3Pattern};
  } else if (is({"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"})) {
    pats = {kQwen2Pattern};
  } else if (is({"deepseek-llm"})) {
    pats = {"[\r\n]",
            "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}+"};
  } else if (is({"deepseek-coder"})) {
    pats = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
  } else if (is({"deepseek-v3"})) {
    pats = {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
  } else if (is({"falcon"})) {
    pats = {"[\\p{P}\\$\\+<=>\\^~\\|`]+",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "[0-9][0-9][0-9]"};
  } else if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
    pats = {"\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
  } else if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
                 "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais"})) {
    pats = {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
  } else if (is({"poro-chat", "bloom", "gpt3-finnish"})) {
    pats = {" ?[^(\\s|.,!?…。，、।۔،)]+"};
  } else if (is({"viking"})) {
    pats = {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"};
  } else if (is({"tekken"})) {
    pats = {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  } else if (is({"gpt-4o"})) {
    pats = {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  } else if (is({"chameleon"})) {
    pats = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
            "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
  } else if (pre.empty() || is({"default"})) {
    pats = {"[\\p{P}\\$\\+<=>\\^~\\|]+",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "\\p{N}+", "[0-9][0-9][0-9]"};
  } else {
    return make_error("tokenizer: unknown pre-tokenizer '" + pre +
                      "' (tokenizer.ggml.pre); known: llama-bpe, qwen2, gpt-2, deepseek-llm, "
                      "deepseek-coder, starcoder, refact, falcon, tekken, ...");
  }
  return from_patterns(pats);
}

void PreTokenizer::split(std::string_view text, std::vector<std::pair<size_t, size_t>>& words) const {
  if (text.empty()) return;
  if (mode == Mode::kNone) {
    words.push_back({0, text.size()});
    return;
  }
  // Code points with their byte offsets (offs[i]..offs[i+1]).
  thread_local std::vector<uint32_t> cps;
  thread_local std::vector<size_t> offs;
  cps.clear();
  offs.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    offs.push_back(pos);
    cps.push_back(unicode::decode_one(text, pos));
  }
  offs.push_back(text.size());
  const size_t n = cps.size();

  if (mode == Mode::kBert) {
    // Split on whitespace (dropped) and around every punctuation char (BertPreTokenizer).
    size_t i = 0;
    while (i < n) {
      uint32_t c = cps[i];
      if (unicode::is_whitespace(c)) { ++i; continue; }
      bool punct = (unicode::flags(c) & unicode::kPunct) ||
                   (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                   (c >= 123 && c <= 126);
      if (punct) {
        words.push_back({offs[i], offs[i + 1]});
        ++i;
        continue;
      }
      size_t j = i;
      while (j < n && !unicode::is_whitespace(cps[j])) {
        uint32_t d = cps[j];
        bool p = (unicode::flags(d) & unicode::kPunct) || (d >= 33 && d <= 47) ||
                 (d >= 58 && d <= 64) || (d >= 91 && d <= 96) || (d >= 123 && d <= 126);
        if (p) break;
        ++j;
      }
      words.push_back({offs[i], offs[j]});
      i = j;
    }
    return;
  }

  // Pieces as code point ranges, refined by each rule in turn.
  thread_local std::vector<std::pair<size_t, size_t>> pieces, next;
  pieces.assign(1, {0, n});
  for (const Rule& rule : rules) {
    next.clear();
    for (auto [b, e] : pieces) {
      size_t p = b;
      if (rule.fast != Fast::kNone) {
        // These patterns match at every position, so the pieces tile the range.
        while (p < e) {
          size_t m = fast_match(rule.fast, cps.data() + b, p - b, e - b) + b;
          next.push_back({p, m});
          p = m;
        }
        continue;
      }
      // Matches of this piece, then assembled per behavior.
      thread_local std::vector<std::pair<size_t, size_t>> ms;
      ms.clear();
      size_t from = p;
      while (from <= e) {
        size_t mb, me;
        if (!rule.regex->search(cps.data(), b, from, e, mb, me)) break;
        if (me == mb) {  // an empty match splits nothing: look again one code point later
          from = mb + 1;
          continue;
        }
        ms.push_back({mb, me});
        from = me;
      }
      size_t start = b;  // start of the piece being built
      for (auto [mb, me] : ms) {
        switch (rule.behavior) {
          case Behavior::kIsolated:
            if (mb > start) next.push_back({start, mb});
            next.push_back({mb, me});
            start = me;
            break;
          case Behavior::kRemoved:
            if (mb > start) next.push_back({start, mb});
            start = me;
            break;
          case Behavior::kMergedWithPrevious:
            next.push_back({start, me});
            start = me;
            break;
          case Behavior::kMergedWithNext:
            if (mb > start) next.push_back({start, mb});
            start = mb;
            break;
        }
      }
      if (start < e) next.push_back({start, e});
    }
    pieces.swap(next);
  }
  for (auto [b, e] : pieces) words.push_back({offs[b], offs[e]});
}

}  // namespace mlxr
