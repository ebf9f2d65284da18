// Everything needed to run one model: file, backend, model, tokenizer, KV layout.
// Single-threaded by contract: one caller (the scheduler worker, or the CLI) drives it.
#pragma once
#include <memory>
#include <string>

#include "core/base/status.h"
#include "core/formats/model_file.h"
#include "core/kv/kv_layout.h"
#include "core/models/model.h"
#include "core/tensor/backend.h"
#include "core/tokenizer/tokenizer.h"

namespace mlxr {

struct RunnerOptions {
  std::string device = "auto";  // "cpu", "cuda", "auto" (cuda when a GPU is present)
  int threads = 0;              // CPU threads; 0: hardware concurrency
  int n_ctx = 0;                // max tokens per sequence; 0: min(training context, 4096)
  int kv_blocks = 0;            // KV arena size in blocks; 0: enough for n_ctx * max_seqs
  int max_seqs = 1;             // used to size the arena when kv_blocks == 0
  int block_size = 16;
  DType kv_dtype = DType::F16;
  std::string tokenizer_path;   // overrides the model's own tokenizer location
};

class ModelRunner {
 public:
  static Expected<std::unique_ptr<ModelRunner>> create(const std::string& model_path, const RunnerOptions& opts);

  const ModelFile& file() const { return *file_; }
  const ModelHParams& hparams() const { return model_->hparams(); }
  Model& model() { return *model_; }
  Backend& backend() { return *backend_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  std::shared_ptr<const Tokenizer> tokenizer_ptr() const { return tokenizer_; }
  const KVLayout& kv_layout() const { return backend_->kv_layout(); }
  int n_ctx() const { return n_ctx_; }

 private:
  std::shared_ptr<ModelFile> file_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  int n_ctx_ = 0;
};

}  // namespace mlxr
