#include <queue>
#include <string>
#include <unordered_map>

#include "core/tokenizer/algorithms.h"
#include "core/tokenizer/unicode.h"

namespace mlxr::detail {
namespace {

struct Symbol {
  int prev, next;
  uint32_t off, n;  // bytes of text
};

struct Bigram {
  int left, right;
  float score;
  uint32_t size;
  // Highest score first; among equal scores the leftmost pair.
  bool operator<(const Bigram& o) const {
    return score < o.score || (score == o.score && left > o.left);
  }
};

class Session {
 public:
  Session(const Vocab& v, std::string_view text) : v_(v), text_(text) {}

  void run(std::vector<int32_t>& out) {
    // One symbol per UTF-8 character (an invalid byte is a symbol of its own).
    size_t off = 0;
    const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
    while (off < text_.size()) {
      int len = unicode::valid_utf8_len(s + off, text_.size() - off);
      if (len == 0) len = 1;
      int idx = static_cast<int>(symbols_.size());
      symbols_.push_back({idx - 1, off + len == text_.size() ? -1 : idx + 1,
                          static_cast<uint32_t>(off), static_cast<uint32_t>(len)});
      off += len;
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add(i - 1, i);
    while (!queue_.empty()) {
      Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale pair
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    if (symbols_.empty()) return;
    for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out);
  }

 private:
  int32_t lookup(std::string_view piece) const {
    auto it = v_.index.find(piece);
    if (it == v_.index.end()) return -1;
    // SentencePiece merges only into normal and user-defined pieces: literal "<s>" in text
    // must not become the control token.
    TokenType t = v_.type[it->second];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kByte) return -1;
    return it->second;
  }

  void try_add(int left, int right) {
    if (left < 0 || right < 0) return;
    std::string_view piece = text_.substr(symbols_[left].off, symbols_[left].n + symbols_[right].n);
    int32_t id = lookup(piece);
    if (id < 0) return;
    queue_.push({left, right, v_.score[id], static_cast<uint32_t>(piece.size())});
    rev_merge_[std::string(piece)] = {left, right};
  }

  void resegment(const Symbol& sym, std::vector<int32_t>& out) {
    std::string_view piece = text_.substr(sym.off, sym.n);
    int32_t id = lookup(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge_.find(std::string(piece));
    if (it == rev_merge_.end()) {
      for (unsigned char c : piece) {
        int32_t b = v_.byte_token[c];
        if (b < 0) b = v_.unk;
        if (b >= 0) out.push_back(b);
      }
      return;
    }
    // The piece was a merge of two symbols whose text is still in place.
    Symbol l = symbols_[it->second.first], r = symbols_[it->second.second];
    l.n = static_cast<uint32_t>(r.off - l.off);
    r.n = static_cast<uint32_t>(sym.off + sym.n - r.off);
    resegment(l, out);
    resegment(r, out);
  }

  const Vocab& v_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram> queue_;
  std::unordered_map<std::string, std::pair<int, int>> rev_merge_;
};

}  // namespace

void spm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
  if (text.empty()) return;
  Session(v, text).run(out);
}

}  // namespace mlxr::detail
