// safetensors reader: u64 header length, JSON header, byte buffer. Every tensor's dtype, shape
// and data_offsets are checked against each other and the file (no overlap, no gaps, inside
// the buffer) before any view is handed out.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/mmap_file.h"
#include "core/base/status.h"
#include "core/tensor/tensor.h"

namespace mlxr {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;            // as written: "F32", "BF16", "I64", ...
  std::vector<int64_t> shape;   // PyTorch order (outermost first)
  uint64_t offset = 0;          // into the file (not the buffer)
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;
};

class SafetensorsFile {
 public:
  static Expected<std::shared_ptr<SafetensorsFile>> open(const std::string& path);
  static Expected<std::shared_ptr<SafetensorsFile>> parse(std::shared_ptr<MappedFile> file);

  const std::string& path() const { return file_->path(); }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::shared_ptr<MappedFile>& file() const { return file_; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Bytes per element of a safetensors dtype name; 0 for unknown or sub-byte types.
size_t safetensors_dtype_size(const std::string& dtype);

// The engine dtype for a safetensors tensor: F32/F16/BF16 (and integer types), or an error.
Expected<DType> safetensors_dtype(const SafetensorsTensor& t);

// A TensorView over t (ggml order: ne[0] = last PyTorch axis). Rank must be <= 4.
Expected<TensorView> safetensors_view(const SafetensorsTensor& t, const std::string& ggml_name);

}  // namespace mlxr

namespace mlxr {

// The GGUF name of an HF tensor name (model.layers.3.self_attn.q_proj.weight ->
// blk.3.attn_q.weight); empty when the name is not a known llama-family tensor.
// Mixtral experts: block_sparse_moe.gate -> blk.N.ffn_gate_inp, experts.E.{w1,w3,w2} ->
// blk.N.ffn_{gate,up,down}.E.weight (llama.cpp's per-expert legacy names).
std::string hf_to_gguf_name(const std::string& hf_name);

}  // namespace mlxr
