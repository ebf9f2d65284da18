// server.yaml: defaults, validation (every error names the key), environment overrides, the
// auth token file, and the runtime-changeable subset (PUT /api/mlxr/config).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"

namespace mlxr::config {

struct ServerConfig {
  // Listening
  std::string socket_path;        // "" = default under $XDG_RUNTIME_DIR/mlxr or ~/.local/share/mlxr/run
  bool socket_enabled = true;
  bool tcp_enabled = false;
  std::string tcp_host = "127.0.0.1";
  int tcp_port = 11434;
  // Auth
  bool auth_enabled = true;       // TCP requires the token unless false
  std::string token;              // set from token_file (generated on first start) unless given
  std::string token_file;         // "" = <config_dir>/token
  // Storage
  std::string models_dir;         // "" = ~/.local/share/mlxr/models
  std::string ui_dir;             // static web UI (index.html ...); "" = not served
  std::string demo_model;         // registered as a labelled demo when the registry is empty
  std::string hf_endpoint = "https://huggingface.co";
  // Engine
  std::string device = "auto";
  int threads = 0;
  int n_ctx = 0;
  int kv_blocks = 0;
  int max_batch_tokens = 512;     // runtime-changeable (applies to models loaded afterwards)
  int max_running = 64;           // runtime-changeable (idem)
  int max_loaded_models = 1;      // runtime-changeable
  std::string default_model;      // runtime-changeable
  std::string keep_alive = "5m";  // runtime-changeable; Ollama duration syntax
  // HTTP
  int io_threads = 2;
  uint64_t max_body_bytes = 8ull << 20;
  int header_timeout_s = 30;      // time to receive a complete request
  int max_connections = 4096;
  std::string log_level = "info"; // runtime-changeable
  int log_ring_lines = 4096;

  std::string config_dir;         // where the token lives; "" = ~/.config/mlxr
  std::string source_path;        // the YAML file this came from, if any
};

// Defaults with the platform paths filled in.
ServerConfig defaults();
// Reads YAML over the defaults. Unknown keys and wrong types are errors naming the key.
Expected<ServerConfig> load_file(const std::string& path);
Expected<ServerConfig> load_string(const std::string& yaml, ServerConfig base = defaults());
// MLXR_SOCKET, MLXR_HOST (host:port, enables TCP), MLXR_MODELS, MLXR_NO_AUTH=1, MLXR_KEEP_ALIVE,
// MLXR_CONFIG_DIR, MLXR_UI_DIR.
Status apply_env(ServerConfig& c);
// Range/consistency checks; message names the key.
Status validate(const ServerConfig& c);
// Loads token_file or creates it (0600, 32 random bytes hex) when auth is on and no token is set.
Status ensure_token(ServerConfig& c);

// Ollama keep_alive: number (seconds), duration string ("5m", "1h30m", "10s", "300ms"), negative
// = forever. Returns seconds; -1 = forever.
Expected<double> parse_duration_seconds(const nlohmann::json& v);

// Runtime view (token redacted) and patch (only the runtime-changeable keys).
nlohmann::json to_json(const ServerConfig& c);
Status apply_patch(ServerConfig& c, const nlohmann::json& patch);
std::vector<std::string> runtime_keys();

// Default socket path for a client to find the daemon.
std::string default_socket_path();

}  // namespace mlxr::config
