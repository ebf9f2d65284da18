// Dispatch: exact routes first, then prefix routes; auth per route; the static web UI with SPA
// fallback for everything else that is a GET.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/server/api.h"
#include "daemon/server/json_util.h"

namespace mlxr::server {

namespace fs = std::filesystem;

namespace {

const char* mime_for(const std::string& ext) {
  static const std::map<std::string, const char*> m = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".map", "application/json"}, {".svg", "image/svg+xml"},
      {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
      {".ico", "image/x-icon"}, {".webp", "image/webp"}, {".woff", "font/woff"}, {".woff2", "font/woff2"},
      {".ttf", "font/ttf"}, {".txt", "text/plain; charset=utf-8"}, {".wasm", "application/wasm"},
      {".webmanifest", "application/manifest+json"}};
  auto it = m.find(ext);
  return it == m.end() ? "application/octet-stream" : it->second;
}

bool is_api_path(const std::string& p) {
  return p.rfind("/api/", 0) == 0 || p == "/api" || p.rfind("/v1/", 0) == 0 || p == "/v1" || p == "/metrics";
}

void serve_static(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  std::string dir = ctx.config().ui_dir;
  std::string path = req.path;
  r->set_route("static");
  ctx.run_blocking([r, dir, path] {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) {
      if (path == "/")
        return r->post([r] { r->send(200, "text/plain; charset=utf-8", "mlxr is running\n"); });
      return r->post([r] { r->send(404, "text/plain; charset=utf-8", "not found\n"); });
    }
    // Reject traversal outright, then confirm the resolved file lies inside the UI directory.
    if (path.find("..") != std::string::npos || path.find('\0') != std::string::npos)
      return r->post([r] { r->send(400, "text/plain; charset=utf-8", "bad path\n"); });
    fs::path root = fs::weakly_canonical(dir, ec);
    fs::path file = fs::weakly_canonical(root / fs::path(path).relative_path(), ec);
    bool inside = file.string().rfind(root.string(), 0) == 0;
    bool spa = false;
    if (!inside || !fs::is_regular_file(file, ec)) {
      // SPA fallback: client-side routes (no file extension) get index.html; missing assets 404.
      if (fs::path(path).has_extension() && path != "/")
        return r->post([r] { r->send(404, "text/plain; charset=utf-8", "not found\n"); });
      file = root / "index.html";
      spa = true;
    }
    std::ifstream f(file, std::ios::binary);
    if (!f) return r->post([r] { r->send(404, "text/plain; charset=utf-8", "not found\n"); });
    std::stringstream ss;
    ss << f.rdbuf();
    std::string body = ss.str();
    std::string ext = file.extension().string();
    bool immutable = !spa && path.find("/assets/") != std::string::npos;
    HeaderList h = {{"Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache"},
                    {"X-Content-Type-Options", "nosniff"}};
    if (ext == ".html") h.emplace_back("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
    const char* mime = mime_for(ext);
    r->post([r, body = std::move(body), mime, h] { r->send(200, mime, body, h); });
  });
}

}  // namespace

Handler make_router(ServerContext& ctx) {
  auto routes = std::make_shared<std::vector<Route>>();
  register_openai(*routes);
  register_ollama(*routes);
  register_admin(*routes);
  return [&ctx, routes](const Request& req, std::shared_ptr<Responder> r) {
    std::string method = req.method == "HEAD" ? "GET" : req.method;
    const Route* match = nullptr;
    bool path_known = false;
    for (int pass = 0; pass < 2 && !match; ++pass) {
      for (const auto& rt : *routes) {
        bool prefix = rt.path.back() == '*';
        if (prefix != (pass == 1)) continue;
        bool hit = prefix ? req.path.rfind(rt.path.substr(0, rt.path.size() - 1), 0) == 0 &&
                                req.path.size() > rt.path.size() - 1
                          : req.path == rt.path;
        if (!hit) continue;
        path_known = true;
        if (rt.method == method || rt.method == "*") {
          match = &rt;
          break;
        }
      }
    }
    ctx.metrics.counter("mlxr_http_requests_total", "HTTP requests by route",
                        {{"route", match ? match->path : (is_api_path(req.path) ? "unknown" : "static")}}).inc();
    if (!match) {
      if (path_known) return openai_error(*r, 405, "method " + req.method + " is not allowed on " + req.path);
      if (is_api_path(req.path) || method != "GET") return openai_error(*r, 404, "no such endpoint: " + req.method + " " + req.path);
      return serve_static(ctx, req, r);
    }
    r->set_route(match->path);
    if (match->needs_auth && !request_authorized(ctx, req)) {
      bool ollama = req.path.rfind("/api/", 0) == 0 && req.path.rfind("/api/mlxr/", 0) != 0;
      std::string msg = "missing or wrong token: send 'Authorization: Bearer <token>' (the token is in " +
                        ctx.config().token_file + ")";
      if (ollama) return send_json(*r, 401, {{"error", msg}}, {{"WWW-Authenticate", "Bearer"}});
      return openai_error(*r, 401, msg, "authentication_error", "", "invalid_api_key");
    }
    if (ctx.shutting_down && req.method == "POST") return openai_error(*r, 503, "the server is shutting down");
    match->fn(ctx, req, r);
  };
}

}  // namespace mlxr::server
