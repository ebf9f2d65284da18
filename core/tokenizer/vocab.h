// The vocabulary every loader fills in and every algorithm reads: token texts/scores/types,
// BPE merges, special ids and the flags that pick the encoding rules of a model family.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"
#include "core/tokenizer/pretokenize.h"

namespace mlxr {

// Same numbering as GGUF tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : uint8_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

enum class VocabKind {
  kSpm,        // SentencePiece BPE: merge the best-scoring adjacent pair (scores), ▁ for space
  kBpe,        // ranked merges (GPT-2 byte-level, or HF BPE over characters with byte fallback)
  kWordPiece,  // BERT: greedy longest-prefix with ## continuations
};

// Hash/equality that accept string_view, so lookups do not allocate.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct MergeRule {
  int32_t rank;
  int32_t result;
};

// (left, right) token pair -> merge rule. Open addressing with linear probing: the BPE inner
// loop does one lookup per adjacent pair, so this is the hottest table of encoding.
class MergeTable {
 public:
  void insert(int32_t left, int32_t right, MergeRule rule);
  const MergeRule* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    uint64_t key = pack(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.rule;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    MergeRule rule;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static uint64_t pack(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  static size_t hash(uint64_t k) { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20); }
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

struct Vocab {
  VocabKind kind = VocabKind::kSpm;
  std::vector<std::string> text;  // as stored: ▁ for space (SPM), GPT-2 byte chars (byte-level)
  std::vector<float> score;
  std::vector<TokenType> type;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> index;
  MergeTable merges;
  uint64_t generation = 0;  // unique per finalized vocab: keys the per-thread word caches

  bool byte_level = false;      // GPT-2 byte<->unicode mapping around BPE
  bool byte_fallback = false;   // characters without a token become <0xNN> tokens
  bool ignore_merges = false;   // a pre-token that is itself a token is emitted whole (llama-3)
  bool spm_escape = false;      // ' ' -> ▁ before the model (SentencePiece, HF llama2)
  bool add_space_prefix = false;  // dummy ▁ before the first text (SentencePiece)
  bool remove_extra_whitespaces = false;  // SentencePiece normalizer option (tok512.model)
  bool normalize_nfc = false;   // HF "NFC" normalizer (Qwen2/3)
  bool clean_up_spaces = false;  // HF clean_up_tokenization_spaces: " ." -> "." etc. in decode
  bool wordpiece_lowercase = true;  // BERT uncased: lowercase + strip accents
  // llama.cpp's GGUF spelling of WordPiece: word starts carry ▁, continuations no "##".
  bool wordpiece_phantom_space = false;

  bool add_bos = false, add_eos = false;
  int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1, eom = -1, sep = -1, cls = -1;
  std::vector<int32_t> eog;  // stop tokens

  PreTokenizer pre;  // byte-level and WordPiece splitting rules
  std::string pre_name;
  std::string chat_template;
  // Per-token strip flags of HF added tokens (absorb whitespace left/right when matched).
  std::vector<uint8_t> strip_flags;  // bit0: lstrip, bit1: rstrip

  std::array<int32_t, 256> byte_token{};  // token of each raw byte (<0xNN>, or byte-level char)

  int32_t n_tokens() const { return static_cast<int32_t>(text.size()); }
  int32_t find(std::string_view s) const {
    auto it = index.find(s);
    return it == index.end() ? -1 : it->second;
  }
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t result) {
    if (!merges.find(left, right)) merges.insert(left, right, MergeRule{rank, result});  // first rank wins
  }

  // text -> id (first id wins for duplicate texts). Loaders that need lookups before
  // finalize() (merges) call it early; finalize() builds it when missing.
  void build_index();
  // After texts/types/ids are set: builds the index, byte tokens, EOG set; checks ids.
  Status finalize();
};

// GPT-2's reversible byte -> printable code point map.
uint32_t byte_to_unicode(uint8_t b);
// Inverse: code point -> byte, or -1.
int unicode_to_byte(uint32_t cp);

}  // namespace mlxr
