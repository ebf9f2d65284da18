#include "tools/synth/synth.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/base/fp16.h"
#include "core/formats/gguf_writer.h"
#include "core/quant/quant.h"
#include "tools/synth/parallel.h"
#include "tools/synth/types.h"
#include "tools/synth/vocab.h"

namespace mlxr::tools {
namespace fs = std::filesystem;

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Values of 1-D tensors are rounded to the weight dtype, so an F16 HF checkpoint (norms in
// F16) and the GGUF (norms in F32) hold exactly the same numbers.
float round_to(DType t, float x) {
  if (t == DType::F16) return fp16_to_fp32(fp32_to_fp16(x));
  if (t == DType::BF16) return bf16_to_fp32(fp32_to_bf16(x));
  return x;
}

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    default: return nullptr;
  }
}

// Converts rows [r0, r1) of t into `out` (type `tt`), in GGUF order when `gguf`.
Status encode_rows(const SynthOptions& o, const SynthTensor& t, DType tt, bool gguf, int64_t r0, int64_t r1,
                   std::vector<uint8_t>& out) {
  const size_t rb = *row_bytes(tt, static_cast<uint64_t>(t.cols));
  out.resize(static_cast<size_t>(r1 - r0) * rb);
  std::vector<Status> errors(std::max(1u, std::thread::hardware_concurrency()));
  parallel_ranges(r1 - r0, [&](int64_t b, int64_t e, int w) {
    std::vector<float> row(static_cast<size_t>(t.cols));
    for (int64_t r = r0 + b; r < r0 + e; ++r) {
      int64_t src = gguf && t.permute_heads ? permuted_source_row(r, t.rows, t.permute_heads) : r;
      synth_row(o.seed, o.stddev, t, src, row.data());
      if (t.one_d)
        for (auto& x : row) x = round_to(o.type, x);
      auto st = quantize_row(tt, row.data(), out.data() + static_cast<size_t>(r - r0) * rb, t.cols);
      if (!st) {
        errors[w] = st;
        return;
      }
    }
  });
  for (const auto& st : errors)
    if (!st) return Status::error("synth: tensor " + t.gguf_name + ": " + st.message());
  return Status::ok();
}

// Rows per write: about 4 MiB of output.
int64_t chunk_rows(const SynthTensor& t, DType tt) {
  size_t rb = *row_bytes(tt, static_cast<uint64_t>(t.cols));
  return std::max<int64_t>(1, static_cast<int64_t>((4u << 20) / rb));
}

void report(const Progress& p, size_t i, size_t n, const std::string& name, DType tt) {
  if (p) p("[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + name + " " + dtype_name(tt));
}

Status write_gguf(const SynthOptions& o, const Progress& progress) {
  const ModelShape& s = o.shape;
  auto vocab = make_vocab(s.n_vocab);
  if (!vocab) return vocab.status();
  GgufWriter w;
  const std::string a = s.arch + ".";
  w.set("general.architecture", gguf_str(s.arch));
  w.set("general.name", gguf_str("mlxr-synth " + s.preset));
  w.set("general.file_type", gguf_u32(llama_ftype(o.type)));
  if (dtype_info(o.type).quantized) w.set("general.quantization_version", gguf_u32(2));
  w.set(a + "vocab_size", gguf_u32(static_cast<uint32_t>(s.n_vocab)));
  w.set(a + "context_length", gguf_u32(static_cast<uint32_t>(s.n_ctx)));
  w.set(a + "embedding_length", gguf_u32(static_cast<uint32_t>(s.n_embd)));
  w.set(a + "block_count", gguf_u32(static_cast<uint32_t>(s.n_layer)));
  w.set(a + "feed_forward_length", gguf_u32(static_cast<uint32_t>(s.n_ff)));
  w.set(a + "attention.head_count", gguf_u32(static_cast<uint32_t>(s.n_head)));
  w.set(a + "attention.head_count_kv", gguf_u32(static_cast<uint32_t>(s.n_head_kv)));
  w.set(a + "rope.dimension_count", gguf_u32(static_cast<uint32_t>(s.head_dim())));
  w.set(a + "rope.freq_base", gguf_f32(s.rope_theta));
  w.set(a + "attention.layer_norm_rms_epsilon", gguf_f32(s.rms_eps));
  write_gguf_tokenizer(*vocab, w);

  auto plan = synth_plan(s);
  std::vector<DType> types;
  for (const auto& t : plan) {
    DType tt = t.one_d ? DType::F32 : fallback_type(o.type, t.cols);
    types.push_back(tt);
    std::vector<int64_t> ne = t.one_d ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.cols, t.rows};
    auto st = w.add_tensor(t.gguf_name, tt, ne);
    if (!st) return st;
  }
  auto st = w.open(o.out);
  if (!st) return st;
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& t = plan[i];
    report(progress, i, plan.size(), t.gguf_name, types[i]);
    const int64_t step = chunk_rows(t, types[i]);
    for (int64_t r = 0; r < t.rows; r += step) {
      int64_t r1 = std::min(t.rows, r + step);
      st = encode_rows(o, t, types[i], true, r, r1, buf);
      if (!st) return st;
      st = w.write(buf.data(), buf.size());
      if (!st) return st;
    }
  }
  return w.close();
}

Status write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.close();
  if (!f) return Status::error("synth: cannot write " + p.string());
  return Status::ok();
}

std::string hf_config_json(const ModelShape& s, DType t) {
  const bool qwen = s.arch == "qwen2";
  nlohmann::ordered_json j = {
      {"architectures", {qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", qwen ? "qwen2" : "llama"},
      {"vocab_size", s.n_vocab},
      {"hidden_size", s.n_embd},
      {"intermediate_size", s.n_ff},
      {"num_hidden_layers", s.n_layer},
      {"num_attention_heads", s.n_head},
      {"num_key_value_heads", s.n_head_kv},
      {"head_dim", s.head_dim()},
      {"hidden_act", "silu"},
      {"max_position_embeddings", s.n_ctx},
      {"rms_norm_eps", s.rms_eps},
      {"rope_theta", s.rope_theta},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", s.tied},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"torch_dtype", t == DType::F32 ? "float32" : t == DType::F16 ? "float16" : "bfloat16"},
  };
  if (qwen) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = s.n_ctx;
    j["max_window_layers"] = s.n_layer;
  } else {
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
  }
  return j.dump(2) + "\n";
}

Status write_safetensors(const SynthOptions& o, const Progress& progress) {
  const ModelShape& s = o.shape;
  const char* dt = st_dtype(o.type);
  if (!dt) return Status::error(std::string("synth: safetensors holds F32, F16 or BF16 weights, not ") + dtype_name(o.type));
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return Status::error("synth: cannot create directory " + o.out + ": " + ec.message());
  auto vocab = make_vocab(s.n_vocab);
  if (!vocab) return vocab.status();

  auto plan = synth_plan(s);
  const size_t esize = dtype_info(o.type).block_bytes;
  nlohmann::ordered_json hdr;
  hdr["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (const auto& t : plan) {
    uint64_t n = static_cast<uint64_t>(t.rows * t.cols) * esize;
    nlohmann::ordered_json shape = t.one_d ? nlohmann::ordered_json::array({t.cols}) : nlohmann::ordered_json::array({t.rows, t.cols});
    hdr[t.hf_name] = {{"dtype", dt}, {"shape", shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string h = hdr.dump();
  while ((8 + h.size()) % 8 != 0) h += ' ';  // data starts 8-byte aligned, as the reference writer does

  const fs::path path = fs::path(o.out) / "model.safetensors";
  const std::string tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::error("synth: cannot create " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const std::string& m) {
    std::fclose(f);
    std::remove(tmp.c_str());
    return Status::error("synth: " + tmp + ": " + m);
  };
  uint64_t n = h.size();
  if (std::fwrite(&n, 8, 1, f) != 1 || std::fwrite(h.data(), 1, h.size(), f) != h.size()) return fail("write failed");
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& t = plan[i];
    report(progress, i, plan.size(), t.hf_name, o.type);
    const int64_t step = chunk_rows(t, o.type);
    for (int64_t r = 0; r < t.rows; r += step) {
      auto st = encode_rows(o, t, o.type, false, r, std::min(t.rows, r + step), buf);
      if (!st) return fail(st.message());
      if (std::fwrite(buf.data(), 1, buf.size(), f) != buf.size()) return fail("write failed");
    }
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    return Status::error("synth: cannot finish " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::error("synth: cannot rename " + tmp + ": " + ec.message());

  auto st = write_text(fs::path(o.out) / "config.json", hf_config_json(s, o.type));
  if (!st) return st;
  st = write_text(fs::path(o.out) / "tokenizer.json", hf_tokenizer_json(*vocab));
  if (!st) return st;
  return write_text(fs::path(o.out) / "tokenizer_config.json", hf_tokenizer_config_json(s.n_ctx));
}

}  // namespace

std::vector<SynthTensor> synth_plan(const ModelShape& s) {
  std::vector<SynthTensor> p;
  const int64_t d = s.n_embd, kv = static_cast<int64_t>(s.n_head_kv) * s.head_dim(), q = static_cast<int64_t>(s.n_head) * s.head_dim();
  // convert_hf_to_gguf permutes llama q/k for normal RoPE; Qwen2 stays NeoX in GGUF.
  const bool permute = s.arch == "llama";
  auto add = [&](std::string hf, std::string gg, int64_t rows, int64_t cols, SynthTensor::Init init, int heads = 0) {
    SynthTensor t;
    t.hf_name = std::move(hf);
    t.gguf_name = std::move(gg);
    t.rows = rows;
    t.cols = cols;
    t.one_d = init != SynthTensor::kWeight;
    t.init = init;
    t.permute_heads = permute ? heads : 0;
    p.push_back(std::move(t));
  };
  add("model.embed_tokens.weight", "token_embd.weight", s.n_vocab, d, SynthTensor::kWeight);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    const std::string g = "blk." + std::to_string(l) + ".";
    add(h + "input_layernorm.weight", g + "attn_norm.weight", 1, d, SynthTensor::kNorm);
    add(h + "self_attn.q_proj.weight", g + "attn_q.weight", q, d, SynthTensor::kWeight, s.n_head);
    if (s.qkv_bias) add(h + "self_attn.q_proj.bias", g + "attn_q.bias", 1, q, SynthTensor::kBias);
    add(h + "self_attn.k_proj.weight", g + "attn_k.weight", kv, d, SynthTensor::kWeight, s.n_head_kv);
    if (s.qkv_bias) add(h + "self_attn.k_proj.bias", g + "attn_k.bias", 1, kv, SynthTensor::kBias);
    add(h + "self_attn.v_proj.weight", g + "attn_v.weight", kv, d, SynthTensor::kWeight);
    if (s.qkv_bias) add(h + "self_attn.v_proj.bias", g + "attn_v.bias", 1, kv, SynthTensor::kBias);
    add(h + "self_attn.o_proj.weight", g + "attn_output.weight", d, q, SynthTensor::kWeight);
    add(h + "post_attention_layernorm.weight", g + "ffn_norm.weight", 1, d, SynthTensor::kNorm);
    add(h + "mlp.gate_proj.weight", g + "ffn_gate.weight", s.n_ff, d, SynthTensor::kWeight);
    add(h + "mlp.up_proj.weight", g + "ffn_up.weight", s.n_ff, d, SynthTensor::kWeight);
    add(h + "mlp.down_proj.weight", g + "ffn_down.weight", d, s.n_ff, SynthTensor::kWeight);
  }
  add("model.norm.weight", "output_norm.weight", 1, d, SynthTensor::kNorm);
  if (!s.tied) add("lm_head.weight", "output.weight", s.n_vocab, d, SynthTensor::kWeight);
  return p;
}

void synth_row(uint64_t seed, float stddev, const SynthTensor& t, int64_t row, float* out) {
  uint64_t st = seed * 0x9E3779B97F4A7C15ull ^ fnv1a(t.hf_name) ^ (static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ull);
  splitmix64(st);
  const float base = t.init == SynthTensor::kNorm ? 1.0f : 0.0f;
  // Box-Muller: two normals per pair of uniforms in (0, 1].
  for (int64_t i = 0; i < t.cols; i += 2) {
    double u1 = (static_cast<double>(splitmix64(st) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = static_cast<double>(splitmix64(st) >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1));
    double a = 6.283185307179586 * u2;
    out[i] = base + stddev * static_cast<float>(r * std::cos(a));
    if (i + 1 < t.cols) out[i + 1] = base + stddev * static_cast<float>(r * std::sin(a));
  }
}

int64_t permuted_source_row(int64_t r, int64_t n_rows, int n_heads) {
  // convert_hf_to_gguf: w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2): GGUF row (h, i, j)
  // = HF row (h, j, i), i < hd/2, j < 2.
  const int64_t hd = n_rows / n_heads;
  const int64_t h = r / hd, w = r % hd;
  return h * hd + (w % 2) * (hd / 2) + w / 2;
}

Status synth_model(const SynthOptions& o, const Progress& progress) {
  const ModelShape& s = o.shape;
  if (s.arch != "llama" && s.arch != "qwen2") return Status::error("synth: unknown architecture '" + s.arch + "' (llama or qwen2)");
  if (s.n_embd <= 0 || s.n_head <= 0 || s.n_embd % s.n_head || s.n_head_kv <= 0 || s.n_head % s.n_head_kv || s.head_dim() % 2)
    return Status::error("synth: inconsistent head configuration");
  if (!writable_type(o.type)) return Status::error(std::string("synth: cannot write type ") + dtype_name(o.type) + " (supported: " + writable_type_names() + ")");
  if (o.format == "gguf") return write_gguf(o, progress);
  if (o.format == "safetensors") return write_safetensors(o, progress);
  return Status::error("synth: unknown format '" + o.format + "' (gguf or safetensors)");
}

}  // namespace mlxr::tools
