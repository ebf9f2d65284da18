// Tokenizer encode throughput on one core: MB/s of UTF-8 input encoded (no BOS, no special
// parsing), best of N passes. Run through bench/tokenizer_bench.sh, which also runs the JS oracle
// (@huggingface/tokenizers) on the same text and writes both rates side by side.
//   mlxr_bench_tokenizer TOKENIZER(.gguf|tokenizer.json|...) TEXTFILE... [--passes N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/tokenizer/algorithms.h"
#include "core/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER TEXTFILE... [--passes N]\n", argv[0]);
    return 2;
  }
  int passes = 5;
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
      passes = std::atoi(argv[++i]);
      continue;
    }
    std::ifstream f(argv[i], std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    texts.push_back(ss.str());
    bytes += texts.back().size();
  }
  auto t0 = std::chrono::steady_clock::now();
  auto tok = mlxr::Tokenizer::load_path(argv[1]);
  if (!tok) {
    std::fprintf(stderr, "%s\n", tok.error().c_str());
    return 1;
  }
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Each pass starts with an empty word cache, so repeated passes do not flatter the rate:
  // the cache only helps with words repeated inside the text, as it would in real use.
  size_t n_tokens = 0;
  double best = 1e30;
  for (int p = 0; p < passes; ++p) {
    size_t n = 0;
    mlxr::detail::clear_bpe_cache();
    auto a = std::chrono::steady_clock::now();
    for (auto& t : texts) n += (*tok)->encode(t, false, false).size();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    if (s < best) best = s;
    n_tokens = n;
  }
  std::printf("{\"impl\": \"mlxr\", \"bytes\": %zu, \"tokens\": %zu, \"best_s\": %.6f, \"mb_per_s\": %.2f, "
              "\"tokens_per_s\": %.0f, \"load_s\": %.3f}\n",
              bytes, n_tokens, best, bytes / best / 1e6, n_tokens / best, load_s);
  return 0;
}
