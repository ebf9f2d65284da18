// Vocabulary loaders, one per source format (internal to core/tokenizer).
#pragma once
#include <string>

#include "core/base/status.h"
#include "core/formats/gguf.h"
#include "core/tokenizer/vocab.h"

namespace mlxr {

// GGUF tokenizer.ggml.* metadata (llama.cpp's rules and defaults per tokenizer model).
Expected<Vocab> load_gguf_vocab(const GgufFile& g);
// llama2.c tokenizer.bin: u32 max_token_length, then per token f32 score, u32 length, bytes.
Expected<Vocab> load_llama2c_vocab(const std::string& path);
// SentencePiece ModelProto (tokenizer.model), BPE models.
Expected<Vocab> load_spm_model_vocab(const std::string& path);
// HF tokenizer.json (+ tokenizer_config.json for BOS/EOS texts and the chat template).
Expected<Vocab> load_hf_json_vocab(const std::string& path, const std::string& config_path);

// Reads a whole file; the error names the path.
Expected<std::string> read_file_bytes(const std::string& path);

}  // namespace mlxr
