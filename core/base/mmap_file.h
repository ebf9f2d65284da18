// Read-only memory-mapped file. Weights are used in place: no copy at load.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"

namespace mlxr {

class MappedFile {
 public:
  static Expected<std::shared_ptr<MappedFile>> open(const std::string& path);
  // Bytes already in memory, presented as a file (`path` is for messages). Tests use it: an
  // exact-size heap copy lets AddressSanitizer catch any read past the end, which an mmap'd
  // page (zero-filled to the page size) would hide.
  static std::shared_ptr<MappedFile> from_bytes(std::string path, std::vector<uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  std::vector<uint8_t> owned_;  // from_bytes only; otherwise data_ is an mmap
};

// Whole-file read for small text files (config.json, tokenizer.json).
Expected<std::string> read_text_file(const std::string& path);

}  // namespace mlxr
