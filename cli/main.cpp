// mlxr: the command-line entry point. Dispatches to one subcommand per file in cli/.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "cli/cmd_tokenize.h"
#ifdef MLXR_HAVE_DAEMON
#include "cli/daemon_commands.h"
#endif

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* help;
};

const Command kCommands[] = {
#ifdef MLXR_HAVE_DAEMON
    {"serve", mlxr::cli::cmd_serve, "run the OpenAI/Ollama-compatible server"},
#endif
    {"run", mlxr::cli::cmd_run, "generate text from a model"},
    {"bench", mlxr::cli::cmd_bench, "measure prefill and decode speed"},
    {"synth", mlxr::cli::cmd_synth, "write a random-weight model of a real shape (GGUF or HF safetensors)"},
    {"quantize", mlxr::cli::cmd_quantize, "quantize a GGUF model (Q8_0, Q4_0, Q4_K, Q6_K, ...)"},
    {"tokenize", mlxr::cli::cmd_tokenize, "show the token ids / pieces of a text"},
    {"template", mlxr::cli::cmd_template, "render a chat with the model's template"},
#ifdef MLXR_HAVE_DAEMON
    {"list", mlxr::cli::cmd_list, "list registered models"},
    {"ps", mlxr::cli::cmd_ps, "models loaded in the running daemon"},
    {"pull", mlxr::cli::cmd_pull, "download a model (URL or org/repo/file.gguf)"},
    {"rm", mlxr::cli::cmd_rm, "delete a registered model"},
    {"show", mlxr::cli::cmd_show, "show a model's details"},
#endif
};

void usage(FILE* f) {
  std::fprintf(f, "usage: mlxr <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(f, "  %-10s %s\n", c.name, c.help);
  std::fprintf(f, "\nRun `mlxr <command> --help` for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("mlxr 0.1.0\n");
    return 0;
  }
  for (const auto& c : kCommands)
    if (std::string(argv[1]) == c.name) return c.fn(argc - 2, argv + 2);
  std::fprintf(stderr, "mlxr: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
