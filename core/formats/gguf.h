// GGUF v2/v3 reader. Every count, length and offset is checked against the file before use:
// a truncated or hostile file gives an error naming the byte offset, never an out-of-bounds read.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/mmap_file.h"
#include "core/base/status.h"
#include "core/tensor/tensor.h"

namespace mlxr {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// One metadata value. Integers are kept in `i` (and `u` for unsigned 64-bit), floats in `f`;
// arrays keep their elements in the vector that matches their element type.
struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType elem_type = GgufType::U8;  // arrays only
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> strs;
  std::vector<int64_t> ints;
  std::vector<double> floats;

  bool is_integer() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  uint64_t array_size() const { return strs.size() + ints.size() + floats.size(); }
};

class GgufFile {
 public:
  static Expected<std::shared_ptr<GgufFile>> open(const std::string& path);
  // Parse from memory already mapped (the file stays referenced by the result).
  static Expected<std::shared_ptr<GgufFile>> parse(std::shared_ptr<MappedFile> file);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return file_->path(); }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const std::vector<std::string>& key_order() const { return key_order_; }
  const GgufValue* find(const std::string& key) const;
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;  // accepts integers too
  std::optional<bool> get_bool(const std::string& key) const;

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* tensor(const std::string& name) const;
  const std::shared_ptr<MappedFile>& file() const { return file_; }

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<std::string> key_order_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

const char* gguf_type_name(GgufType t);

}  // namespace mlxr
