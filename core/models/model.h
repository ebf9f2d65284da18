// A model: built from a ModelFile and a Backend, runs one ragged Batch per call. No I/O.
// Families register by their GGUF architecture name (general.architecture / HF model_type).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/formats/model_file.h"
#include "core/kv/batch.h"
#include "core/tensor/backend.h"

namespace mlxr {

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelHParams& hparams() const = 0;
  // Runs the batch and leaves the logits for batch.output_rows, (output_rows.size(), n_vocab),
  // in backend memory, valid until the next call: reduce them there (Backend::top_k_rows) or
  // copy the rows needed (to_host). The backend's KV arena must be initialised; K/V of every
  // batch token is stored.
  virtual Expected<const float*> forward_logits(const Batch& batch) = 0;
  // forward_logits, copied to host memory.
  virtual Status forward(const Batch& batch, float* logits) = 0;
  // Final-norm hidden states for batch.output_rows: (output_rows.size(), n_embd), host memory.
  // Used for embeddings (pooled by the caller).
  virtual Status hidden_states(const Batch& batch, float* out) = 0;
};

// Builds the model registered for file->hparams.arch; an unknown architecture is an error
// that lists the supported ones.
Expected<std::unique_ptr<Model>> load_model(std::shared_ptr<const ModelFile> file, Backend& backend);
std::vector<std::string> supported_architectures();

}  // namespace mlxr
