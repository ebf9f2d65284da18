// A synthetic SentencePiece-style vocabulary of any size >= 259: <unk>, <s>, </s>, the 256
// byte tokens <0x00>..<0xFF>, then pieces ("▁", letters, "▁a", "ab", ...) whose scores rank
// them, each reachable by merging two earlier pieces. Written as llama.cpp's SPM metadata
// (GGUF) or as an HF tokenizer.json (BPE with byte fallback, as Llama 2's).
#pragma once
#include <string>
#include <vector>

#include "core/base/status.h"

namespace mlxr {
class GgufWriter;
}

namespace mlxr::tools {

struct SynthVocab {
  std::vector<std::string> tokens;  // SentencePiece text ("▁" for space)
  std::vector<float> scores;
  std::vector<int> types;  // llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte
  // For piece i (a normal token), the two earlier pieces it merges from; empty for singles.
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

Expected<SynthVocab> make_vocab(int n_vocab);

void write_gguf_tokenizer(const SynthVocab& v, GgufWriter& w);
// tokenizer.json and tokenizer_config.json text.
std::string hf_tokenizer_json(const SynthVocab& v);
std::string hf_tokenizer_config_json(int n_ctx);

}  // namespace mlxr::tools
