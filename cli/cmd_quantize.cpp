// `mlxr quantize IN.gguf OUT.gguf TYPE`: requantize a GGUF's weight matrices.
#include <cstdio>
#include <string>
#include <vector>

#include "core/tensor/dtype.h"
#include "tools/synth/quantize.h"
#include "tools/synth/types.h"

namespace mlxr::cli {
namespace {

void quantize_usage(FILE* f) {
  std::fprintf(f,
               "usage: mlxr quantize IN.gguf OUT.gguf TYPE [--quiet]\n"
               "  TYPE: %s (case-insensitive; a llama-quantize\n"
               "  mixture name such as Q4_K_M is taken as its base type, applied to every matrix).\n"
               "  Norms, biases and the MoE router keep their type; matrices whose rows do not fit the\n"
               "  block fall back like llama-quantize (Q4_K->Q5_0, Q6_K->Q8_0, else F16).\n",
               mlxr::tools::writable_type_names().c_str());
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
  std::vector<std::string> pos;
  bool quiet = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      quantize_usage(stdout);
      return 0;
    }
    if (a == "--quiet" || a == "-q") {
      quiet = true;
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "mlxr quantize: unknown option '%s'\n\n", a.c_str());
      quantize_usage(stderr);
      return 2;
    }
    pos.push_back(a);
  }
  if (pos.size() != 3) {
    quantize_usage(stderr);
    return 2;
  }
  std::string tname = pos[2];
  auto dt = dtype_from_name(tname);
  if (!dt && tname.size() > 2 && (tname.substr(tname.size() - 2) == "_S" || tname.substr(tname.size() - 2) == "_M" ||
                                  tname.substr(tname.size() - 2) == "_L" || tname.substr(tname.size() - 2) == "_s" ||
                                  tname.substr(tname.size() - 2) == "_m" || tname.substr(tname.size() - 2) == "_l"))
    dt = dtype_from_name(tname.substr(0, tname.size() - 2));
  if (!dt || !mlxr::tools::writable_type(*dt)) {
    std::fprintf(stderr, "mlxr quantize: unknown or unsupported type '%s' (supported: %s)\n", tname.c_str(),
                 mlxr::tools::writable_type_names().c_str());
    return 2;
  }
  auto st = mlxr::tools::quantize_gguf(pos[0], pos[1], *dt, [&](const std::string& m) {
    if (!quiet) std::fprintf(stderr, "\r%-78s", m.c_str());
  });
  if (!quiet) std::fprintf(stderr, "\n");
  if (!st) {
    std::fprintf(stderr, "mlxr quantize: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace mlxr::cli
