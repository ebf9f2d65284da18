#include "core/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <unordered_set>

namespace mlxr::unicode {
namespace {

struct CategoryRun {
  uint32_t first, last;
  uint8_t cat;
};
struct CodepointPair {
  uint32_t cp, value;
};
struct Decomposition {
  uint32_t cp, a, b;  // b == 0: singleton decomposition
};

#include "core/tokenizer/unicode_tables.inc"

uint8_t flags_of_category(Category c, bool ws) {
  uint8_t f = ws ? kWhitespace : 0;
  switch (c) {
    case kLu: case kLl: case kLt: case kLm: case kLo: return f | kLetter;
    case kMn: case kMc: case kMe: return f | kMark;
    case kNd: case kNl: case kNo: return f | kNumber;
    case kPc: case kPd: case kPs: case kPe: case kPi: case kPf: case kPo: return f | kPunct;
    case kSm: case kSc: case kSk: case kSo: return f | kSymbol;
    case kZs: case kZl: case kZp: return f | kSeparator;
    default: return f | kOther;
  }
}

Category lookup_category(uint32_t cp) {
  const auto* end = kCategoryRuns + std::size(kCategoryRuns);
  const auto* it = std::upper_bound(kCategoryRuns, end, cp,
                                    [](uint32_t v, const CategoryRun& r) { return v < r.first; });
  if (it == kCategoryRuns) return kCn;
  --it;
  return cp <= it->last ? static_cast<Category>(it->cat) : kCn;
}

// Dense tables for the BMP (the hot path of every pre-tokenizer); binary search above it.
struct Tables {
  std::array<uint8_t, 0x10000> cat{};
  std::array<uint8_t, 0x10000> flg{};
  std::unordered_map<uint32_t, uint32_t> lower, upper;
  std::unordered_map<uint32_t, uint8_t> ccc;
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> decomp;
  std::unordered_map<uint64_t, uint32_t> compose;
  Tables() {
    std::unordered_set<uint32_t> ws(std::begin(kWhiteSpace), std::end(kWhiteSpace));
    for (uint32_t cp = 0; cp < 0x10000; ++cp) {
      Category c = lookup_category(cp);
      cat[cp] = c;
      flg[cp] = flags_of_category(c, ws.count(cp) > 0);
    }
    for (auto& p : kToLower) lower[p.cp] = p.value;
    for (auto& p : kToUpper) upper[p.cp] = p.value;
    for (auto& p : kCombiningClass) ccc[p.cp] = static_cast<uint8_t>(p.value);
    std::unordered_set<uint32_t> excl(std::begin(kCompositionExclusions),
                                      std::end(kCompositionExclusions));
    for (auto& d : kDecompositions) {
      decomp[d.cp] = {d.a, d.b};
      if (d.b != 0 && !excl.count(d.cp)) compose[(uint64_t(d.a) << 32) | d.b] = d.cp;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

// Hangul syllable arithmetic (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

void decompose_into(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto& d = tables().decomp;
  auto it = d.find(cp);
  if (it == d.end()) {
    out.push_back(cp);
    return;
  }
  decompose_into(it->second.first, out);
  if (it->second.second) decompose_into(it->second.second, out);
}

}  // namespace

Category category(uint32_t cp) {
  if (cp < 0x10000) return static_cast<Category>(tables().cat[cp]);
  if (cp >= 0x110000) return kCn;
  return lookup_category(cp);
}

const uint8_t kAsciiFlags[128] = {
#define C kOther
#define W (kOther | kWhitespace)
#define S (kSeparator | kWhitespace)
#define P kPunct
#define Y kSymbol
#define N kNumber
#define L kLetter
    C, C, C, C, C, C, C, C, C, W, W, W, W, W, C, C,  // 0x00: \t \n \v \f \r are White_Space
    C, C, C, C, C, C, C, C, C, C, C, C, C, C, C, C,
    S, P, P, P, Y, P, P, P, P, P, P, Y, P, P, P, P,  // space ! " # $ % & ' ( ) * + , - . /
    N, N, N, N, N, N, N, N, N, N, P, P, Y, Y, Y, P,  // 0-9 : ; < = > ?
    P, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,  // @ A-O
    L, L, L, L, L, L, L, L, L, L, L, P, P, P, Y, P,  // P-Z [ \ ] ^ _
    Y, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,  // ` a-o
    L, L, L, L, L, L, L, L, L, L, L, P, Y, P, Y, C,  // p-z { | } ~ DEL
#undef C
#undef W
#undef S
#undef P
#undef Y
#undef N
#undef L
};

uint8_t flags_slow(uint32_t cp) {
  if (cp < 0x10000) return tables().flg[cp];
  return flags_of_category(category(cp), false);
}

uint32_t to_lower(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  auto& m = tables().lower;
  auto it = m.find(cp);
  return it == m.end() ? cp : it->second;
}

uint32_t to_upper(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  auto& m = tables().upper;
  auto it = m.find(cp);
  return it == m.end() ? cp : it->second;
}

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  auto& m = tables().ccc;
  auto it = m.find(cp);
  return it == m.end() ? 0 : it->second;
}

int valid_utf8_len(const unsigned char* s, size_t n) {
  if (n == 0) return 0;
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  int len;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; }
  else return 0;
  if (n < static_cast<size_t>(len)) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (int i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

uint32_t decode_one(std::string_view text, size_t& pos) {
  auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  size_t n = text.size() - pos;
  if (s[0] < 0x80) {
    ++pos;
    return s[0];
  }
  int len = valid_utf8_len(s, n);
  if (len == 0) {
    ++pos;
    return kRawByteBase + s[0];
  }
  uint32_t cp = s[0] & (0x7F >> len);
  for (int i = 1; i < len; ++i) cp = (cp << 6) | (s[i] & 0x3F);
  pos += len;
  return cp;
}

std::vector<uint32_t> decode(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) out.push_back(decode_one(text, pos));
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(cp - kRawByteBase);
  }
}

std::string encode(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) append_utf8(out, cp);
  return out;
}

size_t incomplete_utf8_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    int need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (need <= static_cast<int>(back)) return 0;
    // Only hold back what could still become valid.
    for (size_t i = n - back + 1; i < n; ++i)
      if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0;
    return back;
  }
  return 0;
}

std::vector<uint32_t> nfd(const std::vector<uint32_t>& cps) {
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) decompose_into(cp, out);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  size_t i = 0;
  while (i < out.size()) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && combining_class(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + i, out.begin() + j, [](uint32_t a, uint32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = j;
  }
  return out;
}

std::vector<uint32_t> nfc(const std::vector<uint32_t>& cps) {
  std::vector<uint32_t> d = nfd(cps);
  const auto& comp = tables().compose;
  std::vector<uint32_t> out;
  out.reserve(d.size());
  size_t starter = SIZE_MAX;
  int last_cc = 0;  // class of the last character kept after the starter (0: none yet)
  for (uint32_t cp : d) {
    int cc = combining_class(cp);
    bool adjacent = starter != SIZE_MAX && out.size() == starter + 1;
    bool unblocked = adjacent || (starter != SIZE_MAX && last_cc != 0 && last_cc < cc);
    if (unblocked) {
      uint32_t s = out[starter];
      if (adjacent && s >= kLBase && s < kLBase + kLCount && cp >= kVBase &&
          cp < kVBase + kVCount) {
        out[starter] = kSBase + ((s - kLBase) * kVCount + (cp - kVBase)) * kTCount;
        continue;
      }
      if (adjacent && s >= kSBase && s < kSBase + kSCount && (s - kSBase) % kTCount == 0 &&
          cp > kTBase && cp < kTBase + kTCount) {
        out[starter] = s + (cp - kTBase);
        continue;
      }
      auto it = comp.find((uint64_t(s) << 32) | cp);
      if (it != comp.end()) {
        out[starter] = it->second;
        continue;
      }
    }
    if (cc == 0) {
      starter = out.size();
      last_cc = 0;
    } else {
      last_cc = cc;
    }
    out.push_back(cp);
  }
  return out;
}

std::string nfc(std::string_view text) {
  // Fast path: ASCII is always NFC.
  bool ascii = true;
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  if (ascii) return std::string(text);
  return encode(nfc(decode(text)));
}

}  // namespace mlxr::unicode
