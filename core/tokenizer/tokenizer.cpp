#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "core/tokenizer/algorithms.h"
#include "core/tokenizer/loaders.h"
#include "core/tokenizer/unicode.h"

namespace mlxr {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // ▁

void escape_spaces(std::string_view in, std::string& out) {
  for (char c : in) {
    if (c == ' ') out += kSpace;
    else out += c;
  }
}

// SentencePiece's remove_extra_whitespaces: drop leading/trailing spaces, collapse runs.
std::string collapse_spaces(std::string_view in) {
  std::string out;
  bool pending = false;
  for (char c : in) {
    if (c == ' ') {
      pending = !out.empty();
      continue;
    }
    if (pending) out += ' ';
    pending = false;
    out += c;
  }
  return out;
}

bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BERT's BasicTokenizer normalisation: drop controls, whitespace -> ' ', CJK isolated,
// lowercase + strip accents (NFD, drop Mn) when uncased.
std::string bert_normalize(std::string_view text, bool lowercase) {
  std::vector<uint32_t> cps = unicode::decode(text);
  if (lowercase) cps = unicode::nfd(cps);
  std::string out;
  for (uint32_t cp : cps) {
    if (cp == 0 || cp == 0xFFFD || cp >= unicode::kRawByteBase) continue;
    auto cat = unicode::category(cp);
    if (unicode::is_whitespace(cp)) {
      out += ' ';
      continue;
    }
    if (cat == unicode::kCc || cat == unicode::kCf) continue;
    if (lowercase) {
      if (cat == unicode::kMn) continue;
      cp = unicode::to_lower(cp);
    }
    if (is_cjk(cp)) {
      out += ' ';
      unicode::append_utf8(out, cp);
      out += ' ';
      continue;
    }
    unicode::append_utf8(out, cp);
  }
  return out;
}

}  // namespace

Expected<std::shared_ptr<Tokenizer>> Tokenizer::from_vocab(Vocab v) {
  MLXR_RETURN_IF_ERROR(v.finalize());
  auto t = std::make_shared<Tokenizer>();
  t->vocab_ = std::move(v);
  const Vocab& vv = t->vocab_;
  for (int32_t i = 0; i < vv.n_tokens(); ++i) {
    TokenType ty = vv.type[i];
    if ((ty == TokenType::kControl || ty == TokenType::kUserDefined || ty == TokenType::kUnknown) &&
        !vv.text[i].empty())
      t->specials_.push_back(i);
  }
  std::stable_sort(t->specials_.begin(), t->specials_.end(), [&](int32_t a, int32_t b) {
    return vv.text[a].size() > vv.text[b].size();
  });
  t->specials_by_byte_.assign(256, {});
  for (int32_t id : t->specials_) {
    unsigned char b = static_cast<unsigned char>(vv.text[id][0]);
    t->specials_by_byte_[b].push_back(id);
    t->special_start_[0][b] = true;
    if (vv.type[id] == TokenType::kUserDefined) t->special_start_[1][b] = true;
  }
  return t;
}

Expected<std::shared_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& g) {
  MLXR_ASSIGN_OR_RETURN(Vocab v, load_gguf_vocab(g));
  return from_vocab(std::move(v));
}

Expected<std::shared_ptr<Tokenizer>> Tokenizer::load(const TokenizerSource& src) {
  switch (src.kind) {
    case TokenizerSource::kGguf: {
      MLXR_ASSIGN_OR_RETURN(auto g, GgufFile::open(src.path));
      return from_gguf(*g);
    }
    case TokenizerSource::kHfJson: {
      MLXR_ASSIGN_OR_RETURN(Vocab v, load_hf_json_vocab(src.path, src.config_path));
      return from_vocab(std::move(v));
    }
    case TokenizerSource::kSpmModel: {
      MLXR_ASSIGN_OR_RETURN(Vocab v, load_spm_model_vocab(src.path));
      return from_vocab(std::move(v));
    }
    case TokenizerSource::kLlama2cBin: {
      MLXR_ASSIGN_OR_RETURN(Vocab v, load_llama2c_vocab(src.path));
      return from_vocab(std::move(v));
    }
    case TokenizerSource::kNone:
      break;
  }
  return make_error("tokenizer: the model names no tokenizer (pass one with --tokenizer)");
}

Expected<std::shared_ptr<Tokenizer>> Tokenizer::load_path(const std::string& path) {
  namespace fs = std::filesystem;
  TokenizerSource src;
  src.path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json")) {
      src.kind = TokenizerSource::kHfJson;
      src.path = (dir / "tokenizer.json").string();
      if (fs::exists(dir / "tokenizer_config.json")) src.config_path = (dir / "tokenizer_config.json").string();
    } else if (fs::exists(dir / "tokenizer.model")) {
      src.kind = TokenizerSource::kSpmModel;
      src.path = (dir / "tokenizer.model").string();
    } else {
      return make_error("tokenizer: " + path + " has neither tokenizer.json nor tokenizer.model");
    }
    return load(src);
  }
  if (!fs::exists(path, ec)) return make_error("tokenizer: " + path + ": no such file");
  std::string ext = fs::path(path).extension().string();
  if (ext == ".gguf") src.kind = TokenizerSource::kGguf;
  else if (ext == ".json") {
    src.kind = TokenizerSource::kHfJson;
    auto cfg = fs::path(path).parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg)) src.config_path = cfg.string();
  } else if (ext == ".model") src.kind = TokenizerSource::kSpmModel;
  else if (ext == ".bin") src.kind = TokenizerSource::kLlama2cBin;
  else
    return make_error("tokenizer: cannot tell the format of " + path +
                      " (expected .gguf, tokenizer.json, tokenizer.model or a llama2.c .bin)");
  return load(src);
}

bool Tokenizer::is_eog(int32_t id) const {
  for (int32_t e : vocab_.eog)
    if (e == id) return true;
  return false;
}

bool Tokenizer::is_control(int32_t id) const {
  if (id < 0 || id >= vocab_.n_tokens()) return false;
  TokenType t = vocab_.type[id];
  return t == TokenType::kControl || t == TokenType::kUnknown;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string empty;
  if (id < 0 || id >= vocab_.n_tokens()) return empty;
  return vocab_.text[id];
}

std::string Tokenizer::describe() const {
  std::string k = vocab_.kind == VocabKind::kSpm ? "spm" : vocab_.kind == VocabKind::kBpe ? "bpe" : "wpm";
  if (!vocab_.pre_name.empty()) k += " (" + vocab_.pre_name + ")";
  return k;
}

void Tokenizer::encode_text(std::string_view text, bool first_fragment, std::vector<int32_t>& out) const {
  const Vocab& v = vocab_;
  if (text.empty()) return;
  if (v.kind == VocabKind::kSpm || (v.kind == VocabKind::kBpe && v.spm_escape)) {
    std::string collapsed;
    if (v.remove_extra_whitespaces) {
      collapsed = collapse_spaces(text);
      if (collapsed.empty()) return;
      text = collapsed;
    }
    std::string s;
    s.reserve(text.size() + 8);
    if (v.add_space_prefix && first_fragment) s += kSpace;
    escape_spaces(text, s);
    if (v.kind == VocabKind::kSpm) {
      detail::spm_encode(v, s, out);
    } else {
      std::vector<std::pair<size_t, size_t>> words;
      v.pre.split(s, words);
      for (auto [b, e] : words) detail::bpe_encode_word(v, std::string_view(s).substr(b, e - b), out);
    }
    return;
  }
  if (v.kind == VocabKind::kWordPiece) {
    std::string norm = bert_normalize(text, v.wordpiece_lowercase);
    std::vector<std::pair<size_t, size_t>> words;
    v.pre.split(norm, words);
    for (auto [b, e] : words)
      detail::wordpiece_encode_word(v, std::string_view(norm).substr(b, e - b), out);
    return;
  }
  // Byte-level BPE.
  std::string normalized;
  if (v.normalize_nfc) {
    normalized = unicode::nfc(text);
    text = normalized;
  }
  thread_local std::vector<std::pair<size_t, size_t>> words;
  words.clear();
  v.pre.split(text, words);
  for (auto [b, e] : words) detail::bpe_encode_word(v, text.substr(b, e - b), out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = vocab_;
  std::vector<int32_t> out;
  const bool wpm = v.kind == VocabKind::kWordPiece;
  int32_t first = wpm ? (v.cls >= 0 ? v.cls : v.bos) : v.bos;
  if (add_special && (wpm ? first >= 0 : v.add_bos)) out.push_back(first);

  bool prev_special = true;  // the SentencePiece dummy prefix goes on the first fragment
  size_t frag = 0, pos = 0;
  const auto& starts = special_start_[parse_special ? 0 : 1];
  while (pos < text.size()) {
    if (!starts[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto& cands = specials_by_byte_[static_cast<unsigned char>(text[pos])];
    int32_t hit = -1;
    for (int32_t id : cands) {
      TokenType t = v.type[id];
      if (!parse_special && t != TokenType::kUserDefined) continue;
      const std::string& s = v.text[id];
      if (text.compare(pos, s.size(), s) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++pos;
      continue;
    }
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
    size_t frag_end = pos;
    if (v.strip_flags[hit] & 1)  // lstrip: the token absorbs whitespace on its left
      while (frag_end > frag && space(text[frag_end - 1])) --frag_end;
    encode_text(text.substr(frag, frag_end - frag), prev_special, out);
    out.push_back(hit);
    pos += v.text[hit].size();
    if (v.strip_flags[hit] & 2)  // rstrip: and on its right
      while (pos < text.size() && space(text[pos])) ++pos;
    frag = pos;
    prev_special = true;
  }
  encode_text(text.substr(frag), prev_special, out);

  if (add_special) {
    if (wpm) {
      int32_t last = v.sep >= 0 ? v.sep : v.eos;
      if (last >= 0) out.push_back(last);
    } else if (v.add_eos) {
      out.push_back(v.eos);
    }
  }
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  const Vocab& v = vocab_;
  if (id < 0 || id >= v.n_tokens()) return "";
  const std::string& t = v.text[id];
  TokenType ty = v.type[id];
  if (ty == TokenType::kControl || ty == TokenType::kUnknown) return t;
  if (ty == TokenType::kByte) {
    // <0xNN>
    if (t.size() == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x' && t[5] == '>') {
      auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
      return std::string(1, static_cast<char>(hex(t[3]) * 16 + hex(t[4])));
    }
    return t;
  }
  if (v.kind == VocabKind::kWordPiece) {
    if (v.wordpiece_phantom_space) return t.rfind(kSpace, 0) == 0 ? " " + t.substr(3) : t;
    if (t.rfind("##", 0) == 0) return t.substr(2);
    return " " + t;
  }
  if (v.byte_level && ty != TokenType::kUserDefined) {
    std::string out;
    size_t pos = 0;
    while (pos < t.size()) {
      size_t start = pos;
      uint32_t cp = unicode::decode_one(t, pos);
      int b = unicode_to_byte(cp);
      if (b >= 0) out += static_cast<char>(b);
      else out.append(t, start, pos - start);
    }
    return out;
  }
  if (v.spm_escape || v.kind == VocabKind::kSpm) {
    std::string out;
    out.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
      if (t.compare(i, 3, kSpace) == 0) {
        out += ' ';
        i += 3;
      } else {
        out += t[i++];
      }
    }
    return out;
  }
  return t;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  bool at_start = true;
  const bool strip = vocab_.add_space_prefix || vocab_.kind == VocabKind::kWordPiece;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_.n_tokens()) continue;
    if (skip_special && is_control(id)) continue;
    std::string piece = token_to_piece(id);
    if (piece.empty()) continue;
    if (at_start && strip && piece[0] == ' ') piece.erase(0, 1);
    at_start = false;
    out += piece;
  }
  if (vocab_.clean_up_spaces) {
    // HF's clean_up_tokenization, in its order.
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (auto [from, to] : kRules) {
      std::string res;
      std::string_view f(from);
      size_t pos = 0;
      while (true) {
        size_t q = out.find(f, pos);
        if (q == std::string::npos) break;
        res.append(out, pos, q - pos);
        res += to;
        pos = q + f.size();
      }
      res.append(out, pos, std::string::npos);
      out.swap(res);
    }
  }
  return out;
}

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tok, bool strip_first_space)
    : tok_(tok), strip_next_(strip_first_space && tok.vocab().add_space_prefix) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  if (id == tok_.bos_id()) {
    strip_next_ = tok_.vocab().add_space_prefix;
    return "";
  }
  if (tok_.is_control(id)) return "";
  std::string piece = tok_.token_to_piece(id);
  if (strip_next_ && !piece.empty()) {
    if (piece[0] == ' ') piece.erase(0, 1);
    strip_next_ = false;
  }
  pending_ += piece;
  // Emit every complete character; replace bytes that can never become valid with U+FFFD.
  std::string out;
  size_t hold = unicode::incomplete_utf8_tail(pending_);
  size_t limit = pending_.size() - hold;
  const auto* s = reinterpret_cast<const unsigned char*>(pending_.data());
  size_t i = 0;
  while (i < limit) {
    int len = unicode::valid_utf8_len(s + i, limit - i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(pending_, i, len);
      i += len;
    }
  }
  pending_.erase(0, limit);
  return out;
}

std::string IncrementalDetokenizer::flush() {
  std::string out;
  if (!pending_.empty()) out = "\xEF\xBF\xBD";
  pending_.clear();
  return out;
}

std::string StopStringMatcher::push(std::string_view text) {
  if (stopped_) return "";
  held_ += text;
  // A complete stop string: emit what precedes the earliest one.
  size_t best = std::string::npos;
  for (auto& s : stops_) {
    if (s.empty()) continue;
    size_t p = held_.find(s);
    if (p != std::string::npos && p < best) {
      best = p;
      matched_ = s;
    }
  }
  if (best != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, best);
    held_.clear();
    return out;
  }
  // Hold back the longest suffix that is a prefix of some stop string.
  size_t keep = 0;
  for (auto& s : stops_) {
    size_t max = std::min(s.size() - (s.empty() ? 0 : 1), held_.size());
    for (size_t k = max; k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStringMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(held_);
  held_.clear();
  return out;
}

}  // namespace mlxr
