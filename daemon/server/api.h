// Route tables. Each register_* adds its endpoints to the router; handlers run on the
// connection's strand and must not block (blocking work goes to ctx.run_blocking).
#pragma once
#include <map>
#include <string>

#include "daemon/server/context.h"
#include "daemon/server/http_types.h"

namespace mlxr::server {

struct Route {
  std::string method;  // "GET", "POST", ... ("*" any)
  std::string path;    // exact, or a prefix ending in '*'
  bool needs_auth = true;
  std::function<void(ServerContext&, const Request&, std::shared_ptr<Responder>)> fn;
};

void register_openai(std::vector<Route>& routes);
void register_ollama(std::vector<Route>& routes);
void register_admin(std::vector<Route>& routes);

// The complete handler: auth, routing, static UI with SPA fallback, metrics.
Handler make_router(ServerContext& ctx);

// Token check for one request: Bearer header or the mlxr_token cookie, constant-time.
bool request_authorized(const ServerContext& ctx, const Request& req);

}  // namespace mlxr::server
