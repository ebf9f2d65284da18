#include "cli/model_options.h"

namespace mlxr::cli {

std::string parse_runner_options(Args& args, RunnerOptions& opts) {
  if (!args.get("--model")) return "missing -m/--model MODEL (a .gguf file, a llama2.c .bin, or an HF directory)";
  opts.tokenizer_path = args.get_or("--tokenizer", "");
  opts.threads = args.get_int("--threads", 0);
  opts.device = args.get_or("--device", "auto");
  opts.n_ctx = args.get_int("--ctx-size", 0);
  const std::string kv = args.get_or("--kv-type", "f16");
  auto t = dtype_from_name(kv);
  if (!t || (*t != DType::F16 && *t != DType::F32 && *t != DType::BF16)) return "--kv-type must be f16, bf16 or f32";
  opts.kv_dtype = *t;
  if (opts.threads < 0) return "--threads must be >= 0";
  if (opts.n_ctx < 0) return "--ctx-size must be >= 0";
  return args.ok() ? "" : args.error();
}

}  // namespace mlxr::cli
