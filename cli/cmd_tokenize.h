// `mlxr tokenize` and `mlxr template` (cli/cmd_tokenize.cpp, cli/cmd_template.cpp). Each takes
// the arguments after its name and returns the exit code.
#pragma once
#include <memory>
#include <string>

#include "core/base/status.h"

namespace mlxr {
class Tokenizer;
}

namespace mlxr::cli {

int cmd_tokenize(int argc, char** argv);
int cmd_template(int argc, char** argv);

// The tokenizer of -m PATH: a .gguf model, tokenizer.json / tokenizer.model / llama2.c
// tokenizer .bin, an HF model directory, or a llama2.c checkpoint (with --tokenizer).
Expected<std::shared_ptr<Tokenizer>> load_tokenizer_for(const std::string& model, const std::string& tokenizer_override);

}  // namespace mlxr::cli
