// Subcommands of `mlxr`. Each takes the arguments after its name and returns the exit code.
#pragma once

namespace mlxr::cli {

int cmd_run(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_quantize(int argc, char** argv);

}  // namespace mlxr::cli
