// mlxr run: stream a continuation to stdout (speeds to stderr), or one JSON object with --json.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/runtime/generate.h"

namespace mlxr::cli {
namespace {

const char* kHelp =
    "usage: mlxr run -m MODEL [options]\n"
    "  -m, --model PATH       .gguf file, llama2.c .bin checkpoint, or HF directory\n"
    "      --tokenizer PATH   tokenizer file (llama2.c: defaults to a tokenizer .bin beside the model)\n"
    "  -p, --prompt TEXT      prompt (default: empty, generation starts from BOS)\n"
    "  -n, --n-predict N      tokens to generate (default 128)\n"
    "      --temp T           temperature, 0 = greedy (default 0.8)\n"
    "      --top-k K          (default 40)    --top-p P (default 0.95)    --min-p P (default 0.05)\n"
    "      --repeat-penalty R (default 1.0)   --seed S\n"
    "      --ignore-eos       keep generating past end-of-generation tokens\n"
    "  -t, --threads N        CPU threads (default: all cores)\n"
    "      --device D         cpu, cuda or auto (default auto)\n"
    "  -c, --ctx-size N       context length (default: model's, at most 4096)\n"
    "      --kv-type T        f16, bf16 or f32 (default f16)\n"
    "      --json             print {prompt_tokens, generated_tokens, text, timings} instead\n";

}  // namespace

int cmd_run(int argc, char** argv) {
  auto value_opts = model_value_options();
  for (const char* o : {"-p|--prompt", "-n|--n-predict", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--seed"})
    value_opts.push_back(o);
  Args args(argc, argv, value_opts, {"--json", "--ignore-eos", "-h|--help"});
  if (args.flag("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  RunnerOptions ropts;
  std::string err = args.ok() ? parse_runner_options(args, ropts) : args.error();
  GenerateOptions gopts;
  gopts.max_tokens = args.get_int("--n-predict", 128);
  gopts.sampling.temperature = static_cast<float>(args.get_double("--temp", 0.8));
  gopts.sampling.top_k = args.get_int("--top-k", 40);
  gopts.sampling.top_p = static_cast<float>(args.get_double("--top-p", 0.95));
  gopts.sampling.min_p = static_cast<float>(args.get_double("--min-p", 0.05));
  gopts.sampling.repeat_penalty = static_cast<float>(args.get_double("--repeat-penalty", 1.0));
  if (auto s = args.get("--seed")) {
    try {
      gopts.sampling.seed = std::stoull(*s);
    } catch (...) {
      err = "--seed expects a non-negative integer";
    }
  }
  gopts.stop_at_eog = !args.flag("--ignore-eos");
  if (err.empty() && !args.ok()) err = args.error();
  if (err.empty() && gopts.max_tokens < 0) err = "--n-predict must be >= 0";
  if (err.empty() && !args.positionals().empty()) err = "unexpected argument '" + args.positionals()[0] + "'";
  if (!err.empty()) {
    std::fprintf(stderr, "mlxr run: %s\n\n%s", err.c_str(), kHelp);
    return 2;
  }

  auto runner = ModelRunner::create(*args.get("--model"), ropts);
  if (!runner) {
    std::fprintf(stderr, "mlxr run: %s\n", runner.error().c_str());
    return 1;
  }
  const Tokenizer& tok = (*runner)->tokenizer();
  const std::string prompt = args.get_or("--prompt", "");
  std::vector<int32_t> ids = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/false);
  if (ids.empty() && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  const bool json = args.flag("--json");

  IncrementalDetokenizer detok(tok);
  std::string text;
  auto out = generate(**runner, ids, gopts, [&](const SampleResult& r) {
    std::string piece = tok.is_eog(r.token) ? std::string() : detok.push(r.token);
    text += piece;
    if (!json) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (!out) {
    std::fprintf(stderr, "\nmlxr run: %s\n", out.error().c_str());
    return 1;
  }
  std::string rest = detok.flush();
  text += rest;
  const auto& t = out->timings;
  const double prompt_tps = t.prompt_ms > 0 ? t.prompt_tokens * 1000.0 / t.prompt_ms : 0;
  const double gen_tps = t.decode_ms > 0 ? t.generated_tokens * 1000.0 / t.decode_ms : 0;
  if (json) {
    nlohmann::json j;
    j["prompt_tokens"] = ids;
    j["generated_tokens"] = out->tokens;
    j["text"] = text;
    j["stop_reason"] = out->stop_reason;
    j["timings"] = {{"prompt_ms", t.prompt_ms}, {"prompt_tokens_per_s", prompt_tps},
                    {"decode_ms", t.decode_ms}, {"decode_tokens_per_s", gen_tps}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
    std::fprintf(stderr, "prompt: %d tokens, %.1f tok/s | generation: %d tokens, %.1f tok/s\n", t.prompt_tokens,
                 prompt_tps, t.generated_tokens, gen_tps);
  }
  return 0;
}

}  // namespace mlxr::cli
