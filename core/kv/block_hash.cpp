#include "core/kv/block_hash.h"

namespace mlxr {
namespace {

// splitmix64 finaliser: a cheap bijective mix with full avalanche.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t prefix_namespace_seed(std::string_view ns) {
  // FNV-1a over the bytes, then mixed; the length is folded in so "" and "\0" differ.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : ns) h = (h ^ c) * 0x100000001b3ull;
  return mix64(h ^ (static_cast<uint64_t>(ns.size()) << 32));
}

uint64_t prefix_block_hash(uint64_t parent, const int32_t* tokens, int n_tokens) {
  uint64_t h = mix64(parent ^ 0x6a09e667f3bcc909ull);
  for (int i = 0; i < n_tokens; ++i) h = mix64(h ^ static_cast<uint32_t>(tokens[i]));
  return mix64(h ^ static_cast<uint64_t>(n_tokens));
}

}  // namespace mlxr
