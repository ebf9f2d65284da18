// GGUF v3 writer. Metadata and tensor infos are declared first; open() writes everything up to
// the data section, then tensor bytes are streamed in declaration order (write() may be called
// many times per tensor), so a model larger than memory can be written row by row. Each tensor
// is padded to the alignment (general.alignment, default 32). The file appears under its name
// only when close() succeeds (it is written to NAME.tmp first).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/formats/gguf.h"
#include "core/tensor/dtype.h"

namespace mlxr {

// Value builders.
GgufValue gguf_u8(uint8_t v);
GgufValue gguf_i8(int8_t v);
GgufValue gguf_u16(uint16_t v);
GgufValue gguf_i16(int16_t v);
GgufValue gguf_u32(uint32_t v);
GgufValue gguf_i32(int32_t v);
GgufValue gguf_u64(uint64_t v);
GgufValue gguf_i64(int64_t v);
GgufValue gguf_f32(float v);
GgufValue gguf_f64(double v);
GgufValue gguf_bool(bool v);
GgufValue gguf_str(std::string v);
GgufValue gguf_str_array(std::vector<std::string> v);
GgufValue gguf_f32_array(const std::vector<float>& v);
// An integer array of the given element type (U8..I64 or BOOL).
GgufValue gguf_int_array(GgufType elem, std::vector<int64_t> v);

struct GgufTensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> ne;  // ggml order, 1..4 dims
  uint64_t offset = 0;      // from the data section start (set by the writer)
  uint64_t nbytes = 0;
};

class GgufWriter {
 public:
  GgufWriter() = default;
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Adds or replaces (in place, keeping its position) a metadata key.
  void set(const std::string& key, GgufValue value);
  void remove(const std::string& key);
  // Copies every key of `src` in file order.
  void copy_metadata(const GgufFile& src);
  const GgufValue* find(const std::string& key) const;

  // Declares the next tensor. Errors for bad names (empty, >= 64 bytes, duplicate), dims
  // (1..4, each >= 1) or a row length that is not a multiple of the type's block.
  Status add_tensor(const std::string& name, DType type, std::vector<int64_t> ne);
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  // Writes header, metadata, tensor infos and padding to PATH.tmp.
  Status open(const std::string& path);
  // Appends bytes of the current tensor (declaration order); never crosses into the next one.
  Status write(const void* data, size_t n);
  // Bytes still expected for the current tensor (0 when all are written).
  uint64_t remaining_in_tensor() const;
  // Checks every tensor was written completely, flushes, and renames PATH.tmp to PATH.
  Status close();
  // Abandons the file (removes PATH.tmp). Also done by the destructor if close() was not reached.
  void abort();

 private:
  Status write_raw(const void* data, size_t n);
  Status pad_to(uint64_t align);

  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::string path_, tmp_path_;
  std::FILE* f_ = nullptr;
  uint32_t alignment_ = 32;
  uint64_t pos_ = 0;          // bytes written so far
  uint64_t data_start_ = 0;
  size_t cur_ = 0;            // tensor being written
  uint64_t cur_written_ = 0;  // bytes of it written
};

}  // namespace mlxr
