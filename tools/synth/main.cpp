// mlxr-tools: `synth` and `quantize` without the rest of the CLI (same code as `mlxr synth` /
// `mlxr quantize`), so model files can be made before the engine is built.
#include <cstdio>
#include <string>

namespace mlxr::cli {
int cmd_synth(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
}  // namespace mlxr::cli

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "synth") return mlxr::cli::cmd_synth(argc - 2, argv + 2);
  if (cmd == "quantize") return mlxr::cli::cmd_quantize(argc - 2, argv + 2);
  std::fprintf(stderr, "usage: mlxr-tools synth|quantize ... (see `mlxr-tools synth --help`)\n");
  return 2;
}
