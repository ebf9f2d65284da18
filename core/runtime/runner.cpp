#include "core/runtime/runner.h"

#include <algorithm>

#include "core/kernels/cpu/cpu_backend.h"
#ifdef MLXR_HAVE_CUDA
#include "core/kernels/cuda/cuda_backend.h"
#endif

namespace mlxr {
namespace {

Expected<std::unique_ptr<Backend>> make_backend(const std::string& device, int threads) {
#ifdef MLXR_HAVE_CUDA
  if (device == "cuda" || (device == "auto" && cuda_device_available())) return make_cuda_backend(0);
#else
  if (device == "cuda") return make_error("runner: this build of mlxr has no CUDA backend (rebuild with nvcc present)");
#endif
  if (device != "cpu" && device != "auto" && device != "cuda")
    return make_error("runner: unknown device '" + device + "' (use cpu, cuda or auto)");
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(threads));
}

}  // namespace

Expected<std::unique_ptr<ModelRunner>> ModelRunner::create(const std::string& model_path, const RunnerOptions& opts) {
  auto r = std::unique_ptr<ModelRunner>(new ModelRunner());
  MLXR_ASSIGN_OR_RETURN(r->file_, open_model(model_path, opts.tokenizer_path));
  MLXR_ASSIGN_OR_RETURN(r->tokenizer_, Tokenizer::load(r->file_->tokenizer));
  const ModelHParams& hp = r->file_->hparams;
  if (r->tokenizer_->n_vocab() > hp.n_vocab)
    return make_error("runner: tokenizer has " + std::to_string(r->tokenizer_->n_vocab()) + " tokens but the model only " + std::to_string(hp.n_vocab));
  MLXR_ASSIGN_OR_RETURN(r->backend_, make_backend(opts.device, opts.threads));
  MLXR_ASSIGN_OR_RETURN(r->model_, load_model(r->file_, *r->backend_));

  const int train_ctx = hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096;
  r->n_ctx_ = opts.n_ctx > 0 ? opts.n_ctx : std::min(train_ctx, 4096);
  if (opts.block_size <= 0 || opts.block_size > 1024) return make_error("runner: block size must be in 1..1024");
  KVLayout kv;
  kv.n_layers = hp.n_layer;
  kv.block_size = opts.block_size;
  kv.n_kv_heads = hp.n_head_kv;
  kv.head_dim = hp.head_dim;
  kv.dtype = opts.kv_dtype;
  const int blocks_per_seq = (r->n_ctx_ + opts.block_size - 1) / opts.block_size;
  kv.n_blocks = opts.kv_blocks > 0 ? opts.kv_blocks : blocks_per_seq * std::max(1, opts.max_seqs);
  MLXR_RETURN_IF_ERROR(r->backend_->init_kv(kv));
  return r;
}

}  // namespace mlxr
