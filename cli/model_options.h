// Options shared by the commands that load a model (run, bench): model path, device,
// threads, context, KV type. Parsed from Args into RunnerOptions.
#pragma once
#include <string>
#include <vector>

#include "cli/args.h"
#include "core/runtime/runner.h"

namespace mlxr::cli {

inline const std::vector<std::string>& model_value_options() {
  static const std::vector<std::string> v = {"-m|--model", "--tokenizer", "-t|--threads", "--device",
                                             "-c|--ctx-size", "--kv-type"};
  return v;
}

// Fills opts from args; returns an error message or "".
std::string parse_runner_options(Args& args, RunnerOptions& opts);

}  // namespace mlxr::cli
