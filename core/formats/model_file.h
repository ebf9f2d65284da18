// One face for every model format: open(path) -> ModelFile with hyperparameters, tensors
// (named as GGUF names them: token_embd.weight, blk.N.attn_q.weight, ...) and where the
// tokenizer lives. Tensors point into mmap'd files wherever the bytes can be used as stored.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/formats/gguf.h"
#include "core/tensor/tensor.h"

namespace mlxr {

// How RoPE pairs the dimensions of a head. kNormal rotates (2i, 2i+1) (llama.cpp's GGUF layout
// for llama, llama2.c); kNeox rotates (i, i + d/2) (HF's rotate_half, Qwen2 in GGUF).
enum class RopeStyle { kNormal, kNeox };
enum class RopeScaling { kNone, kLinear, kYarn, kLlama3 };

struct RopeParams {
  RopeStyle style = RopeStyle::kNormal;
  RopeScaling scaling = RopeScaling::kNone;
  float theta = 10000.0f;
  int n_dims = 0;            // rotated dimensions per head (<= head_dim)
  float factor = 1.0f;       // linear / yarn / llama3 scale factor
  int orig_ctx = 0;          // original max positions (yarn, llama3)
  float low_freq_factor = 1.0f;   // llama3
  float high_freq_factor = 4.0f;  // llama3
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_ext_factor = -1.0f;  // < 0: derive from factor (1 when scaling is yarn)
  float yarn_attn_factor = 1.0f;
};

struct ModelHParams {
  std::string arch;  // registered architecture name: "llama", "qwen2", "mistral" load as llama
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  int n_ff = 0;
  int n_ctx_train = 0;
  float rms_eps = 1e-5f;
  RopeParams rope;
  int sliding_window = 0;  // 0: full attention; else a key at k is visible to q iff q - w < k <= q
  bool tied_embeddings = false;
  int n_expert = 0;
  int n_expert_used = 0;
};

// Where and how the tokenizer is stored; core/tokenizer turns this into a Tokenizer.
struct TokenizerSource {
  enum Kind { kNone, kGguf, kHfJson, kSpmModel, kLlama2cBin };
  Kind kind = kNone;
  std::string path;  // tokenizer.json / tokenizer.model / tokenizer.bin (kGguf: the .gguf)
  std::string config_path;  // tokenizer_config.json beside tokenizer.json, if present
};

class ModelFile {
 public:
  std::string path;    // what was opened (file or directory)
  std::string format;  // "gguf", "safetensors", "llama2c"
  ModelHParams hparams;
  TokenizerSource tokenizer;
  std::shared_ptr<GgufFile> gguf;  // set for GGUF models: metadata, tokenizer, chat template
  // GGUF names for every format. Llama-family: token_embd, output_norm, output (absent when
  // tied), blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,ffn_norm,ffn_gate,ffn_up,ffn_down}
  // .weight, plus blk.N.attn_{q,k,v}.bias (Qwen2). Mixture of experts (Mixtral): the router is
  // blk.N.ffn_gate_inp.weight [n_embd, n_expert] and expert E's FFN is
  // blk.N.ffn_{gate,up,down}.E.weight (llama.cpp's per-expert names); GGUF files may instead
  // hold the fused blk.N.ffn_{gate,up,down}_exps.weight [.., .., n_expert].
  // Shapes are ggml order: ne[0] is the contiguous axis (a PyTorch [out, in] is {in, out}).
  std::map<std::string, TensorView> tensors;
  // Keeps mappings and any converted buffers alive as long as the views.
  std::vector<std::shared_ptr<void>> owners;

  const TensorView* find(const std::string& name) const;
  // The tensor with this name and shape (ggml order, trailing 1s may be omitted), or an error
  // that names both.
  Expected<const TensorView*> require(const std::string& name, std::vector<int64_t> ne) const;
  size_t weight_bytes() const;
};

// Opens a .gguf file, a llama2.c .bin checkpoint, or an HF directory (config.json +
// model.safetensors or model.safetensors.index.json). `tokenizer_override` replaces the
// tokenizer location when non-empty.
Expected<std::shared_ptr<ModelFile>> open_model(const std::string& path,
                                                const std::string& tokenizer_override = "");

// Per-format loaders, used by open_model.
Expected<std::shared_ptr<ModelFile>> open_gguf_model(const std::string& path);
Expected<std::shared_ptr<ModelFile>> open_safetensors_model(const std::string& dir);
Expected<std::shared_ptr<ModelFile>> open_llama2c_model(const std::string& path);

}  // namespace mlxr
