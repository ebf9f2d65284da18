// Unicode for tokenizers: UTF-8 decoding that never fails (invalid bytes become "raw byte"
// code points that encode back to the same byte), general categories and White_Space from the
// generated UCD tables, simple case mapping, and NFC/NFD.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlxr::unicode {

// General categories, in the order of tools/unicode/gen_unicode_tables.py.
enum Category : uint8_t {
  kLu, kLl, kLt, kLm, kLo, kMn, kMc, kMe, kNd, kNl, kNo, kPc, kPd, kPs, kPe,
  kPi, kPf, kPo, kSm, kSc, kSk, kSo, kZs, kZl, kZp, kCc, kCf, kCs, kCo, kCn,
};

// One byte of flags per code point, what the pre-tokenizer regexes ask about.
enum Flag : uint8_t {
  kLetter = 1, kNumber = 2, kPunct = 4, kSymbol = 8, kMark = 16, kSeparator = 32,
  kWhitespace = 64,  // Unicode White_Space (what \s matches in Rust/Oniguruma regexes)
  kOther = 128,      // C*: control, format, surrogate, private use, unassigned
};

// Invalid UTF-8 bytes decode to kRawByteBase + byte: outside Unicode, category Cn, and
// encode back to the single original byte, so byte-level tokenizers round-trip any input.
constexpr uint32_t kRawByteBase = 0x110000;

Category category(uint32_t cp);
uint8_t flags_slow(uint32_t cp);
// ASCII answers come from a constant table (the hot path of English text).
extern const uint8_t kAsciiFlags[128];
inline uint8_t flags(uint32_t cp) { return cp < 128 ? kAsciiFlags[cp] : flags_slow(cp); }
inline bool is_whitespace(uint32_t cp) { return flags(cp) & kWhitespace; }
uint32_t to_lower(uint32_t cp);
uint32_t to_upper(uint32_t cp);
uint8_t combining_class(uint32_t cp);

// Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one.
int valid_utf8_len(const unsigned char* s, size_t n);
// Decodes the code point at text[pos], advancing pos (always by at least one byte).
uint32_t decode_one(std::string_view text, size_t& pos);
std::vector<uint32_t> decode(std::string_view text);
void append_utf8(std::string& out, uint32_t cp);
std::string encode(const std::vector<uint32_t>& cps);
// Bytes at the end of s that start an incomplete (but so far valid) UTF-8 sequence.
size_t incomplete_utf8_tail(std::string_view s);

std::vector<uint32_t> nfd(const std::vector<uint32_t>& cps);
std::vector<uint32_t> nfc(const std::vector<uint32_t>& cps);
std::string nfc(std::string_view text);

}  // namespace mlxr::unicode
