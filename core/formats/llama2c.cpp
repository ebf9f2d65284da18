// llama2.c .bin -> ModelFile. Tensors are views into the mapping, per layer sliced out of
// run.c's [n_layers, ...] arrays and named as GGUF names them.
#include "core/formats/llama2c.h"

#include <cstring>
#include <filesystem>

#include "core/formats/model_file.h"

namespace mlxr {
namespace fs = std::filesystem;

namespace {
constexpr int32_t kMaxDim = 1 << 20;
constexpr int32_t kMaxLayers = 1 << 12;
}  // namespace

Expected<uint64_t> llama2c_expected_size(const Llama2cHeader& h) {
  auto bad = [](const std::string& m) { return make_error("llama2c: invalid header: " + m); };
  if (h.dim <= 0 || h.dim > kMaxDim) return bad("dim " + std::to_string(h.dim));
  if (h.hidden_dim <= 0 || h.hidden_dim > kMaxDim) return bad("hidden_dim " + std::to_string(h.hidden_dim));
  if (h.n_layers <= 0 || h.n_layers > kMaxLayers) return bad("n_layers " + std::to_string(h.n_layers));
  if (h.n_heads <= 0 || h.n_heads > h.dim || h.dim % h.n_heads != 0)
    return bad("n_heads " + std::to_string(h.n_heads) + " does not divide dim " + std::to_string(h.dim));
  if (h.n_kv_heads <= 0 || h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0)
    return bad("n_kv_heads " + std::to_string(h.n_kv_heads) + " does not divide n_heads " + std::to_string(h.n_heads));
  if (h.vocab_size == 0 || h.vocab_size < -kMaxDim || h.vocab_size > kMaxDim) return bad("vocab_size " + std::to_string(h.vocab_size));
  if (h.seq_len <= 0 || h.seq_len > kMaxDim) return bad("seq_len " + std::to_string(h.seq_len));
  const int head = h.dim / h.n_heads;
  if (head % 2 != 0) return bad("head size " + std::to_string(head) + " is odd");
  // All factors are <= 2^20 and layers <= 2^12, so every product below fits in 64 bits.
  const uint64_t dim = h.dim, hid = h.hidden_dim, L = h.n_layers, vocab = static_cast<uint64_t>(std::abs(h.vocab_size));
  const uint64_t kv_dim = static_cast<uint64_t>(h.n_kv_heads) * head;
  uint64_t floats = vocab * dim                       // token_embedding
                    + L * dim                         // rms_att
                    + L * dim * dim                   // wq
                    + 2 * L * kv_dim * dim            // wk, wv
                    + L * dim * dim                   // wo
                    + L * dim                         // rms_ffn
                    + 3 * L * hid * dim               // w1, w2, w3
                    + dim                             // rms_final
                    + static_cast<uint64_t>(h.seq_len) * head;  // freq_cis real + imag (head/2 each)
  if (!h.shared_classifier()) floats += vocab * dim;
  return 28 + floats * 4;
}

std::string llama2c_find_tokenizer(const std::string& model_path, int vocab_size) {
  std::error_code ec;
  fs::path dir = fs::path(model_path).parent_path();
  for (const std::string& name : {"tok" + std::to_string(std::abs(vocab_size)) + ".bin", std::string("tokenizer.bin")}) {
    fs::path p = dir / name;
    if (fs::is_regular_file(p, ec) && !fs::equivalent(p, model_path, ec)) return p.string();
  }
  return "";
}

Expected<std::shared_ptr<ModelFile>> open_llama2c_model(const std::string& path) {
  auto f = MappedFile::open(path);
  if (!f) return make_error("llama2c: " + f.error());
  return parse_llama2c_model(std::move(*f));
}

Expected<std::shared_ptr<ModelFile>> parse_llama2c_model(std::shared_ptr<MappedFile> file) {
  const std::string& path = file->path();
  if (file->size() < 28) return make_error("llama2c: " + path + ": file too small for the 28-byte header");
  uint32_t magic;
  std::memcpy(&magic, file->data(), 4);
  if (magic == 0x616b3432u)
    return make_error("llama2c: " + path + ": this is a versioned llama2.c export (magic 'ak42'); only the legacy run.c format is supported — re-export with export.py --version 0");
  Llama2cHeader h;
  int32_t hdr[7];
  std::memcpy(hdr, file->data(), 28);
  h.dim = hdr[0]; h.hidden_dim = hdr[1]; h.n_layers = hdr[2]; h.n_heads = hdr[3];
  h.n_kv_heads = hdr[4]; h.vocab_size = hdr[5]; h.seq_len = hdr[6];
  auto want = llama2c_expected_size(h);
  if (!want) return make_error(want.error() + " in " + path);
  if (*want != file->size())
    return make_error("llama2c: " + path + ": file has " + std::to_string(file->size()) + " bytes, but its header (dim " +
                      std::to_string(h.dim) + ", " + std::to_string(h.n_layers) + " layers, vocab " + std::to_string(h.vocab_size) +
                      ") implies " + std::to_string(*want));

  auto m = std::make_shared<ModelFile>();
  m->path = path;
  m->format = "llama2c";
  m->owners.push_back(file);
  const int64_t dim = h.dim, hid = h.hidden_dim, L = h.n_layers, vocab = std::abs(h.vocab_size);
  const int64_t head = dim / h.n_heads, kv_dim = static_cast<int64_t>(h.n_kv_heads) * head;

  const float* p = reinterpret_cast<const float*>(file->data() + 28);
  auto add = [&](const std::string& name, int64_t ne0, int64_t ne1, const float* data) {
    TensorView v;
    v.name = name;
    v.type = DType::F32;
    v.n_dims = ne1 > 1 ? 2 : 1;
    v.ne = {ne0, ne1, 1, 1};
    v.data = data;
    v.nbytes = static_cast<size_t>(ne0 * ne1) * 4;
    m->tensors[name] = v;
  };
  // Per-layer slices of a [L, rows, cols] array; names as in GGUF.
  auto layers = [&](const char* name, int64_t cols, int64_t rows) {
    for (int64_t l = 0; l < L; ++l) add("blk." + std::to_string(l) + "." + name + ".weight", cols, rows, p + l * rows * cols);
    p += L * rows * cols;
  };
  add("token_embd.weight", dim, vocab, p);
  p += vocab * dim;
  layers("attn_norm", dim, 1);
  layers("attn_q", dim, dim);
  layers("attn_k", dim, kv_dim);
  layers("attn_v", dim, kv_dim);
  layers("attn_output", dim, dim);
  layers("ffn_norm", dim, 1);
  layers("ffn_gate", dim, hid);  // w1
  layers("ffn_down", hid, dim);  // w2
  layers("ffn_up", dim, hid);    // w3
  add("output_norm.weight", dim, 1, p);
  p += dim;
  p += static_cast<int64_t>(h.seq_len) * head;  // legacy freq_cis_real/imag: run.c recomputes RoPE
  if (!h.shared_classifier()) add("output.weight", dim, vocab, p);

  auto& hp = m->hparams;
  hp.arch = "llama";
  hp.n_vocab = static_cast<int>(vocab);
  hp.n_embd = h.dim;
  hp.n_layer = h.n_layers;
  hp.n_head = h.n_heads;
  hp.n_head_kv = h.n_kv_heads;
  hp.head_dim = static_cast<int>(head);
  hp.n_ff = h.hidden_dim;
  hp.n_ctx_train = h.seq_len;
  hp.rms_eps = 1e-5f;
  hp.rope.style = RopeStyle::kNormal;  // run.c rotates adjacent pairs
  hp.rope.theta = 10000.0f;
  hp.rope.n_dims = static_cast<int>(head);
  hp.tied_embeddings = h.shared_classifier();

  std::string tok = llama2c_find_tokenizer(path, h.vocab_size);
  if (!tok.empty()) m->tokenizer = {TokenizerSource::kLlama2cBin, tok, ""};
  return m;
}

}  // namespace mlxr
