#include "daemon/server/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mlxr::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

template <class Socket>
Expected<ClientResponse> exchange(Socket& s, const std::string& host, const std::string& method, const std::string& path,
                                  const std::string& body, const std::string& token,
                                  const std::function<void(const std::string&)>& on_line) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "mlxr-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();
  beast::error_code ec;
  http::write(s, req, ec);
  if (ec) return make_error("client: sending to the daemon: " + ec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(1ull << 40);
  http::read_header(s, buf, p, ec);
  if (ec) return make_error("client: reading the daemon's answer: " + ec.message());
  size_t emitted = 0;
  while (!p.is_done()) {
    http::read_some(s, buf, p, ec);
    if (ec == http::error::end_of_stream) break;
    if (ec) return make_error("client: reading the daemon's answer: " + ec.message());
    if (on_line) {
      const std::string& b = p.get().body();
      size_t nl;
      while ((nl = b.find('\n', emitted)) != std::string::npos) {
        on_line(b.substr(emitted, nl - emitted));
        emitted = nl + 1;
      }
    }
  }
  ClientResponse r;
  r.status = static_cast<int>(p.get().result_int());
  r.body = p.get().body();
  if (on_line && emitted < r.body.size()) on_line(r.body.substr(emitted));
  return r;
}

}  // namespace

Expected<ClientResponse> client_request(const ClientTarget& t, const std::string& method, const std::string& path,
                                        const std::string& body, const std::function<void(const std::string&)>& on_line) {
  net::io_context ioc;
  beast::error_code ec;
  if (!t.socket_path.empty()) {
    net::local::stream_protocol::socket s(ioc);
    s.connect(net::local::stream_protocol::endpoint(t.socket_path), ec);
    if (ec) return make_error("client: no daemon on " + t.socket_path + " (" + ec.message() + ")");
    return exchange(s, "localhost", method, path, body, "", on_line);
  }
  net::ip::tcp::resolver res(ioc);
  auto eps = res.resolve(t.host, std::to_string(t.port), ec);
  if (ec) return make_error("client: cannot resolve " + t.host + ": " + ec.message());
  net::ip::tcp::socket s(ioc);
  net::connect(s, eps, ec);
  if (ec) return make_error("client: no daemon at " + t.host + ":" + std::to_string(t.port) + " (" + ec.message() + ")");
  return exchange(s, t.host, method, path, body, t.token, on_line);
}

bool daemon_running(const ClientTarget& t) {
  auto r = client_request(t, "GET", "/health", "");
  return r && r->status == 200;
}

}  // namespace mlxr::server
