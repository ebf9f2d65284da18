// Hugging Face config.json -> ModelHParams, for llama, mistral, qwen2 and mixtral.
// Accepts both the older spellings (rope_theta, rope_scaling, torch_dtype) and the
// transformers v5 ones (rope_parameters, dtype).
#pragma once
#include <string>

#include "core/base/status.h"
#include "core/base/json.h"
#include "core/formats/model_file.h"

namespace mlxr {

struct HfConfig {
  std::string model_type;  // as written: "llama", "mistral", "qwen2", "mixtral"
  ModelHParams hparams;    // arch: "llama" (llama, mixtral), "mistral", "qwen2"
  bool tie_word_embeddings = false;
  std::string dtype;       // "float32", "bfloat16", ... (informational; tensors carry their own)
  int bos_token_id = -1;   // -1 when absent or null
  int eos_token_id = -1;
};

// `what` names the file in errors.
Expected<HfConfig> parse_hf_config(const Json& root, const std::string& what);
Expected<HfConfig> load_hf_config(const std::string& path);

}  // namespace mlxr
