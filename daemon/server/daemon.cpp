#include "daemon/server/daemon.h"

#include <signal.h>

#include <condition_variable>
#include <filesystem>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "daemon/registry/names.h"
#include "daemon/server/api.h"
#include "daemon/server/http_server.h"
#include "daemon/server/json_util.h"

namespace mlxr::server {

struct Daemon::Impl {
  ServerContext ctx;
  std::unique_ptr<registry::Registry> registry;
  std::unique_ptr<boost::asio::thread_pool> pool;
  std::unique_ptr<HttpServer> http;
  std::thread sweeper;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool stopped = false;
};

Daemon::Daemon() : impl_(std::make_unique<Impl>()) {}
Daemon::~Daemon() { stop(); }

void Daemon::block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

static LoadSpec spec_from(const config::ServerConfig& c) {
  LoadSpec s;
  s.device = c.device;
  s.threads = c.threads;
  s.n_ctx = c.n_ctx;
  s.kv_blocks = c.kv_blocks;
  s.max_batch_tokens = c.max_batch_tokens;
  s.max_running = c.max_running;
  return s;
}

Expected<std::unique_ptr<Daemon>> Daemon::start(DaemonOptions opt) {
  block_signals();
  std::unique_ptr<Daemon> d(new Daemon());
  Impl& I = *d->impl_;
  ServerContext& ctx = I.ctx;
  MLXR_RETURN_IF_ERROR(config::validate(opt.config));
  MLXR_RETURN_IF_ERROR(config::ensure_token(opt.config));
  ctx.cfg = opt.config;
  ctx.logs.set_echo(opt.log_to_stderr);
  telemetry::LogLevel lvl;
  if (telemetry::parse_level(ctx.cfg.log_level, &lvl)) ctx.logs.set_level(lvl);

  MLXR_ASSIGN_OR_RETURN(I.registry, registry::Registry::open(ctx.cfg.models_dir));
  ctx.registry = I.registry.get();
  MLXR_ASSIGN_OR_RETURN(auto repaired, I.registry->check_and_repair());
  for (auto& m : repaired) ctx.logs.warn("registry repaired", {{"action", m}});

  // A new user with nothing registered still gets a model to talk to: the synthetic demo.
  auto existing = I.registry->list();
  std::error_code ec;
  // Setup (`mlxr synth`) writes the demo here unless demo_model names another file.
  std::string demo = ctx.cfg.demo_model.empty() ? ctx.cfg.models_dir + "/demo-random-weights.gguf" : ctx.cfg.demo_model;
  if (existing && existing->empty() && opt.pinned.empty() && std::filesystem::exists(demo, ec)) {
    registry::ImportOptions io;
    io.is_demo = true;
    auto r = I.registry->import_path(demo, "demo-random-weights", io);
    if (r) ctx.logs.info("registered the demo model (random weights: output is gibberish)", {{"name", r->name}});
    else ctx.logs.warn("could not register the demo model", {{"error", r.error()}});
  }

  for (auto& [path, name] : opt.pinned) {
    registry::ModelRecord rec;
    rec.path = std::filesystem::absolute(path).lexically_normal().string();
    MLXR_ASSIGN_OR_RETURN(rec.name, registry::normalize_name(name.empty() ? registry::name_from_basename(path) : name));
    MLXR_RETURN_IF_ERROR(registry::describe_model(rec));
    rec.source = rec.path;
    rec.size = std::filesystem::is_regular_file(rec.path, ec) ? static_cast<int64_t>(std::filesystem::file_size(rec.path, ec)) : 0;
    rec.created_at = rec.modified_at = unix_now();
    ctx.pinned[rec.name] = rec;
    if (ctx.cfg.default_model.empty()) ctx.cfg.default_model = rec.name;
  }

  I.pool = std::make_unique<boost::asio::thread_pool>(opt.pool_threads);
  ctx.run_blocking = [pool = I.pool.get()](std::function<void()> fn) { boost::asio::post(*pool, std::move(fn)); };
  ModelLoader loader = opt.loader ? opt.loader : engine_loader();
  ctx.host = std::make_shared<ModelHost>(
      loader, [&ctx](const std::string& n) { return ctx.resolve(n); }, ctx.run_blocking);
  ctx.host->set_spec_defaults(spec_from(ctx.cfg));
  ctx.host->set_max_loaded(ctx.cfg.max_loaded_models);
  auto ka = config::parse_duration_seconds(nlohmann::json(ctx.cfg.keep_alive));
  ctx.host->set_default_keep_alive(ka ? *ka : 300);

  HttpOptions ho;
  if (ctx.cfg.socket_enabled) ho.socket_path = ctx.cfg.socket_path;
  ho.tcp = ctx.cfg.tcp_enabled;
  ho.host = ctx.cfg.tcp_host;
  ho.port = ctx.cfg.tcp_port;
  ho.io_threads = ctx.cfg.io_threads;
  ho.max_body_bytes = ctx.cfg.max_body_bytes;
  ho.header_timeout_s = ctx.cfg.header_timeout_s;
  ho.max_connections = ctx.cfg.max_connections;
  ho.on_status = [&ctx](const std::string& route, int status) {
    ctx.metrics.counter("mlxr_http_responses_total", "HTTP responses by route and status",
                        {{"route", route}, {"code", std::to_string(status)}}).inc();
  };
  I.http = std::make_unique<HttpServer>(ho, make_router(ctx));
  ctx.metrics.gauge("mlxr_http_connections", "Open HTTP connections",
                    [http = I.http.get()] { return static_cast<double>(http->connections()); });
  MLXR_RETURN_IF_ERROR(I.http->start());
  I.sweeper = std::thread([&I] {
    std::unique_lock<std::mutex> lk(I.mu);
    while (!I.stopping) {
      I.cv.wait_for(lk, std::chrono::milliseconds(500));
      if (I.stopping) break;
      lk.unlock();
      I.ctx.host->sweep();
      lk.lock();
    }
  });
  json where = json::object();
  if (ctx.cfg.socket_enabled) where["socket"] = ctx.cfg.socket_path;
  if (ctx.cfg.tcp_enabled) where["tcp"] = ctx.cfg.tcp_host + ":" + std::to_string(I.http->tcp_port());
  where["auth"] = ctx.cfg.auth_enabled ? "token in " + ctx.cfg.token_file : "disabled";
  where["models_dir"] = ctx.cfg.models_dir;
  where["engine"] = engine_available() ? "available" : "not built";
  ctx.logs.info("mlxr daemon listening", where);
  return d;
}

int Daemon::wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  impl_->ctx.logs.info("signal received; shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  return sig;
}

void Daemon::stop() {
  Impl& I = *impl_;
  {
    std::lock_guard<std::mutex> lk(I.mu);
    if (I.stopped) return;
    I.stopped = true;
    I.stopping = true;
  }
  I.cv.notify_all();
  I.ctx.shutting_down = true;
  if (I.sweeper.joinable()) I.sweeper.join();
  // Cancel generation first: every stream gets its final chunk before connections close.
  if (I.ctx.host) I.ctx.host->shutdown();
  for (int i = 0; i < 50 && I.http && I.http->connections() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (I.http) I.http->stop();
  if (I.pool) I.pool->join();
  I.ctx.logs.info("mlxr daemon stopped");
  I.registry.reset();  // closes SQLite (WAL checkpoint)
}

int Daemon::tcp_port() const { return impl_->http ? impl_->http->tcp_port() : 0; }
ServerContext& Daemon::context() { return impl_->ctx; }

}  // namespace mlxr::server
