// `mlxr bench --concurrency N`: N simultaneous requests through the serving Engine
// (continuous batching over the paged KV cache), compared with one request alone.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/scheduler/engine.h"

namespace mlxr::cli {

struct BenchConcurrencyArgs {
  std::string model;
  EngineOptions engine;     // runner options, budget; kv_blocks 0: sized for the whole load
  int concurrency = 8;
  int prompt_tokens = 128;
  int gen_tokens = 64;
  int shared_prefix = 0;    // leading prompt tokens common to every request (prefix cache)
  bool baseline = true;     // also measure one request alone
  int repetitions = 1;      // single and concurrent runs alternate; medians are reported
};

// Runs the load; the JSON holds the totals, percentiles, KV use and the single-request baseline.
Expected<nlohmann::json> bench_concurrency(const BenchConcurrencyArgs& a);

// The CLI face: takes the arguments after `bench` (the lead's cmd_bench dispatches here when
// --concurrency is given). Returns the exit code.
int cmd_bench_concurrency(int argc, char** argv);

}  // namespace mlxr::cli
