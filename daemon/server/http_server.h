// HTTP/1.1 over a Unix domain socket and/or TCP, on Boost.Asio: a few I/O threads serve any
// number of idle or streaming connections. Beast parses requests (with size limits and a
// header timeout); responses are serialised here, chunked for streams. Keep-alive is honoured.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/base/status.h"
#include "daemon/server/http_types.h"

namespace mlxr::server {

struct HttpOptions {
  std::string socket_path;  // "" = no Unix socket
  bool tcp = false;
  std::string host = "127.0.0.1";
  int port = 0;             // 0 = any free port (see tcp_port())
  int io_threads = 2;
  uint64_t max_body_bytes = 8ull << 20;
  int header_timeout_s = 30;
  int write_timeout_s = 120;
  int max_connections = 4096;
  // Called on every response start with the route the router set and the status (metrics).
  std::function<void(const std::string& route, int status)> on_status;
};

class HttpServer {
 public:
  HttpServer(HttpOptions opt, Handler handler);
  ~HttpServer();
  Status start();        // binds and listens; errors name the address
  void stop();           // stops accepting, closes connections, joins the threads
  int tcp_port() const { return bound_port_; }
  int connections() const { return live_.load(); }
  boost::asio::io_context& io() { return ioc_; }
  struct Impl;

 private:
  HttpOptions opt_;
  Handler handler_;
  boost::asio::io_context ioc_;
  std::unique_ptr<Impl> impl_;
  std::vector<std::thread> threads_;
  std::atomic<int> live_{0};
  int bound_port_ = 0;
};

}  // namespace mlxr::server
