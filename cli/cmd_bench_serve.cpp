// mlxr bench --concurrency: the serving engine under N simultaneous requests.
#include "cli/cmd_bench_serve.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>

#include "cli/args.h"
#include "cli/model_options.h"

namespace mlxr::cli {
namespace {

using Clock = std::chrono::steady_clock;

const char* kHelp =
    "usage: mlxr bench -m MODEL --concurrency N [options]\n"
    "  N requests are submitted at once to the serving engine (continuous batching, paged KV).\n"
    "  -p, --prompt-tokens P   prompt length of each request (default 128)\n"
    "  -n, --gen-tokens G      tokens each request generates (default 64)\n"
    "      --shared-prefix K   the first K prompt tokens are the same in every request (default 0)\n"
    "      --batch-tokens B    token budget per engine step (default 512)\n"
    "      --kv-blocks K       KV arena size in blocks of 16 (default: enough for all N at once)\n"
    "      --no-prefix-cache   disable prefix caching\n"
    "      --no-baseline       skip the single-request run\n"
    "  -r, --repetitions R     alternate single and concurrent runs R times; report medians (default 1)\n"
    "  -t, --threads N   --device D   --kv-type T   -c, --ctx-size N   --json\n";

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

struct Track {
  Clock::time_point submitted;
  std::vector<Clock::time_point> token_times;
  RequestResult result;
  bool done = false;
};

struct LoadResult {
  nlohmann::json json;
  double decode_tok_s = 0;  // all sequences together
};

// Submits every prompt at once and waits; samples KV use while it runs.
Expected<LoadResult> run_load(Engine& engine, const std::vector<std::vector<int32_t>>& prompts, int gen) {
  std::vector<Track> tracks(prompts.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t n_done = 0;
  const EngineStats before = engine.stats();
  const auto t0 = Clock::now();
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest req;
    req.prompt = prompts[i];
    req.sampling.temperature = 0;
    req.max_tokens = gen;
    req.ignore_eos = true;  // every request generates exactly `gen` tokens
    RequestCallbacks cb;
    Track* t = &tracks[i];
    cb.on_token = [t](const TokenOutput&) {
      t->token_times.push_back(Clock::now());
      return true;
    };
    cb.on_done = [&, t](const RequestResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      t->result = r;
      t->done = true;
      ++n_done;
      cv.notify_all();
    };
    t->submitted = Clock::now();
    auto id = engine.submit(std::move(req), std::move(cb));
    if (!id) return make_error(id.error());
  }
  double kv_peak = 0, kv_sum = 0;
  int kv_samples = 0;
  {
    std::unique_lock<std::mutex> lock(mu);
    while (n_done < prompts.size()) {
      cv.wait_for(lock, std::chrono::milliseconds(5));
      EngineStats s = engine.stats();
      if (s.kv_blocks_total > 0 && s.running > 0) {
        const double u = static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total;
        kv_peak = std::max(kv_peak, u);
        kv_sum += u;
        ++kv_samples;
      }
    }
  }
  const auto t_end = Clock::now();
  const EngineStats after = engine.stats();

  std::vector<double> ttft, itl, per_seq;
  Clock::time_point first_tok = Clock::time_point::max(), last_tok = Clock::time_point::min();
  long total_gen = 0, decode_tokens = 0;
  for (const Track& t : tracks) {
    if (t.result.reason == FinishReason::kError) return make_error("bench: a request failed: " + t.result.error);
    if (t.token_times.empty()) continue;
    total_gen += static_cast<long>(t.token_times.size());
    ttft.push_back(ms_between(t.submitted, t.token_times.front()));
    for (size_t k = 1; k < t.token_times.size(); ++k) itl.push_back(ms_between(t.token_times[k - 1], t.token_times[k]));
    const double span = ms_between(t.token_times.front(), t.token_times.back());
    if (t.token_times.size() > 1 && span > 0) per_seq.push_back((t.token_times.size() - 1) * 1000.0 / span);
    decode_tokens += static_cast<long>(t.token_times.size()) - 1;
    first_tok = std::min(first_tok, t.token_times.front());
    last_tok = std::max(last_tok, t.token_times.back());
  }
  // Decode rate: tokens after each sequence's first, over the window in which decoding ran.
  const double decode_window_ms = last_tok > first_tok ? ms_between(first_tok, last_tok) : 0;
  LoadResult r;
  r.decode_tok_s = decode_window_ms > 0 ? decode_tokens * 1000.0 / decode_window_ms : 0;
  const double wall_ms = ms_between(t0, t_end);
  const uint64_t q = after.prefix_query_tokens - before.prefix_query_tokens;
  const uint64_t h = after.prefix_hit_tokens - before.prefix_hit_tokens;
  double mean = 0;
  for (double v : per_seq) mean += v;
  mean = per_seq.empty() ? 0 : mean / per_seq.size();
  r.json = {
      {"requests", prompts.size()},
      {"wall_s", wall_ms / 1000.0},
      {"generated_tokens", total_gen},
      {"total_tokens_per_s", total_gen * 1000.0 / wall_ms},
      {"decode_tokens_per_s", r.decode_tok_s},
      {"per_seq_decode_tokens_per_s_mean", mean},
      {"per_seq_decode_tokens_per_s_p50", percentile(per_seq, 0.5)},
      {"ttft_ms_p50", percentile(ttft, 0.5)},
      {"ttft_ms_p99", percentile(ttft, 0.99)},
      {"itl_ms_p50", percentile(itl, 0.5)},
      {"itl_ms_p99", percentile(itl, 0.99)},
      {"kv_utilisation_peak", kv_peak},
      {"kv_utilisation_mean", kv_samples ? kv_sum / kv_samples : 0.0},
      {"kv_blocks_total", after.kv_blocks_total},
      {"prefix_hit_rate", q ? static_cast<double>(h) / q : 0.0},
      {"prefix_hit_tokens", h},
      {"steps", after.steps - before.steps},
      {"mean_batch_tokens", after.steps > before.steps
                                ? static_cast<double>((after.tokens_generated - before.tokens_generated) +
                                                      (after.prompt_tokens_processed - before.prompt_tokens_processed)) /
                                      (after.steps - before.steps)
                                : 0.0},
      {"preemptions", after.preemptions - before.preemptions},
      // Where the engine's worker spent the run (EngineStats): the model incl. the GPU wait,
      // sampling incl. the top-k reduction, and planning/bookkeeping/streaming.
      {"forward_s", after.forward_s - before.forward_s},
      {"sample_s", after.sample_s - before.sample_s},
      {"schedule_s", after.schedule_s - before.schedule_s},
  };
  return r;
}

}  // namespace

Expected<nlohmann::json> bench_concurrency(const BenchConcurrencyArgs& a) {
  if (a.concurrency < 1 || a.prompt_tokens < 1 || a.gen_tokens < 1 || a.repetitions < 1)
    return make_error("bench: concurrency, prompt and generation lengths must be >= 1");
  if (a.shared_prefix < 0 || a.shared_prefix > a.prompt_tokens)
    return make_error("bench: --shared-prefix must be between 0 and the prompt length");
  EngineOptions eo = a.engine;
  eo.max_running = std::max(eo.max_running, a.concurrency);
  const int seq_len = a.prompt_tokens + a.gen_tokens + 1;
  if (eo.runner.n_ctx == 0) eo.runner.n_ctx = seq_len;
  if (eo.runner.kv_blocks == 0) {
    const int bs = eo.runner.block_size;
    eo.runner.kv_blocks = a.concurrency * ((seq_len + bs - 1) / bs) + 1;
  }
  MLXR_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::create(a.model, eo));
  if (seq_len > engine->n_ctx())
    return make_error("bench: prompt + generation (" + std::to_string(seq_len - 1) + ") exceed the context (" +
                      std::to_string(engine->n_ctx()) + "); pass -c");
  // Random ids away from the control tokens; a fixed seed gives the same load on every run.
  const int n_vocab = engine->hparams().n_vocab;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> dist(std::min(300, n_vocab - 1), n_vocab - 1);
  std::vector<int32_t> shared(static_cast<size_t>(a.shared_prefix));
  for (auto& t : shared) t = dist(rng);
  auto make_prompts = [&](int n) {
    std::vector<std::vector<int32_t>> ps;
    for (int i = 0; i < n; ++i) {
      std::vector<int32_t> p = shared;
      while (static_cast<int>(p.size()) < a.prompt_tokens) p.push_back(dist(rng));
      ps.push_back(std::move(p));
    }
    return ps;
  };
  // Warm-up: touches every weight page once.
  MLXR_RETURN_IF_ERROR(run_load(*engine, make_prompts(1), 2));

  nlohmann::json j = {
      {"model", a.model},
      {"concurrency", a.concurrency},
      {"prompt_tokens", a.prompt_tokens},
      {"gen_tokens", a.gen_tokens},
      {"shared_prefix", a.shared_prefix},
      {"max_batch_tokens", eo.max_batch_tokens},
      {"threads", eo.runner.threads},
      {"kv_type", dtype_name(eo.runner.kv_dtype)},
      {"prefix_cache", eo.prefix_cache},
  };
  // Single and concurrent loads alternate so that drift in the machine's load hits both alike;
  // the run with the median decode rate is reported in full, every rate is listed.
  std::vector<LoadResult> singles, manys;
  for (int rep = 0; rep < a.repetitions; ++rep) {
    if (a.baseline) {
      MLXR_ASSIGN_OR_RETURN(LoadResult one, run_load(*engine, make_prompts(1), a.gen_tokens));
      singles.push_back(std::move(one));
    }
    MLXR_ASSIGN_OR_RETURN(LoadResult many, run_load(*engine, make_prompts(a.concurrency), a.gen_tokens));
    manys.push_back(std::move(many));
  }
  auto median_run = [](std::vector<LoadResult>& runs, nlohmann::json& rates) {
    std::sort(runs.begin(), runs.end(), [](const LoadResult& x, const LoadResult& y) { return x.decode_tok_s < y.decode_tok_s; });
    for (const auto& r : runs) rates.push_back(r.decode_tok_s);
    return &runs[runs.size() / 2];
  };
  nlohmann::json many_rates = nlohmann::json::array(), single_rates = nlohmann::json::array();
  const LoadResult* many = median_run(manys, many_rates);
  j["concurrent"] = many->json;
  j["concurrent_decode_tokens_per_s_runs"] = many_rates;
  if (!singles.empty()) {
    const LoadResult* one = median_run(singles, single_rates);
    j["single"] = one->json;
    j["single_decode_tokens_per_s_runs"] = single_rates;
    if (one->decode_tok_s > 0) j["decode_speedup_vs_single"] = many->decode_tok_s / one->decode_tok_s;
  }
  j["repetitions"] = a.repetitions;
  return j;
}

int cmd_bench_concurrency(int argc, char** argv) {
  auto value_opts = model_value_options();
  for (const char* o : {"-p|--prompt-tokens", "-n|--gen-tokens", "--concurrency", "--shared-prefix",
                        "--batch-tokens", "--kv-blocks", "-r|--repetitions"})
    value_opts.push_back(o);
  Args args(argc, argv, value_opts, {"--json", "-h|--help", "--no-prefix-cache", "--no-baseline"});
  if (args.flag("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  BenchConcurrencyArgs a;
  std::string err = args.ok() ? parse_runner_options(args, a.engine.runner) : args.error();
  a.concurrency = args.get_int("--concurrency", 8);
  a.prompt_tokens = args.get_int("--prompt-tokens", 128);
  a.gen_tokens = args.get_int("--gen-tokens", 64);
  a.shared_prefix = args.get_int("--shared-prefix", 0);
  a.engine.max_batch_tokens = args.get_int("--batch-tokens", 512);
  a.engine.runner.kv_blocks = args.get_int("--kv-blocks", 0);
  a.engine.prefix_cache = !args.flag("--no-prefix-cache");
  a.baseline = !args.flag("--no-baseline");
  a.repetitions = args.get_int("--repetitions", 1);
  if (err.empty() && !args.ok()) err = args.error();
  if (err.empty() && !args.get("--model")) err = "-m MODEL is required";
  if (err.empty() && (a.engine.max_batch_tokens < 1 || a.engine.runner.kv_blocks < 0 || a.repetitions < 1))
    err = "--batch-tokens and --repetitions must be >= 1, --kv-blocks >= 0";
  if (!err.empty()) {
    std::fprintf(stderr, "mlxr bench: %s\n\n%s", err.c_str(), kHelp);
    return 2;
  }
  a.model = *args.get("--model");
  auto j = bench_concurrency(a);
  if (!j) {
    std::fprintf(stderr, "mlxr bench: %s\n", j.error().c_str());
    return 1;
  }
  if (args.flag("--json")) {
    std::cout << j->dump() << "\n";
    return 0;
  }
  auto row = [](const char* name, const nlohmann::json& r) {
    std::printf("%-10s %4d req  total %8.1f tok/s  decode %8.1f tok/s  per-seq %7.1f tok/s  TTFT p50/p99 %7.1f/%7.1f ms  "
                "ITL p50/p99 %6.1f/%6.1f ms  KV peak %3.0f%%  prefix hits %3.0f%%  "
                "forward/sample/schedule %.3f/%.3f/%.3f s\n",
                name, r["requests"].get<int>(), r["total_tokens_per_s"].get<double>(), r["decode_tokens_per_s"].get<double>(),
                r["per_seq_decode_tokens_per_s_mean"].get<double>(), r["ttft_ms_p50"].get<double>(),
                r["ttft_ms_p99"].get<double>(), r["itl_ms_p50"].get<double>(), r["itl_ms_p99"].get<double>(),
                100 * r["kv_utilisation_peak"].get<double>(), 100 * r["prefix_hit_rate"].get<double>(),
                r["forward_s"].get<double>(), r["sample_s"].get<double>(), r["schedule_s"].get<double>());
  };
  std::printf("model %s: %d x (%d prompt + %d generated)\n", a.model.c_str(), a.concurrency, a.prompt_tokens, a.gen_tokens);
  if (j->contains("single")) row("single", (*j)["single"]);
  row("concurrent", (*j)["concurrent"]);
  if (j->contains("decode_speedup_vs_single"))
    std::printf("decode speedup vs single: %.2fx\n", (*j)["decode_speedup_vs_single"].get<double>());
  return 0;
}

}  // namespace mlxr::cli
