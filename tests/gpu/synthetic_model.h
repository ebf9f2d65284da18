// An in-memory llama-family ModelFile with random weights of one storage type (norms F32), for
// GPU-vs-CPU model tests and the GPU benchmark. Quantized weights are real quantizations of
// random floats (small models) or random blocks with sane scales (large ones, where the values
// do not matter but the bytes moved do).
#pragma once
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/base/fp16.h"
#include "core/formats/model_file.h"
#include "core/quant/quant.h"

namespace mlxr::gputest {

struct SynthShape {
  int n_vocab = 300, n_embd = 512, n_layer = 2, n_head = 8, n_head_kv = 2, n_ff = 768;
  DType type = DType::F32;
  DType output_type = DType::F32;  // output.weight (Q4_K_M-style models keep it Q6_K)
  bool qkv_bias = false;
  bool random_blocks = false;  // fill quantized weights with random blocks instead of quantizing
  bool share_layers = false;   // every layer views the same host bytes (the backend copies them)
};

namespace detail {

inline void fill_random_bytes(uint8_t* p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    std::memcpy(p + i, &s, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(s >> (8 * (i & 7)));
}

// Overwrites the fp16 scale fields of random blocks with small normal numbers.
inline void sanitize_blocks(DType t, uint8_t* p, size_t n_blocks) {
  const uint16_t d = fp32_to_fp16(0.0011f), dm = fp32_to_fp16(0.0007f);
  const uint32_t bb = dtype_info(t).block_bytes;
  for (size_t b = 0; b < n_blocks; ++b) {
    uint8_t* q = p + b * bb;
    switch (t) {
      case DType::Q8_0: case DType::Q4_0: std::memcpy(q, &d, 2); break;
      case DType::Q4_K: case DType::Q5_K: std::memcpy(q, &d, 2); std::memcpy(q + 2, &dm, 2); break;
      case DType::Q6_K: std::memcpy(q + 208, &d, 2); break;
      default: break;
    }
  }
}

}  // namespace detail

class SynthModel {
 public:
  std::shared_ptr<ModelFile> file = std::make_shared<ModelFile>();

  explicit SynthModel(const SynthShape& s, uint64_t seed = 1) {
    ModelHParams& hp = file->hparams;
    hp.arch = "llama";
    hp.n_vocab = s.n_vocab;
    hp.n_embd = s.n_embd;
    hp.n_layer = s.n_layer;
    hp.n_head = s.n_head;
    hp.n_head_kv = s.n_head_kv;
    hp.head_dim = s.n_embd / s.n_head;
    hp.n_ff = s.n_ff;
    hp.n_ctx_train = 8192;
    hp.rms_eps = 1e-5f;
    hp.rope.n_dims = hp.head_dim;
    hp.rope.theta = 500000.0f;
    file->path = "synthetic";
    file->format = "memory";
    std::mt19937 rng(static_cast<unsigned>(seed));
    const int64_t e = s.n_embd, hd = hp.head_dim, nq = s.n_head * hd, nkv = s.n_head_kv * hd;
    add("token_embd.weight", s.type, e, s.n_vocab, rng, s, 0.5f);
    add("output.weight", s.output_type, e, s.n_vocab, rng, s, 0.05f);
    add("output_norm.weight", DType::F32, e, 1, rng, s, 1.0f, true);
    for (int il = 0; il < s.n_layer; ++il) {
      const std::string p = "blk." + std::to_string(il) + ".";
      const bool reuse = s.share_layers && il > 0;
      auto w = [&](const std::string& name, DType t, int64_t cols, int64_t rows, float scale, bool norm = false) {
        if (reuse) {
          TensorView v = file->tensors.at("blk.0." + name);
          v.name = p + name;
          file->tensors[v.name] = v;
        } else {
          add(p + name, t, cols, rows, rng, s, scale, norm);
        }
      };
      w("attn_norm.weight", DType::F32, e, 1, 1.0f, true);
      w("attn_q.weight", s.type, e, nq, 1.0f / std::sqrt(float(e)));
      w("attn_k.weight", s.type, e, nkv, 1.0f / std::sqrt(float(e)));
      w("attn_v.weight", s.type, e, nkv, 1.0f / std::sqrt(float(e)));
      w("attn_output.weight", s.type, nq, e, 1.0f / std::sqrt(float(nq)));
      if (s.qkv_bias) {
        w("attn_q.bias", DType::F32, nq, 1, 0.1f);
        w("attn_k.bias", DType::F32, nkv, 1, 0.1f);
        w("attn_v.bias", DType::F32, nkv, 1, 0.1f);
      }
      w("ffn_norm.weight", DType::F32, e, 1, 1.0f, true);
      w("ffn_gate.weight", s.type, e, s.n_ff, 1.0f / std::sqrt(float(e)));
      w("ffn_up.weight", s.type, e, s.n_ff, 1.0f / std::sqrt(float(e)));
      w("ffn_down.weight", s.type, s.n_ff, e, 1.0f / std::sqrt(float(s.n_ff)));
    }
  }

 private:
  void add(const std::string& name, DType t, int64_t cols, int64_t rows, std::mt19937& rng, const SynthShape& s,
           float scale, bool norm = false) {
    const size_t rb = *row_bytes(t, cols);
    auto buf = std::make_shared<std::vector<uint8_t>>(rb * rows);
    if (s.random_blocks && t != DType::F32) {
      detail::fill_random_bytes(buf->data(), buf->size(), rng());
      if (dtype_info(t).quantized) {
        detail::sanitize_blocks(t, buf->data(), buf->size() / dtype_info(t).block_bytes);
      } else {  // F16/BF16: random signs and mantissas, magnitudes in [2^-7, 2^-6)
        auto* h = reinterpret_cast<uint16_t*>(buf->data());
        const size_t n = buf->size() / 2;
        if (t == DType::F16) {
          for (size_t i = 0; i < n; ++i) h[i] = static_cast<uint16_t>((h[i] & 0x83FF) | 0x2000);
        } else {
          for (size_t i = 0; i < n; ++i) h[i] = static_cast<uint16_t>((h[i] & 0x807F) | 0x3C00);
        }
      }
    } else {
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        for (auto& x : row) x = norm ? 1.0f + 0.2f * u(rng) : scale * u(rng);
        auto st = quantize_row(t, row.data(), buf->data() + r * rb, cols);
        (void)st;
      }
    }
    TensorView v;
    v.name = name;
    v.type = t;
    v.n_dims = rows == 1 ? 1 : 2;
    v.ne = {cols, rows, 1, 1};
    v.data = buf->data();
    v.nbytes = buf->size();
    file->tensors[name] = v;
    file->owners.push_back(buf);
  }
};

}  // namespace mlxr::gputest
