// MLXR's own endpoints for the web UI and operators: login (cookie), runtime config, logs,
// Prometheus metrics, health.
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "daemon/server/api.h"
#include "daemon/server/json_util.h"

namespace mlxr::server {

namespace {

bool const_time_eq(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

void login(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return openai_error(*r, 400, body.error());
  std::string token;
  if (Status s = get_string(*body, "token", &token); !s) return openai_error(*r, 400, s.message(), "", "token");
  auto cfg = ctx.config();
  if (cfg.auth_enabled && !const_time_eq(token, cfg.token)) {
    ctx.logs.warn("login rejected", {{"over_unix_socket", req.over_unix_socket}});
    return openai_error(*r, 401, "wrong token", "authentication_error", "token", "invalid_api_key");
  }
  // HttpOnly: page scripts never see it; SameSite=Strict: other sites cannot ride on it.
  std::string cookie = "mlxr_token=" + cfg.token + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000";
  send_json(*r, 200, {{"ok", true}}, {{"Set-Cookie", cookie}});
}

void logout(ServerContext&, const Request&, std::shared_ptr<Responder> r) {
  send_json(*r, 200, {{"ok", true}}, {{"Set-Cookie", "mlxr_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"}});
}

void get_config(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) {
  send_json(*r, 200, config::to_json(ctx.config()));
}

void put_config(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return openai_error(*r, 400, body.error());
  Status st = ctx.patch_config(*body);
  if (!st) return openai_error(*r, 400, st.message());
  send_json(*r, 200, config::to_json(ctx.config()));
}

void logs(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  uint64_t since = 0;
  size_t limit = 1000;
  auto it = req.query.find("since");
  if (it != req.query.end()) {
    try {
      size_t n = 0;
      since = std::stoull(it->second, &n);
      if (n != it->second.size()) throw 0;
    } catch (...) {
      return openai_error(*r, 400, "'since' must be a non-negative integer sequence number", "", "since");
    }
  }
  it = req.query.find("limit");
  if (it != req.query.end()) {
    try {
      limit = std::clamp<size_t>(std::stoul(it->second), 1, 5000);
    } catch (...) {
      return openai_error(*r, 400, "'limit' must be an integer", "", "limit");
    }
  }
  json lines = json::array();
  for (auto& l : ctx.logs.since(since, limit)) lines.push_back(l.to_json());
  send_json(*r, 200, {{"lines", lines}, {"last_seq", ctx.logs.last_seq()}});
}

double rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, rss = 0;
  f >> pages >> rss;
  return static_cast<double>(rss) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

void metrics(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) {
  // Per-model engine gauges are rebuilt at scrape time from the loaded set.
  std::string body = ctx.metrics.render_prometheus();
  auto loaded = ctx.host->loaded();
  auto g = [&](const char* name, const char* help, auto get) {
    body += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    for (auto& m : loaded) body += std::string(name) + "{model=\"" + m.name + "\"} " + std::to_string(get(m.stats)) + "\n";
  };
  g("mlxr_queue_depth", "Requests waiting to be scheduled", [](const ModelStats& s) { return s.waiting; });
  g("mlxr_running_sequences", "Sequences decoding", [](const ModelStats& s) { return s.running; });
  g("mlxr_kv_blocks_used", "KV cache blocks in use", [](const ModelStats& s) { return s.kv_blocks_used; });
  g("mlxr_kv_blocks_free", "KV cache blocks free", [](const ModelStats& s) { return s.kv_blocks_free; });
  g("mlxr_kv_blocks_cached", "KV cache blocks holding reusable prefixes", [](const ModelStats& s) { return s.kv_blocks_cached; });
  g("mlxr_kv_blocks_total", "KV cache blocks in the arena", [](const ModelStats& s) { return s.kv_blocks_total; });
  g("mlxr_batch_tokens", "Tokens in the last engine step", [](const ModelStats& s) { return s.last_batch_tokens; });
  g("mlxr_batch_sequences", "Sequences in the last engine step", [](const ModelStats& s) { return s.last_batch_seqs; });
  body += "# HELP mlxr_loaded_models Models in memory\n# TYPE mlxr_loaded_models gauge\nmlxr_loaded_models " +
          std::to_string(loaded.size()) + "\n";
  body += "# HELP process_resident_memory_bytes Resident memory\n# TYPE process_resident_memory_bytes gauge\n"
          "process_resident_memory_bytes " + std::to_string(static_cast<long long>(rss_bytes())) + "\n";
  r->send(200, "text/plain; version=0.0.4; charset=utf-8", body);
}

void health(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) {
  double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
  json models = json::array();
  for (auto& m : ctx.host->loaded()) models.push_back(m.name);
  send_json(*r, ctx.shutting_down ? 503 : 200,
            {{"status", ctx.shutting_down ? "shutting_down" : "ok"}, {"version", ctx.version}, {"uptime_s", up},
             {"loaded_models", models}, {"rss_bytes", rss_bytes()}});
}

}  // namespace

bool request_authorized(const ServerContext& ctx, const Request& req) {
  auto cfg = ctx.config();
  if (req.over_unix_socket || !cfg.auth_enabled) return true;  // the socket's 0600 mode guards UDS
  std::string auth = req.header("authorization");
  if (auth.size() > 7 && (auth.rfind("Bearer ", 0) == 0 || auth.rfind("bearer ", 0) == 0) &&
      const_time_eq(auth.substr(7), cfg.token))
    return true;
  std::string cookies = req.header("cookie");
  size_t p = 0;
  while (p < cookies.size()) {
    size_t semi = cookies.find(';', p);
    std::string c = cookies.substr(p, semi == std::string::npos ? std::string::npos : semi - p);
    size_t a = c.find_first_not_of(' ');
    if (a != std::string::npos) c = c.substr(a);
    if (c.rfind("mlxr_token=", 0) == 0 && const_time_eq(c.substr(11), cfg.token)) return true;
    if (semi == std::string::npos) break;
    p = semi + 1;
  }
  return false;
}

void register_admin(std::vector<Route>& routes) {
  routes.push_back({"POST", "/api/mlxr/login", false, login});
  routes.push_back({"POST", "/api/mlxr/logout", false, logout});
  routes.push_back({"GET", "/api/mlxr/config", true, get_config});
  routes.push_back({"PUT", "/api/mlxr/config", true, put_config});
  routes.push_back({"GET", "/api/mlxr/logs", true, logs});
  routes.push_back({"GET", "/metrics", true, metrics});
  routes.push_back({"GET", "/health", false, health});
}

}  // namespace mlxr::server
