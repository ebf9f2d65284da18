// Text <-> token ids for every model family MLXR loads: SentencePiece (GGUF "llama",
// tokenizer.model, llama2.c tokenizer.bin), byte-level BPE (GGUF "gpt2", HF tokenizer.json),
// HF BPE with byte fallback (Llama 2 tokenizer.json) and WordPiece (GGUF "bert").
// Exactness references: llama.cpp's vocab test vectors, SentencePiece, llama2.c, HF tokenizers.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/formats/gguf.h"
#include "core/formats/model_file.h"
#include "core/tokenizer/vocab.h"

namespace mlxr {

class Tokenizer {
 public:
  // From a TokenizerSource (GGUF metadata, HF tokenizer.json (+ tokenizer_config.json),
  // SentencePiece tokenizer.model, llama2.c tokenizer.bin).
  static Expected<std::shared_ptr<Tokenizer>> load(const TokenizerSource& src);
  static Expected<std::shared_ptr<Tokenizer>> from_gguf(const GgufFile& g);
  // Guesses the kind from the path: .gguf, .json (or a directory with tokenizer.json),
  // .model, .bin.
  static Expected<std::shared_ptr<Tokenizer>> load_path(const std::string& path);
  static Expected<std::shared_ptr<Tokenizer>> from_vocab(Vocab v);

  // add_special: BOS/EOS as the model's rules say. parse_special: recognise the text of
  // control tokens (<|eot_id|>, <s>, ...); user-defined tokens are always recognised.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // The bytes this token contributes to text (▁ -> space, <0xNN> -> the byte, byte-level
  // chars -> bytes; control tokens give their text).
  std::string token_to_piece(int32_t id) const;
  // Concatenated pieces, control/unknown tokens left out when skip_special; drops the one
  // leading space the SentencePiece dummy prefix added (as HF's decoder does).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const;

  int n_vocab() const { return vocab_.n_tokens(); }
  int32_t bos_id() const { return vocab_.bos; }
  int32_t eos_id() const { return vocab_.eos; }
  int32_t eot_id() const { return vocab_.eot; }
  int32_t unk_id() const { return vocab_.unk; }
  bool add_bos() const { return vocab_.add_bos; }
  bool add_eos() const { return vocab_.add_eos; }
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const;  // control or unknown: left out of decoded text
  const std::vector<int32_t>& eog_ids() const { return vocab_.eog; }
  // Token text as stored in the vocabulary ("▁Hello", "ĠHello", "<0x0A>"), "" for a bad id.
  const std::string& token_text(int32_t id) const;
  int32_t token_id(const std::string& text) const { return vocab_.find(text); }
  std::string chat_template() const { return vocab_.chat_template; }
  void set_chat_template(std::string t) { vocab_.chat_template = std::move(t); }
  // Texts of BOS/EOS for chat templates ("" when absent).
  std::string bos_text() const { return token_text(vocab_.bos); }
  std::string eos_text() const { return token_text(vocab_.eos); }
  const Vocab& vocab() const { return vocab_; }
  // "spm", "bpe" or "wpm", plus the pre-tokenizer name, for `mlxr show` and errors.
  std::string describe() const;

  // One text fragment, without specials (exposed for the algorithm tests).
  void encode_text(std::string_view text, bool first_fragment, std::vector<int32_t>& out) const;

 private:
  Vocab vocab_;
  std::vector<int32_t> specials_;  // special/user-defined tokens, longest text first
  std::vector<std::vector<int32_t>> specials_by_byte_;  // first byte -> candidates
  // First bytes worth checking: [0] with parse_special (any special), [1] without (user-defined).
  std::array<std::array<bool, 256>, 2> special_start_{};
};

// Streaming detokenizer: push ids as they are generated, get back only complete UTF-8.
// Follows llama2.c/HF for the SentencePiece space: the piece right after BOS (or the first
// piece, with strip_first_space) loses one leading space. Control tokens give no text.
// Bytes that can never become valid UTF-8 come out as U+FFFD.
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tok, bool strip_first_space = false);
  std::string push(int32_t id);
  // Whatever is held back (an incomplete sequence at the end), as U+FFFD.
  std::string flush();

 private:
  const Tokenizer& tok_;
  std::string pending_;
  bool strip_next_;
};

// Finds stop strings in streamed text: holds back the tail that could still be the start of
// a stop string, so a stop that spans tokens is never half-emitted.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Appends text; returns the text that is safe to emit now. Sets stopped() when a stop
  // string completed (the stop string and anything after it are not emitted).
  std::string push(std::string_view text);
  std::string flush();  // the held-back tail, at end of stream (no stop seen)
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace mlxr
