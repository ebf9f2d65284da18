// The per-word encoding algorithms behind Tokenizer::encode (internal to core/tokenizer).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/tokenizer/vocab.h"

namespace mlxr::detail {

// SentencePiece BPE over `text` (spaces already escaped to ▁): start from UTF-8 characters,
// repeatedly merge the adjacent pair whose concatenation is the best-scoring token (leftmost on
// ties), then emit tokens, splitting pieces without a token back into their merge history and
// finally into <0xNN> byte tokens (llama.cpp's llm_tokenizer_spm, SentencePiece's bpe_model).
void spm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out);

// Ranked-merge BPE of one pre-token. Byte-level vocabs start from one symbol per byte; others
// from one symbol per character (with <0xNN> byte fallback or unk for unknown characters).
// The lowest-rank adjacent pair merges first, leftmost on ties (HF tokenizers, llama.cpp).
void bpe_encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out);
// Empties this thread's word cache (benchmarks measure cold encoding with it).
void clear_bpe_cache();

// BERT WordPiece of one word (already lowercased/stripped when the vocab is uncased).
void wordpiece_encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out);

}  // namespace mlxr::detail
