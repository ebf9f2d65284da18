// mlxr bench: prefill and decode speed of one sequence (llama-bench's pp/tg), plus memory.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/cmd_bench_serve.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/runtime/generate.h"

namespace mlxr::cli {
namespace {

const char* kHelp =
    "usage: mlxr bench -m MODEL [options]\n"
    "  -p, --prompt-tokens N  prompt length for the prefill test (default 128)\n"
    "  -n, --gen-tokens N     tokens to decode (default 64)\n"
    "  -r, --repetitions N    runs of each test; the median is reported (default 3)\n"
    "  -t, --threads N        CPU threads      --device D   cpu|cuda|auto\n"
    "      --kv-type T        f16|bf16|f32     --json       JSON output\n";

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  // --concurrency N: the serving engine under N simultaneous requests (cli/cmd_bench_serve.cpp).
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]).rfind("--concurrency", 0) == 0) return cmd_bench_concurrency(argc, argv);
  auto value_opts = model_value_options();
  for (const char* o : {"-p|--prompt-tokens", "-n|--gen-tokens", "-r|--repetitions"}) value_opts.push_back(o);
  Args args(argc, argv, value_opts, {"--json", "-h|--help"});
  if (args.flag("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  RunnerOptions ropts;
  std::string err = args.ok() ? parse_runner_options(args, ropts) : args.error();
  const int n_prompt = args.get_int("--prompt-tokens", 128);
  const int n_gen = args.get_int("--gen-tokens", 64);
  const int reps = args.get_int("--repetitions", 3);
  if (err.empty() && !args.ok()) err = args.error();
  if (err.empty() && (n_prompt < 1 || n_gen < 1 || reps < 1)) err = "token counts and repetitions must be >= 1";
  if (!err.empty()) {
    std::fprintf(stderr, "mlxr bench: %s\n\n%s", err.c_str(), kHelp);
    return 2;
  }
  if (ropts.n_ctx == 0) ropts.n_ctx = n_prompt + n_gen + 1;
  const long rss_before = rss_kib();
  auto runner = ModelRunner::create(*args.get("--model"), ropts);
  if (!runner) {
    std::fprintf(stderr, "mlxr bench: %s\n", runner.error().c_str());
    return 1;
  }
  ModelRunner& r = **runner;
  if (n_prompt + n_gen >= r.n_ctx()) {
    std::fprintf(stderr, "mlxr bench: prompt + generation (%d) exceed the context (%d); pass -c\n", n_prompt + n_gen, r.n_ctx());
    return 2;
  }
  // Random ids away from the control tokens, fixed seed: the same input on every run.
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> dist(std::min(300, r.hparams().n_vocab - 1), r.hparams().n_vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
  for (auto& t : prompt) t = dist(rng);

  GenerateOptions g;
  g.sampling.temperature = 0;
  g.stop_at_eog = false;
  std::vector<double> pp, tg;
  // Warm-up run touches every weight page once.
  g.max_tokens = 2;
  if (auto w = generate(r, prompt, g); !w) {
    std::fprintf(stderr, "mlxr bench: %s\n", w.error().c_str());
    return 1;
  }
  g.max_tokens = n_gen;
  for (int i = 0; i < reps; ++i) {
    auto out = generate(r, prompt, g);
    if (!out) {
      std::fprintf(stderr, "mlxr bench: %s\n", out.error().c_str());
      return 1;
    }
    pp.push_back(n_prompt * 1000.0 / out->timings.prompt_ms);
    // The first sampled token comes from the prefill logits; decode steps = generated - 1.
    tg.push_back((out->timings.generated_tokens - 1) * 1000.0 / out->timings.decode_ms);
  }
  const long rss_after = rss_kib();
  const double weights_mib = r.file().weight_bytes() / 1048576.0;
  const double kv_mib = r.kv_layout().total_bytes() / 1048576.0;
  nlohmann::json j = {
      {"model", *args.get("--model")},
      {"backend", r.backend().name()},
      {"threads", ropts.threads},
      {"prompt_tokens", n_prompt},
      {"gen_tokens", n_gen},
      {"prefill_tokens_per_s", median(pp)},
      {"decode_tokens_per_s", median(tg)},
      {"weights_mib", weights_mib},
      {"kv_mib", kv_mib},
      {"rss_mib", rss_after / 1024.0},
      {"rss_before_load_mib", rss_before / 1024.0},
  };
  if (args.flag("--json")) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("model %s (%s)\n", args.get("--model")->c_str(), r.backend().name().c_str());
    std::printf("prefill %d tokens: %.1f tok/s\ndecode  %d tokens: %.1f tok/s\n", n_prompt, median(pp), n_gen, median(tg));
    std::printf("memory: weights %.1f MiB, KV %.1f MiB, RSS %.1f MiB\n", weights_mib, kv_mib, rss_after / 1024.0);
  }
  return 0;
}

}  // namespace mlxr::cli
