#include "daemon/server/context.h"

#include "daemon/registry/names.h"

namespace mlxr::server {

Status ServerContext::patch_config(const nlohmann::json& patch) {
  config::ServerConfig next;
  {
    std::lock_guard<std::mutex> lk(cfg_mu);
    next = cfg;
    MLXR_RETURN_IF_ERROR(config::apply_patch(next, patch));
    cfg = next;
  }
  if (host) {
    auto ka = config::parse_duration_seconds(nlohmann::json(next.keep_alive));
    if (ka) host->set_default_keep_alive(*ka);
    host->set_max_loaded(next.max_loaded_models);
    LoadSpec s;
    s.device = next.device;
    s.threads = next.threads;
    s.n_ctx = next.n_ctx;
    s.kv_blocks = next.kv_blocks;
    s.max_batch_tokens = next.max_batch_tokens;
    s.max_running = next.max_running;
    host->set_spec_defaults(s);
  }
  telemetry::LogLevel l;
  if (telemetry::parse_level(next.log_level, &l)) logs.set_level(l);
  logs.info("config changed", {{"patch", patch}});
  return Status::ok();
}

Expected<registry::ModelRecord> ServerContext::resolve(const std::string& raw) {
  std::string want = raw;
  if (want.empty()) {
    want = config().default_model;
    if (want.empty()) {
      auto all = all_models();
      if (all.size() == 1) return all[0];
      if (all.empty()) return make_error("model '' not found: no model is registered (run `mlxr pull` or `mlxr serve --model PATH`)");
      return make_error("model '' not found: the request names no model and models.default is not set");
    }
  }
  auto norm = registry::normalize_name(want);
  if (!norm) return make_error("model '" + want + "' not found (" + norm.error() + ")");
  auto it = pinned.find(*norm);
  if (it != pinned.end()) return it->second;
  if (registry) {
    auto r = registry->find(*norm);
    if (!r) return make_error(r.error());
    if (*r) return **r;
  }
  return make_error("model '" + want + "' not found, try pulling it first");
}

std::vector<registry::ModelRecord> ServerContext::all_models() {
  std::vector<registry::ModelRecord> out;
  for (auto& [k, v] : pinned) out.push_back(v);
  if (registry) {
    auto l = registry->list();
    if (l)
      for (auto& r : *l)
        if (!pinned.count(r.name)) out.push_back(r);
  }
  return out;
}

}  // namespace mlxr::server
