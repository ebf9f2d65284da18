#include "core/tokenizer/vocab.h"

#include <atomic>
#include <cstdio>

#include "core/tokenizer/unicode.h"

namespace mlxr {

uint32_t byte_to_unicode(uint8_t b) {
  // Printable Latin-1 bytes map to themselves; the other 68 bytes to 256, 257, ... in order.
  auto printable = [](int c) {
    return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
  };
  if (printable(b)) return b;
  uint32_t n = 0;
  for (int c = 0; c < b; ++c)
    if (!printable(c)) ++n;
  return 256 + n;
}

int unicode_to_byte(uint32_t cp) {
  static const auto table = [] {
    std::array<int16_t, 324> t;
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[byte_to_unicode(static_cast<uint8_t>(b))] = static_cast<int16_t>(b);
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

void MergeTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  size_t cap = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(cap, Slot{kEmpty, {0, 0}});
  mask_ = cap - 1;
  size_ = 0;
  for (auto& s : old)
    if (s.key != kEmpty) insert(int32_t(s.key >> 32), int32_t(s.key & 0xFFFFFFFFu), s.rule);
}

void MergeTable::insert(int32_t left, int32_t right, MergeRule rule) {
  if ((size_ + 1) * 2 > slots_.size()) grow();  // load factor <= 1/2
  uint64_t key = pack(left, right);
  for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) {
      s.rule = rule;
      return;
    }
    if (s.key == kEmpty) {
      s = Slot{key, rule};
      ++size_;
      return;
    }
  }
}

void Vocab::build_index() {
  index.clear();
  index.reserve(text.size() * 2);
  for (int32_t i = 0; i < n_tokens(); ++i) index.emplace(text[i], i);
}

Status Vocab::finalize() {
  static std::atomic<uint64_t> next_generation{1};
  generation = next_generation++;
  const int32_t n = n_tokens();
  if (n == 0) return Status::error("tokenizer: the vocabulary is empty");
  if (static_cast<int32_t>(type.size()) != n) type.resize(n, TokenType::kNormal);
  if (static_cast<int32_t>(score.size()) != n) score.resize(n, 0.0f);
  strip_flags.resize(n, 0);
  if (index.empty()) build_index();

  byte_token.fill(-1);
  for (int b = 0; b < 256; ++b) {
    if (byte_level) {
      std::string s;
      unicode::append_utf8(s, byte_to_unicode(static_cast<uint8_t>(b)));
      byte_token[b] = find(s);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      byte_token[b] = find(buf);
      if (byte_token[b] < 0 && b < 0x80) byte_token[b] = find(std::string(1, static_cast<char>(b)));
    }
  }

  for (int32_t* id : {&bos, &eos, &unk, &pad, &eot, &eom, &sep, &cls})
    if (*id >= n || *id < -1) *id = -1;  // an out-of-range id in metadata is treated as absent
  if (add_bos && bos < 0) add_bos = false;
  if (add_eos && eos < 0) add_eos = false;

  // Stop tokens: the declared ids plus the end-of-turn markers the families use.
  eog.clear();
  auto add = [&](int32_t id) {
    if (id < 0) return;
    for (int32_t e : eog)
      if (e == id) return;
    eog.push_back(id);
  };
  add(eos);
  add(eot);
  add(eom);
  static const char* kStopTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
      "<EOT>", "_<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|END_OF_TURN_TOKEN|>",
  };
  for (const char* t : kStopTexts) {
    int32_t id = find(t);
    if (id >= 0 && (type[id] == TokenType::kControl || type[id] == TokenType::kUserDefined)) add(id);
  }
  return Status::ok();
}

}  // namespace mlxr
