// Prefix-cache keys: a hash chain over full token blocks. Block i's hash covers the namespace,
// every token of blocks 0..i and nothing else, so equal hashes mean equal prefixes (up to a
// 64-bit collision, which lookups rule out by comparing the block's own tokens and parent).
#pragma once
#include <cstdint>
#include <string_view>

namespace mlxr {

// Seed of a chain: requests in different namespaces (adapters, models) never share blocks.
uint64_t prefix_namespace_seed(std::string_view cache_namespace);

// Hash of one full block given its parent's hash (the seed for block 0).
uint64_t prefix_block_hash(uint64_t parent, const int32_t* tokens, int n_tokens);

}  // namespace mlxr
