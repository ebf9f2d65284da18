// llama2.c legacy checkpoints (what run.c reads): 7 int32 header, then fp32 arrays.
#pragma once
#include <cstdint>
#include <string>

#include <memory>

#include "core/base/mmap_file.h"
#include "core/base/status.h"

namespace mlxr {

struct Llama2cHeader {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier() const { return vocab_size > 0; }
};

// Total file size the header implies (28-byte header + all fp32 arrays incl. freq_cis and, when
// unshared, wcls), or an error for impossible headers.
Expected<uint64_t> llama2c_expected_size(const Llama2cHeader& h);

class ModelFile;

// open_llama2c_model on bytes already mapped (or in memory); the tokenizer is looked up beside
// file->path().
Expected<std::shared_ptr<ModelFile>> parse_llama2c_model(std::shared_ptr<MappedFile> file);

// The tokenizer .bin next to a checkpoint: tok<vocab>.bin, else tokenizer.bin; empty if none.
std::string llama2c_find_tokenizer(const std::string& model_path, int vocab_size);

}  // namespace mlxr
