#include "daemon/registry/sha256.h"

#include <cstdio>
#include <vector>

#include <openssl/evp.h>

namespace mlxr::registry {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_->md, data, n); }

std::string Sha256::hex_digest() {
  unsigned char out[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) s += hex[out[i] >> 4], s += hex[out[i] & 15];
  return s;
}

Status hash_file_into(const std::string& path, Sha256& h, long long limit) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::error("registry: cannot read " + path);
  std::vector<char> buf(1 << 20);
  long long left = limit;
  while (limit < 0 || left > 0) {
    size_t want = buf.size();
    if (limit >= 0 && static_cast<long long>(want) > left) want = static_cast<size_t>(left);
    size_t n = std::fread(buf.data(), 1, want, f);
    if (n == 0) break;
    h.update(buf.data(), n);
    left -= static_cast<long long>(n);
  }
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return Status::error("registry: read error in " + path);
  return Status::ok();
}

Expected<std::string> sha256_file(const std::string& path) {
  Sha256 h;
  MLXR_RETURN_IF_ERROR(hash_file_into(path, h));
  return h.hex_digest();
}

std::string sha256_string(const std::string& s) {
  Sha256 h;
  h.update(s.data(), s.size());
  return h.hex_digest();
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace mlxr::registry
