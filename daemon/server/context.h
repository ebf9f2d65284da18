// Everything the API handlers share: configuration (runtime-patchable), registry, model host,
// metrics, logs, and the worker pool where blocking work (loads, tokenisation, embeddings,
// pulls) runs so that I/O threads never do.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/config/config.h"
#include "daemon/registry/registry.h"
#include "daemon/server/model_host.h"
#include "daemon/telemetry/log_ring.h"
#include "daemon/telemetry/metrics.h"

namespace mlxr::server {

struct ServerContext {
  config::ServerConfig config() const {
    std::lock_guard<std::mutex> lk(cfg_mu);
    return cfg;
  }
  // Applies a runtime patch and pushes the changes into the host and the log level.
  Status patch_config(const nlohmann::json& patch);

  mutable std::mutex cfg_mu;
  config::ServerConfig cfg;
  registry::Registry* registry = nullptr;
  std::shared_ptr<ModelHost> host;
  telemetry::Metrics metrics;
  telemetry::LogRing logs;
  std::function<void(std::function<void()>)> run_blocking;
  // Models given on the command line (--model PATH --name N): served without registration.
  std::map<std::string, registry::ModelRecord> pinned;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<bool> shutting_down{false};
  std::string version = "0.1.0";

  // name ("" = default) -> record, from pinned models first, then the registry.
  Expected<registry::ModelRecord> resolve(const std::string& name);
  // Everything servable: pinned models and registry rows.
  std::vector<registry::ModelRecord> all_models();
};

}  // namespace mlxr::server
