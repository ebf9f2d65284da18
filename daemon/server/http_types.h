// The transport-neutral request/response face that API handlers see. A Responder belongs to one
// connection; all methods except post() must be called on that connection's strand, and post()
// is how engine and worker threads hand results back to it.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mlxr::server {

struct Request {
  std::string method;  // GET, POST, ...
  std::string target;  // raw target incl. query
  std::string path;    // decoded path without query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool over_unix_socket = false;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class Responder {
 public:
  virtual ~Responder() = default;
  // Runs fn on the connection's strand (from any thread).
  virtual void post(std::function<void()> fn) = 0;
  // A whole response with Content-Length.
  virtual void send(int status, const std::string& content_type, std::string body, HeaderList extra = {}) = 0;
  // A chunked streaming response: begin once, write any number of times, end once.
  virtual void begin_stream(int status, const std::string& content_type, HeaderList extra = {}) = 0;
  virtual void write(std::string data) = 0;
  virtual void end() = 0;
  // True once the peer closed or a write failed; further writes are dropped.
  virtual bool disconnected() const = 0;
  // Called once (on the strand) if the peer goes away before the response ended.
  virtual void on_disconnect(std::function<void()> fn) = 0;
  // Set by the router for metrics ("/v1/chat/completions", "static", ...).
  virtual void set_route(std::string route) = 0;
};

using Handler = std::function<void(const Request&, std::shared_ptr<Responder>)>;

const char* status_reason(int status);

}  // namespace mlxr::server
