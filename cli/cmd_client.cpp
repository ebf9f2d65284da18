// mlxr list | ps | pull | rm | show: talk to the running daemon over its Unix socket (or
// MLXR_HOST=host:port with the token file); without a daemon, list/pull/rm/show open the
// registry in-process.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/daemon_commands.h"
#include "daemon/config/config.h"
#include "daemon/registry/registry.h"
#include "daemon/server/client.h"

namespace mlxr::cli {

using json = nlohmann::json;

namespace {

struct Conn {
  server::ClientTarget target;
  bool running = false;
  config::ServerConfig cfg;
};

Conn connect_daemon(Args& a) {
  Conn c;
  c.cfg = config::defaults();
  if (Status s = config::apply_env(c.cfg); !s) std::fprintf(stderr, "mlxr: %s\n", s.message().c_str());
  if (auto v = a.get("--models-dir")) c.cfg.models_dir = *v;
  if (const char* h = std::getenv("MLXR_HOST"); h && *h) {
    c.target.host = c.cfg.tcp_host;
    c.target.port = c.cfg.tcp_port;
    std::ifstream f(c.cfg.token_file.empty() ? c.cfg.config_dir + "/token" : c.cfg.token_file);
    std::getline(f, c.target.token);
  } else {
    c.target.socket_path = a.get_or("--socket", c.cfg.socket_path);
  }
  c.running = server::daemon_running(c.target);
  return c;
}

std::unique_ptr<registry::Registry> open_local(const Conn& c) {
  auto r = registry::Registry::open(c.cfg.models_dir);
  if (!r) {
    std::fprintf(stderr, "mlxr: %s\n", r.error().c_str());
    return nullptr;
  }
  return std::move(*r);
}

std::string human_size(double b) {
  const char* u[] = {"B", "KB", "MB", "GB", "TB"};
  int i = 0;
  while (b >= 1000 && i < 4) b /= 1000, ++i;
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", b, u[i]);
  return buf;
}

int report_http_error(const server::ClientResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  std::string msg = r.body;
  if (j.is_object() && j.contains("error")) msg = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].value("message", r.body);
  std::fprintf(stderr, "mlxr: %s (HTTP %d)\n", msg.c_str(), r.status);
  return 1;
}

const std::vector<std::string> kCommon = {"--socket", "--models-dir"};

}  // namespace

int cmd_list(int argc, char** argv) {
  Args a(argc, argv, kCommon, {"--json"});
  if (!a.ok()) return std::fprintf(stderr, "mlxr list: %s\n", a.error().c_str()), 2;
  Conn c = connect_daemon(a);
  json models = json::array();
  if (c.running) {
    auto r = server::client_request(c.target, "GET", "/api/tags", "");
    if (!r) return std::fprintf(stderr, "mlxr: %s\n", r.error().c_str()), 1;
    if (r->status != 200) return report_http_error(*r);
    models = json::parse(r->body, nullptr, false).value("models", json::array());
  } else {
    auto reg = open_local(c);
    if (!reg) return 1;
    auto l = reg->list();
    if (!l) return std::fprintf(stderr, "mlxr: %s\n", l.error().c_str()), 1;
    for (auto& m : *l)
      models.push_back({{"name", m.name}, {"digest", m.sha256}, {"size", m.size},
                        {"details", {{"family", m.arch}, {"quantization_level", m.quant}, {"random_weights", m.is_demo}}}});
  }
  if (a.flag("--json")) return std::printf("%s\n", models.dump(2).c_str()), 0;
  std::printf("%-40s %-14s %-10s %-8s %s\n", "NAME", "ID", "SIZE", "QUANT", "NOTE");
  for (auto& m : models) {
    std::string d = m.value("digest", "");
    auto det = m.value("details", json::object());
    std::printf("%-40s %-14s %-10s %-8s %s\n", m.value("name", "").c_str(), d.substr(0, 12).c_str(),
                human_size(m.value("size", 0.0)).c_str(), det.value("quantization_level", "").c_str(),
                det.value("random_weights", false) ? "demo: random weights" : "");
  }
  return 0;
}

int cmd_ps(int argc, char** argv) {
  Args a(argc, argv, kCommon, {"--json"});
  if (!a.ok()) return std::fprintf(stderr, "mlxr ps: %s\n", a.error().c_str()), 2;
  Conn c = connect_daemon(a);
  if (!c.running) return std::fprintf(stderr, "mlxr ps: no daemon is running (start one with `mlxr serve`)\n"), 1;
  auto r = server::client_request(c.target, "GET", "/api/ps", "");
  if (!r) return std::fprintf(stderr, "mlxr: %s\n", r.error().c_str()), 1;
  if (r->status != 200) return report_http_error(*r);
  json models = json::parse(r->body, nullptr, false).value("models", json::array());
  if (a.flag("--json")) return std::printf("%s\n", models.dump(2).c_str()), 0;
  std::printf("%-40s %-10s %-8s %s\n", "NAME", "SIZE", "ACTIVE", "UNTIL");
  for (auto& m : models)
    std::printf("%-40s %-10s %-8d %s\n", m.value("name", "").c_str(), human_size(m.value("size", 0.0)).c_str(),
                m.value("active_requests", 0), m.value("expires_at", "").c_str());
  return 0;
}

int cmd_pull(int argc, char** argv) {
  Args a(argc, argv, {"--socket", "--models-dir", "--name", "--sha256"}, {});
  if (!a.ok() || a.positionals().size() != 1)
    return std::fprintf(stderr, "usage: mlxr pull URL|org/repo/file.gguf [--name N] [--sha256 HEX]\n"), 2;
  Conn c = connect_daemon(a);
  std::string spec = a.positionals()[0];
  if (c.running) {
    json body = {{"model", spec}, {"stream", true}};
    if (auto n = a.get("--name")) body["name"] = *n;
    if (auto s = a.get("--sha256")) body["sha256"] = *s;
    std::string err;
    auto r = server::client_request(c.target, "POST", "/api/pull", body.dump(), [&](const std::string& line) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) return;
      if (j.contains("error")) err = j["error"].get<std::string>();
      else if (j.contains("completed") && j.value("total", 0) > 0)
        std::fprintf(stderr, "\r%s %5.1f%%", j.value("status", "").c_str(), 100.0 * j["completed"].get<double>() / j["total"].get<double>());
      else std::fprintf(stderr, "\n%s", j.value("status", "").c_str());
    });
    std::fprintf(stderr, "\n");
    if (!r) return std::fprintf(stderr, "mlxr: %s\n", r.error().c_str()), 1;
    if (r->status != 200) return report_http_error(*r);
    if (!err.empty()) return std::fprintf(stderr, "mlxr pull: %s\n", err.c_str()), 1;
    return 0;
  }
  auto reg = open_local(c);
  if (!reg) return 1;
  registry::PullOptions po;
  po.url = spec;
  po.name = a.get_or("--name", "");
  po.sha256 = a.get_or("--sha256", "");
  po.hf_endpoint = c.cfg.hf_endpoint;
  auto rec = reg->pull(po, [](const registry::PullProgress& p) {
    if (p.total) std::fprintf(stderr, "\r%s %5.1f%%", p.status.c_str(), 100.0 * p.completed / p.total);
    else std::fprintf(stderr, "\n%s", p.status.c_str());
  });
  std::fprintf(stderr, "\n");
  if (!rec) return std::fprintf(stderr, "mlxr pull: %s\n", rec.error().c_str()), 1;
  std::printf("%s sha256:%s\n", rec->name.c_str(), rec->sha256.c_str());
  return 0;
}

int cmd_rm(int argc, char** argv) {
  Args a(argc, argv, kCommon, {});
  if (!a.ok() || a.positionals().empty()) return std::fprintf(stderr, "usage: mlxr rm NAME...\n"), 2;
  Conn c = connect_daemon(a);
  std::unique_ptr<registry::Registry> reg;
  if (!c.running && !(reg = open_local(c))) return 1;
  int rc = 0;
  for (auto& name : a.positionals()) {
    if (c.running) {
      auto r = server::client_request(c.target, "DELETE", "/api/delete", json{{"model", name}}.dump());
      if (!r) return std::fprintf(stderr, "mlxr: %s\n", r.error().c_str()), 1;
      if (r->status != 200) rc = report_http_error(*r);
      else std::printf("deleted '%s'\n", name.c_str());
    } else {
      Status s = reg->remove(name);
      if (!s) rc = 1, std::fprintf(stderr, "mlxr rm: %s\n", s.message().c_str());
      else std::printf("deleted '%s'\n", name.c_str());
    }
  }
  return rc;
}

int cmd_show(int argc, char** argv) {
  Args a(argc, argv, kCommon, {"--json", "--modelfile"});
  if (!a.ok() || a.positionals().size() != 1) return std::fprintf(stderr, "usage: mlxr show NAME [--json|--modelfile]\n"), 2;
  Conn c = connect_daemon(a);
  json info;
  if (c.running) {
    auto r = server::client_request(c.target, "POST", "/api/show", json{{"model", a.positionals()[0]}}.dump());
    if (!r) return std::fprintf(stderr, "mlxr: %s\n", r.error().c_str()), 1;
    if (r->status != 200) return report_http_error(*r);
    info = json::parse(r->body, nullptr, false).value("mlxr", json::object());
  } else {
    auto reg = open_local(c);
    if (!reg) return 1;
    auto f = reg->find(a.positionals()[0]);
    if (!f) return std::fprintf(stderr, "mlxr show: %s\n", f.error().c_str()), 1;
    if (!*f) return std::fprintf(stderr, "mlxr show: model '%s' not found\n", a.positionals()[0].c_str()), 1;
    info = registry::record_to_json(**f);
  }
  if (a.flag("--json")) return std::printf("%s\n", info.dump(2).c_str()), 0;
  for (auto& [k, v] : info.items()) std::printf("  %-14s %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  return 0;
}

}  // namespace mlxr::cli
