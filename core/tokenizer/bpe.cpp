#include <array>
#include <queue>
#include <unordered_map>
#include <string>

#include "core/tokenizer/algorithms.h"
#include "core/tokenizer/unicode.h"

namespace mlxr::detail {
namespace {

struct Sym {
  int32_t id;
  int prev, next;
};

struct Cand {
  int32_t rank;
  int left, right;
  int32_t left_id, right_id, result;
  // Lowest rank first, then leftmost.
  bool operator<(const Cand& o) const { return rank > o.rank || (rank == o.rank && left > o.left); }
};

// The byte-level spelling of raw bytes (what byte-level vocab entries are written in).
const std::string& byte_level_text(std::string_view word) {
  static const auto table = [] {
    std::array<std::string, 256> t;
    for (int b = 0; b < 256; ++b) unicode::append_utf8(t[b], byte_to_unicode(static_cast<uint8_t>(b)));
    return t;
  }();
  thread_local std::string s;
  s.clear();
  for (unsigned char c : word) s += table[c];
  return s;
}

}  // namespace

namespace {

// Per-thread cache of word -> ids (like HF's BPE cache): English text repeats its words, and the
// merge loop is the expensive part. Keyed by the vocab generation, bounded in size.
struct WordCache {
  uint64_t generation = 0;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
};
thread_local WordCache t_cache;
constexpr size_t kCacheMaxEntries = 1 << 16;
constexpr size_t kCacheMaxWordBytes = 64;

void bpe_merge_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out);

}  // namespace

void clear_bpe_cache() { t_cache.map.clear(); }

void bpe_encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (word.size() > kCacheMaxWordBytes) return bpe_merge_word(v, word, out);
  if (t_cache.generation != v.generation) {
    t_cache.map.clear();
    t_cache.generation = v.generation;
  }
  auto it = t_cache.map.find(word);
  if (it != t_cache.map.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  size_t mark = out.size();
  bpe_merge_word(v, word, out);
  if (t_cache.map.size() >= kCacheMaxEntries) t_cache.map.clear();
  t_cache.map.emplace(std::string(word), std::vector<int32_t>(out.begin() + mark, out.end()));
}

namespace {

void bpe_merge_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out) {
  if (v.ignore_merges) {
    int32_t id = v.byte_level ? v.find(byte_level_text(word)) : v.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  thread_local std::vector<Sym> syms;
  syms.clear();
  auto push = [&](int32_t id) {
    int i = static_cast<int>(syms.size());
    syms.push_back({id, i - 1, i + 1});
  };
  if (v.byte_level) {
    for (unsigned char c : word) push(v.byte_token[c]);
  } else {
    size_t pos = 0;
    bool last_unk = false;
    while (pos < word.size()) {
      size_t start = pos;
      unicode::decode_one(word, pos);
      std::string_view ch = word.substr(start, pos - start);
      int32_t id = v.find(ch);
      if (id >= 0) {
        push(id);
        last_unk = false;
        continue;
      }
      bool all_bytes = v.byte_fallback;
      for (unsigned char c : ch) all_bytes = all_bytes && v.byte_token[c] >= 0;
      if (all_bytes) {
        for (unsigned char c : ch) push(v.byte_token[c]);
        last_unk = false;
      } else if (v.unk >= 0 && !last_unk) {
        push(v.unk);  // consecutive unknown characters fuse into one unk (HF fuse_unk)
        last_unk = true;
      }
    }
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  auto rule = [&](int l, int r, Cand& c) {
    if (l < 0 || r < 0) return false;
    int32_t a = syms[l].id, b = syms[r].id;
    if (a < 0 || b < 0) return false;
    const MergeRule* m = v.merges.find(a, b);
    if (!m) return false;
    c = {m->rank, l, r, a, b, m->result};
    return true;
  };

  const int n = static_cast<int>(syms.size());
  if (n > 1) {
    thread_local std::vector<Cand> heap_storage;
    heap_storage.clear();
    std::priority_queue<Cand, std::vector<Cand>> q(std::less<Cand>(), std::move(heap_storage));
    Cand c;
    for (int i = 0; i + 1 < n; ++i)
      if (rule(i, i + 1, c)) q.push(c);
    while (!q.empty()) {
      Cand t = q.top();
      q.pop();
      Sym& l = syms[t.left];
      if (l.id != t.left_id || l.next != t.right || syms[t.right].id != t.right_id) continue;
      Sym& r = syms[t.right];
      l.id = t.result;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = t.left;
      r.id = -2;  // dead
      if (rule(l.prev, t.left, c)) q.push(c);
      if (rule(t.left, l.next, c)) q.push(c);
    }
  }
  for (int i = 0; i != -1; i = syms[i].next) {
    if (syms[i].id >= 0) out.push_back(syms[i].id);
    else if (v.unk >= 0) out.push_back(v.unk);
  }
}

}  // namespace

void wordpiece_encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out) {
  // Greedy longest prefix, then longest prefix of the rest. Continuations are spelled "##x"
  // (HF) or the word start is spelled "▁x" (llama.cpp GGUF). A word with an unmatched rest,
  // or longer than 100 characters (HF max_input_chars_per_word), is one [UNK].
  if (word.empty()) return;
  size_t n_chars = 0;
  for (unsigned char c : word) n_chars += (c & 0xC0) != 0x80;
  const size_t mark = out.size();
  auto unk = [&] {
    out.resize(mark);
    if (v.unk >= 0) out.push_back(v.unk);
  };
  if (n_chars > 100) return unk();
  std::string w = v.wordpiece_phantom_space ? "\xE2\x96\x81" + std::string(word) : std::string(word);
  size_t start = 0;
  std::string sub;
  while (start < w.size()) {
    size_t end = w.size();
    int32_t found = -1;
    while (end > start) {
      sub.clear();
      if (start > 0 && !v.wordpiece_phantom_space) sub = "##";
      sub.append(w, start, end - start);
      int32_t id = v.find(sub);
      if (id >= 0) {
        found = id;
        break;
      }
      do { --end; } while (end > start && (static_cast<unsigned char>(w[end]) & 0xC0) == 0x80);
    }
    if (found < 0) return unk();
    out.push_back(found);
    start = end;
  }
}

}  // namespace mlxr::detail
