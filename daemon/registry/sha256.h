// Streaming SHA-256 (OpenSSL EVP) for blob integrity.
#pragma once
#include <memory>
#include <string>

#include "core/base/status.h"

namespace mlxr::registry {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex_digest();  // finalises; call once

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Hashes the first `limit` bytes (all when limit < 0) of a file into `h`.
Status hash_file_into(const std::string& path, Sha256& h, long long limit = -1);
Expected<std::string> sha256_file(const std::string& path);
std::string sha256_string(const std::string& s);
bool is_sha256_hex(const std::string& s);

}  // namespace mlxr::registry
