// The running daemon: config -> registry (repaired at open) -> model host -> HTTP server, plus
// a keep_alive sweeper, and graceful shutdown on SIGINT/SIGTERM (cancel streams, close the
// catalog).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "daemon/config/config.h"
#include "daemon/server/context.h"
#include "daemon/server/model_api.h"

namespace mlxr::server {

struct DaemonOptions {
  config::ServerConfig config;
  std::vector<std::pair<std::string, std::string>> pinned;  // (path, name): served without registration
  ModelLoader loader;        // empty: the engine
  int pool_threads = 4;
  bool log_to_stderr = true;
};

class Daemon {
 public:
  // Blocks SIGINT/SIGTERM in the calling thread (inherited by every thread started here) so
  // wait_for_signal() can take them synchronously.
  static void block_signals();
  static Expected<std::unique_ptr<Daemon>> start(DaemonOptions opt);
  ~Daemon();
  int wait_for_signal();  // returns the signal number
  void stop();            // graceful; idempotent
  int tcp_port() const;
  ServerContext& context();

 private:
  Daemon();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxr::server
