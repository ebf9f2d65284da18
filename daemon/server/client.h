// A small blocking client for the daemon's own HTTP API, over the Unix socket or TCP; used by
// `mlxr list|ps|pull|rm|show`. on_line (optional) receives NDJSON lines as they stream in.
#pragma once
#include <functional>
#include <string>

#include "core/base/status.h"

namespace mlxr::server {

struct ClientTarget {
  std::string socket_path;  // used when non-empty
  std::string host = "127.0.0.1";
  int port = 0;
  std::string token;        // Bearer token for TCP
};

struct ClientResponse {
  int status = 0;
  std::string body;
};

// Connection failures are errors (the caller may then work in-process); HTTP errors are not.
Expected<ClientResponse> client_request(const ClientTarget& t, const std::string& method, const std::string& path,
                                        const std::string& body,
                                        const std::function<void(const std::string& line)>& on_line = nullptr);
// True when a daemon answers GET /health at the target.
bool daemon_running(const ClientTarget& t);

}  // namespace mlxr::server
