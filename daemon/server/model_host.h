// Loads models by name on demand, hands out leases, unloads idle ones after keep_alive, and
// evicts the least recently used idle model when max_loaded is reached. Loading runs on the
// caller-supplied worker pool, never on an I/O thread; concurrent requests for a model being
// loaded wait for that one load.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "daemon/registry/registry.h"
#include "daemon/server/model_api.h"

namespace mlxr::server {

class ModelHost;

// Holding a lease keeps the model loaded; dropping the last one starts the keep_alive clock.
struct Lease {
  std::shared_ptr<ModelInstance> model;
  registry::ModelRecord record;
  double load_ms = 0;  // time this request waited for a load (0 when already loaded)
  ~Lease();

 private:
  friend class ModelHost;
  std::shared_ptr<ModelHost> host_;
  std::optional<double> keep_alive_s_;
};

struct LoadedInfo {
  std::string name;
  registry::ModelRecord record;
  int active = 0;
  bool forever = false;
  std::chrono::system_clock::time_point expires_at;
  uint64_t memory_bytes = 0;
  bool on_gpu = false;
  ModelStats stats;
};

class ModelHost : public std::enable_shared_from_this<ModelHost> {
 public:
  // Resolves a user-facing name to its record ("" = the default model), or an error whose
  // message starts with "model '" ... "' not found" for unknown names.
  using Resolver = std::function<Expected<registry::ModelRecord>(const std::string& name)>;
  using Executor = std::function<void(std::function<void()>)>;  // runs work on the worker pool
  using Done = std::function<void(Expected<std::shared_ptr<Lease>>)>;

  ModelHost(ModelLoader loader, Resolver resolver, Executor exec);

  // done runs on a pool thread. keep_alive_s: nullopt = default, < 0 forever, 0 unload when idle.
  void acquire(const std::string& name, std::optional<double> keep_alive_s, Done done);
  // Unloads now if idle, otherwise as soon as the last lease ends. False if not loaded.
  bool unload(const std::string& resolved_name);
  std::vector<LoadedInfo> loaded() const;
  void sweep();  // unload expired idle models (call periodically)
  void shutdown();

  void set_spec_defaults(LoadSpec s);
  void set_default_keep_alive(double s);
  void set_max_loaded(int n);
  double default_keep_alive() const;
  Resolver resolver() const { return resolver_; }

 private:
  friend struct Lease;
  struct Entry {
    registry::ModelRecord record;
    std::shared_ptr<ModelInstance> model;
    bool loading = false;
    std::vector<std::pair<std::optional<double>, Done>> waiters;
    int active = 0;
    bool forever = false;
    bool unload_requested = false;
    std::chrono::steady_clock::time_point expires;
    std::chrono::steady_clock::time_point last_used;
  };
  void release(const std::string& name, std::optional<double> keep_alive_s);
  void load(const std::string& name);
  std::shared_ptr<Lease> make_lease(const std::string& name, Entry& e, std::optional<double> ka, double load_ms);
  void unload_locked(const std::string& name, std::vector<std::shared_ptr<ModelInstance>>& dead);

  ModelLoader loader_;
  Resolver resolver_;
  Executor exec_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  LoadSpec spec_;
  double default_keep_alive_s_ = 300;
  int max_loaded_ = 1;
  bool shut_ = false;
};

}  // namespace mlxr::server
