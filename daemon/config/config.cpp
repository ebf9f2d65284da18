#include "daemon/config/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <openssl/rand.h>
#include <yaml-cpp/yaml.h>

namespace fs = std::filesystem;

namespace mlxr::config {

static std::string env_or(const char* k, const std::string& d) {
  const char* v = std::getenv(k);
  return v && *v ? v : d;
}

static std::string home() { return env_or("HOME", "/tmp"); }

std::string default_socket_path() {
  std::string rt = env_or("XDG_RUNTIME_DIR", "");
  if (!rt.empty()) return rt + "/mlxr/mlxr.sock";
  return home() + "/.local/share/mlxr/run/mlxr.sock";
}

ServerConfig defaults() {
  ServerConfig c;
  c.socket_path = default_socket_path();
  c.models_dir = env_or("XDG_DATA_HOME", home() + "/.local/share") + "/mlxr/models";
  c.config_dir = env_or("XDG_CONFIG_HOME", home() + "/.config") + "/mlxr";
  return c;
}

namespace {

struct Reader {
  const YAML::Node& root;
  std::set<std::string> seen;

  Status err(const std::string& key, const std::string& what) {
    return Status::error("config: " + key + ": " + what);
  }
  template <typename T>
  Status get(const std::string& key, T* out, const char* type_name) {
    YAML::Node n = lookup(key);
    if (!n) return Status::ok();
    try {
      if (!n.IsScalar()) return err(key, std::string("expected ") + type_name);
      *out = n.as<T>();
    } catch (const YAML::Exception&) {
      return err(key, std::string("expected ") + type_name + ", got '" + n.Scalar() + "'");
    }
    return Status::ok();
  }
  YAML::Node lookup(const std::string& dotted) {
    seen.insert(dotted);
    YAML::Node cur = YAML::Clone(root);
    size_t pos = 0;
    while (true) {
      size_t dot = dotted.find('.', pos);
      std::string part = dotted.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
      YAML::Node next = cur[part];
      if (!next) return YAML::Node(YAML::NodeType::Undefined);
      cur = next;
      if (dot == std::string::npos) return cur;
      pos = dot + 1;
    }
  }
};

void collect_keys(const YAML::Node& n, const std::string& prefix, std::vector<std::string>& out) {
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = prefix.empty() ? it->first.as<std::string>() : prefix + "." + it->first.as<std::string>();
    if (it->second.IsMap()) collect_keys(it->second, k, out);
    else out.push_back(k);
  }
}

}  // namespace

Expected<ServerConfig> load_string(const std::string& yaml, ServerConfig c) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return make_error("config: YAML syntax error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) return make_error("config: the top level must be a mapping of keys");
  Reader r{root, {}};
  MLXR_RETURN_IF_ERROR(r.get("socket.path", &c.socket_path, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("socket.enabled", &c.socket_enabled, "a boolean"));
  MLXR_RETURN_IF_ERROR(r.get("tcp.enabled", &c.tcp_enabled, "a boolean"));
  MLXR_RETURN_IF_ERROR(r.get("tcp.host", &c.tcp_host, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("tcp.port", &c.tcp_port, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("auth.enabled", &c.auth_enabled, "a boolean"));
  MLXR_RETURN_IF_ERROR(r.get("auth.token", &c.token, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("auth.token_file", &c.token_file, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("models_dir", &c.models_dir, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("ui_dir", &c.ui_dir, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("demo_model", &c.demo_model, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("hf_endpoint", &c.hf_endpoint, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("engine.device", &c.device, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("engine.threads", &c.threads, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("engine.n_ctx", &c.n_ctx, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("engine.kv_blocks", &c.kv_blocks, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("engine.max_batch_tokens", &c.max_batch_tokens, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("engine.max_running", &c.max_running, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("models.max_loaded", &c.max_loaded_models, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("models.default", &c.default_model, "a string"));
  YAML::Node ka = r.lookup("models.keep_alive");
  if (ka) {
    if (!ka.IsScalar()) return make_error("config: models.keep_alive: expected a duration like 5m");
    nlohmann::json j;
    try {
      j = ka.as<double>();
    } catch (const YAML::Exception&) {
      j = ka.Scalar();
    }
    auto d = parse_duration_seconds(j);
    if (!d) return make_error("config: models.keep_alive: " + d.error());
    c.keep_alive = ka.Scalar();
  }
  MLXR_RETURN_IF_ERROR(r.get("http.io_threads", &c.io_threads, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("http.max_body_bytes", &c.max_body_bytes, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("http.header_timeout_s", &c.header_timeout_s, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("http.max_connections", &c.max_connections, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("log.level", &c.log_level, "a string"));
  MLXR_RETURN_IF_ERROR(r.get("log.ring_lines", &c.log_ring_lines, "an integer"));
  MLXR_RETURN_IF_ERROR(r.get("config_dir", &c.config_dir, "a string"));
  // "" in the file means "the default location", as the shipped server.yaml documents.
  ServerConfig d = defaults();
  if (c.socket_path.empty()) c.socket_path = d.socket_path;
  if (c.models_dir.empty()) c.models_dir = d.models_dir;
  if (c.config_dir.empty()) c.config_dir = d.config_dir;
  std::vector<std::string> keys;
  collect_keys(root, "", keys);
  for (const auto& k : keys)
    if (!r.seen.count(k)) return make_error("config: " + k + ": unknown key");
  MLXR_RETURN_IF_ERROR(validate(c));
  return c;
}

Expected<ServerConfig> load_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return make_error("config: cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto c = load_string(ss.str());
  if (!c) return make_error(c.error() + " (in " + path + ")");
  c->source_path = path;
  return c;
}

static Expected<int> parse_int_env(const char* key, const std::string& v) {
  try {
    size_t n = 0;
    int x = std::stoi(v, &n);
    if (n != v.size()) throw 0;
    return x;
  } catch (...) {
    return make_error(std::string("config: ") + key + ": expected an integer, got '" + v + "'");
  }
}

Status apply_env(ServerConfig& c) {
  if (const char* v = std::getenv("MLXR_SOCKET"); v && *v) c.socket_path = v;
  if (const char* v = std::getenv("MLXR_MODELS"); v && *v) c.models_dir = v;
  if (const char* v = std::getenv("MLXR_CONFIG_DIR"); v && *v) c.config_dir = v;
  if (const char* v = std::getenv("MLXR_UI_DIR"); v && *v) c.ui_dir = v;
  if (const char* v = std::getenv("MLXR_NO_AUTH"); v && std::string(v) == "1") c.auth_enabled = false;
  if (const char* v = std::getenv("MLXR_KEEP_ALIVE"); v && *v) {
    auto d = parse_duration_seconds(nlohmann::json(std::string(v)));
    if (!d) return Status::error("config: MLXR_KEEP_ALIVE: " + d.error());
    c.keep_alive = v;
  }
  if (const char* v = std::getenv("MLXR_HOST"); v && *v) {
    std::string s = v;
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) {
      c.tcp_host = s;
    } else {
      c.tcp_host = s.substr(0, colon);
      auto p = parse_int_env("MLXR_HOST", s.substr(colon + 1));
      if (!p) return p.status();
      c.tcp_port = *p;
    }
    c.tcp_enabled = true;
  }
  return validate(c);
}

Status validate(const ServerConfig& c) {
  auto bad = [](const std::string& k, const std::string& w) { return Status::error("config: " + k + ": " + w); };
  if (c.tcp_port < 0 || c.tcp_port > 65535) return bad("tcp.port", "must be 0..65535");
  if (!c.socket_enabled && !c.tcp_enabled) return bad("socket.enabled", "either the socket or TCP must be enabled");
  if (c.socket_enabled && c.socket_path.empty()) return bad("socket.path", "must not be empty");
  if (c.socket_path.size() >= 100) return bad("socket.path", "too long for a Unix socket (max 99 bytes)");
  if (c.models_dir.empty()) return bad("models_dir", "must not be empty");
  if (c.device != "auto" && c.device != "cpu" && c.device != "cuda") return bad("engine.device", "must be auto, cpu or cuda");
  if (c.threads < 0) return bad("engine.threads", "must be >= 0");
  if (c.n_ctx < 0) return bad("engine.n_ctx", "must be >= 0");
  if (c.kv_blocks < 0) return bad("engine.kv_blocks", "must be >= 0");
  if (c.max_batch_tokens < 1 || c.max_batch_tokens > 1 << 20) return bad("engine.max_batch_tokens", "must be 1..1048576");
  if (c.max_running < 1 || c.max_running > 4096) return bad("engine.max_running", "must be 1..4096");
  if (c.max_loaded_models < 1 || c.max_loaded_models > 64) return bad("models.max_loaded", "must be 1..64");
  if (c.io_threads < 1 || c.io_threads > 256) return bad("http.io_threads", "must be 1..256");
  if (c.max_body_bytes < 1024) return bad("http.max_body_bytes", "must be >= 1024");
  if (c.header_timeout_s < 1) return bad("http.header_timeout_s", "must be >= 1");
  if (c.max_connections < 1) return bad("http.max_connections", "must be >= 1");
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
    return bad("log.level", "must be debug, info, warn or error");
  if (c.log_ring_lines < 16) return bad("log.ring_lines", "must be >= 16");
  if (c.tcp_enabled && c.auth_enabled && c.token.empty() && c.token_file.empty() && c.config_dir.empty())
    return bad("auth.token_file", "TCP with auth needs a token, a token_file or a config_dir");
  if (c.hf_endpoint.rfind("http://", 0) != 0 && c.hf_endpoint.rfind("https://", 0) != 0)
    return bad("hf_endpoint", "must start with http:// or https://");
  return Status::ok();
}

Status ensure_token(ServerConfig& c) {
  if (!c.auth_enabled || !c.token.empty()) return Status::ok();
  std::string path = c.token_file.empty() ? c.config_dir + "/token" : c.token_file;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream f(path);
    std::string t;
    std::getline(f, t);
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.size() < 16) return Status::error("config: auth.token_file: " + path + " holds no token (>= 16 chars); delete it to regenerate");
    c.token = t;
    c.token_file = path;
    return Status::ok();
  }
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Status::error("config: auth.token_file: cannot create directory for " + path + ": " + ec.message());
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status::error("config: cannot generate a random token (OpenSSL RAND_bytes failed)");
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (unsigned char b : raw) t += hex[b >> 4], t += hex[b & 15];
  std::string tmp = path + ".tmp";
  mode_t old = umask(077);
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << t << "\n";
    if (!f) {
      umask(old);
      return Status::error("config: auth.token_file: cannot write " + tmp);
    }
  }
  umask(old);
  ::chmod(tmp.c_str(), 0600);
  fs::rename(tmp, path, ec);
  if (ec) return Status::error("config: auth.token_file: cannot rename to " + path + ": " + ec.message());
  c.token = t;
  c.token_file = path;
  return Status::ok();
}

Expected<double> parse_duration_seconds(const nlohmann::json& v) {
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) return make_error("duration must be finite");
    return d < 0 ? -1.0 : d;
  }
  if (!v.is_string()) return make_error("expected a duration (seconds or a string like \"5m\")");
  std::string s = v.get<std::string>();
  if (s.empty()) return make_error("empty duration");
  // A bare number in a string means seconds, as Ollama accepts "300".
  try {
    size_t n = 0;
    double d = std::stod(s, &n);
    if (n == s.size()) return d < 0 ? -1.0 : d;
  } catch (...) {
  }
  bool neg = s[0] == '-';
  size_t i = neg ? 1 : 0;
  double total = 0;
  bool any = false;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return make_error("invalid duration '" + s + "' (use e.g. 30s, 5m, 1h)");
    double num = std::atof(s.substr(i, j - i).c_str());
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    double mul;
    if (unit == "h") mul = 3600;
    else if (unit == "m") mul = 60;
    else if (unit == "s") mul = 1;
    else if (unit == "ms") mul = 1e-3;
    else if (unit == "us" || unit == "µs") mul = 1e-6;
    else if (unit == "ns") mul = 1e-9;
    else return make_error("invalid duration '" + s + "': unknown unit '" + unit + "' (use h, m, s, ms)");
    total += num * mul;
    any = true;
    i = k;
  }
  if (!any) return make_error("invalid duration '" + s + "'");
  return neg ? -1.0 : total;
}

nlohmann::json to_json(const ServerConfig& c) {
  return {
      {"socket", {{"enabled", c.socket_enabled}, {"path", c.socket_path}}},
      {"tcp", {{"enabled", c.tcp_enabled}, {"host", c.tcp_host}, {"port", c.tcp_port}}},
      {"auth", {{"enabled", c.auth_enabled}, {"token", c.token.empty() ? "" : "<redacted>"}, {"token_file", c.token_file}}},
      {"models_dir", c.models_dir},
      {"ui_dir", c.ui_dir},
      {"demo_model", c.demo_model},
      {"hf_endpoint", c.hf_endpoint},
      {"engine", {{"device", c.device}, {"threads", c.threads}, {"n_ctx", c.n_ctx}, {"kv_blocks", c.kv_blocks},
                  {"max_batch_tokens", c.max_batch_tokens}, {"max_running", c.max_running}}},
      {"models", {{"default", c.default_model}, {"keep_alive", c.keep_alive}, {"max_loaded", c.max_loaded_models}}},
      {"http", {{"io_threads", c.io_threads}, {"max_body_bytes", c.max_body_bytes},
                {"header_timeout_s", c.header_timeout_s}, {"max_connections", c.max_connections}}},
      {"log", {{"level", c.log_level}, {"ring_lines", c.log_ring_lines}}},
      {"runtime_keys", runtime_keys()},
  };
}

std::vector<std::string> runtime_keys() {
  return {"models.default", "models.keep_alive", "models.max_loaded", "engine.max_batch_tokens",
          "engine.max_running", "log.level"};
}

Status apply_patch(ServerConfig& c, const nlohmann::json& patch) {
  if (!patch.is_object()) return Status::error("config: the body must be a JSON object of keys");
  // Flatten one level of nesting so both {"models":{"default":..}} and {"models.default":..} work.
  std::vector<std::pair<std::string, nlohmann::json>> flat;
  for (auto& [k, v] : patch.items()) {
    if (v.is_object()) {
      for (auto& [k2, v2] : v.items()) flat.emplace_back(k + "." + k2, v2);
    } else {
      flat.emplace_back(k, v);
    }
  }
  ServerConfig next = c;
  auto keys = runtime_keys();
  for (auto& [k, v] : flat) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      return Status::error("config: " + k + ": not changeable at runtime (changeable: models.default, "
                           "models.keep_alive, models.max_loaded, engine.max_batch_tokens, engine.max_running, log.level)");
    auto want_int = [&](int* out) -> Status {
      if (!v.is_number_integer()) return Status::error("config: " + k + ": expected an integer");
      *out = v.get<int>();
      return Status::ok();
    };
    auto want_str = [&](std::string* out) -> Status {
      if (!v.is_string()) return Status::error("config: " + k + ": expected a string");
      *out = v.get<std::string>();
      return Status::ok();
    };
    if (k == "models.default") MLXR_RETURN_IF_ERROR(want_str(&next.default_model));
    else if (k == "models.max_loaded") MLXR_RETURN_IF_ERROR(want_int(&next.max_loaded_models));
    else if (k == "engine.max_batch_tokens") MLXR_RETURN_IF_ERROR(want_int(&next.max_batch_tokens));
    else if (k == "engine.max_running") MLXR_RETURN_IF_ERROR(want_int(&next.max_running));
    else if (k == "log.level") MLXR_RETURN_IF_ERROR(want_str(&next.log_level));
    else if (k == "models.keep_alive") {
      auto d = parse_duration_seconds(v);
      if (!d) return Status::error("config: models.keep_alive: " + d.error());
      next.keep_alive = v.is_string() ? v.get<std::string>() : std::to_string(static_cast<long long>(*d)) + "s";
    }
  }
  MLXR_RETURN_IF_ERROR(validate(next));
  c = next;
  return Status::ok();
}

}  // namespace mlxr::config
