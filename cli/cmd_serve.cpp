// mlxr serve [--config FILE] [--host H] [--port P] [--socket PATH] [--model PATH [--name N]]
//            [--models-dir DIR] [--ui DIR] [--no-auth] [--no-socket]
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/args.h"
#include "cli/daemon_commands.h"
#include "daemon/config/config.h"
#include "daemon/server/daemon.h"

namespace mlxr::cli {

static const char* kServeHelp =
    "usage: mlxr serve [options]\n"
    "  --config FILE      server.yaml (default: $MLXR_CONFIG, else ~/.config/mlxr/server.yaml if present)\n"
    "  --socket PATH      Unix socket (default: $XDG_RUNTIME_DIR/mlxr/mlxr.sock)\n"
    "  --no-socket        do not listen on a Unix socket\n"
    "  --host H --port P  also listen on TCP (default port 11434 when --host is given)\n"
    "  --no-auth          TCP without the bearer token (trusted networks only)\n"
    "  --model PATH       serve this GGUF/.bin/safetensors dir without registering it\n"
    "  --name N           its name (default: from the file name)\n"
    "  --models-dir DIR   registry location (default: ~/.local/share/mlxr/models)\n"
    "  --ui DIR           static web UI to serve at / (app/ui/dist)\n"
    "  --keep-alive D     default keep_alive (5m, 30s, -1 = forever)\n"
    "  --n-ctx N, --kv-blocks N, --max-batch-tokens N, --max-running N, --device cpu|cuda|auto, --threads N\n"
    "Environment: MLXR_HOST=host:port, MLXR_SOCKET, MLXR_MODELS, MLXR_NO_AUTH=1, MLXR_KEEP_ALIVE, MLXR_UI_DIR.\n";

int cmd_serve(int argc, char** argv) {
  Args a(argc, argv,
         {"--config", "--host", "--port", "--socket", "--model", "--name", "--models-dir", "--ui", "--keep-alive",
          "--n-ctx", "--kv-blocks", "--max-batch-tokens", "--max-running", "--device", "--threads", "--demo-model"},
         {"--no-auth", "--no-socket", "-h|--help"});
  if (a.flag("--help")) {
    std::fputs(kServeHelp, stdout);
    return 0;
  }
  if (!a.ok()) {
    std::fprintf(stderr, "mlxr serve: %s\n\n%s", a.error().c_str(), kServeHelp);
    return 2;
  }
  std::string cfg_path = a.get_or("--config", "");
  if (cfg_path.empty()) {
    if (const char* e = std::getenv("MLXR_CONFIG"); e && *e) cfg_path = e;
    else {
      std::string def = config::defaults().config_dir + "/server.yaml";
      std::error_code ec;
      if (std::filesystem::exists(def, ec)) cfg_path = def;
    }
  }
  config::ServerConfig cfg = config::defaults();
  if (!cfg_path.empty()) {
    auto c = config::load_file(cfg_path);
    if (!c) {
      std::fprintf(stderr, "mlxr serve: %s\n", c.error().c_str());
      return 2;
    }
    cfg = *c;
  }
  if (Status s = config::apply_env(cfg); !s) {
    std::fprintf(stderr, "mlxr serve: %s\n", s.message().c_str());
    return 2;
  }
  // Command-line flags win over the file and the environment.
  if (auto v = a.get("--socket")) cfg.socket_path = *v;
  if (a.flag("--no-socket")) cfg.socket_enabled = false;
  if (auto v = a.get("--host")) {
    cfg.tcp_host = *v;
    cfg.tcp_enabled = true;
  }
  if (a.has("--port")) {
    cfg.tcp_port = a.get_int("--port", cfg.tcp_port);
    cfg.tcp_enabled = true;
  }
  if (a.flag("--no-auth")) cfg.auth_enabled = false;
  if (auto v = a.get("--models-dir")) cfg.models_dir = *v;
  if (auto v = a.get("--ui")) cfg.ui_dir = *v;
  if (auto v = a.get("--keep-alive")) cfg.keep_alive = *v;
  if (auto v = a.get("--device")) cfg.device = *v;
  if (auto v = a.get("--demo-model")) cfg.demo_model = *v;
  cfg.n_ctx = a.get_int("--n-ctx", cfg.n_ctx);
  cfg.kv_blocks = a.get_int("--kv-blocks", cfg.kv_blocks);
  cfg.max_batch_tokens = a.get_int("--max-batch-tokens", cfg.max_batch_tokens);
  cfg.max_running = a.get_int("--max-running", cfg.max_running);
  cfg.threads = a.get_int("--threads", cfg.threads);
  if (!a.ok()) {
    std::fprintf(stderr, "mlxr serve: %s\n", a.error().c_str());
    return 2;
  }
  if (auto ka = config::parse_duration_seconds(nlohmann::json(cfg.keep_alive)); !ka) {
    std::fprintf(stderr, "mlxr serve: --keep-alive: %s\n", ka.error().c_str());
    return 2;
  }
  if (Status s = config::validate(cfg); !s) {
    std::fprintf(stderr, "mlxr serve: %s\n", s.message().c_str());
    return 2;
  }
  server::DaemonOptions opt;
  opt.config = cfg;
  if (auto m = a.get("--model")) opt.pinned.emplace_back(*m, a.get_or("--name", ""));
  else if (a.has("--name")) {
    std::fprintf(stderr, "mlxr serve: --name needs --model\n");
    return 2;
  }
  auto d = server::Daemon::start(std::move(opt));
  if (!d) {
    std::fprintf(stderr, "mlxr serve: %s\n", d.error().c_str());
    return 1;
  }
  (*d)->wait_for_signal();
  (*d)->stop();
  return 0;
}

}  // namespace mlxr::cli
