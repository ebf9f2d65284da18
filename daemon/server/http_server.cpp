#include "daemon/server/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mlxr::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

const char* status_reason(int s) {
  switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

static std::string pct_decode(const std::string& s, bool plus_is_space) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      o += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      o += ' ';
    } else {
      o += s[i];
    }
  }
  return o;
}

struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void close_now() = 0;
};

struct HttpServer::Impl {
  std::mutex mu;
  std::set<std::weak_ptr<SessionBase>, std::owner_less<std::weak_ptr<SessionBase>>> sessions;
  std::unique_ptr<net::ip::tcp::acceptor> tcp;
  std::unique_ptr<net::local::stream_protocol::acceptor> uds;
  bool stopping = false;
};

namespace {

template <class Protocol>
class Session : public Responder, public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol, net::any_io_executor, beast::unlimited_rate_policy>;
  using Socket = typename Protocol::socket;

  Session(Socket s, const HttpOptions& opt, const Handler& h, std::atomic<int>& live, bool unix_socket)
      : stream_(std::move(s)), opt_(opt), handler_(h), live_(live), unix_(unix_socket) {
    live_++;
  }
  ~Session() override { live_--; }

  net::any_io_executor get_executor_for_start() { return stream_.get_executor(); }

  void start(bool over_limit) {
    if (over_limit) {
      keep_alive_ = false;
      send(503, "application/json", R"({"error":"too many connections"})", {});
      return;
    }
    do_read();
  }

  // Responder
  void post(std::function<void()> fn) override {
    net::post(stream_.get_executor(), [self = this->shared_from_this(), fn = std::move(fn)] { fn(); });
  }

  void send(int status, const std::string& ctype, std::string body, HeaderList extra) override {
    if (started_) return;
    started_ = true;
    status_ = status;
    if (opt_.on_status) opt_.on_status(route_, status);
    std::string head = head_line(status, ctype, extra);
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    if (!head_only_) head += body;
    done_ = true;
    on_disc_ = nullptr;  // it may own the job that owns this session: break the cycle
    enqueue(std::move(head));
  }

  void begin_stream(int status, const std::string& ctype, HeaderList extra) override {
    if (started_) return;
    started_ = true;
    status_ = status;
    if (opt_.on_status) opt_.on_status(route_, status);
    std::string head = head_line(status, ctype, extra);
    head += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n";
    enqueue(std::move(head));
  }

  void write(std::string data) override {
    if (!started_ || done_ || data.empty()) return;
    char hex[24];
    std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
    enqueue(hex + std::move(data) + "\r\n");
  }

  void end() override {
    if (!started_ || done_) return;
    done_ = true;
    on_disc_ = nullptr;
    enqueue("0\r\n\r\n");
  }

  bool disconnected() const override { return disconnected_; }
  void on_disconnect(std::function<void()> fn) override { on_disc_ = std::move(fn); }
  void set_route(std::string r) override { route_ = std::move(r); }

  void close_now() override {
    post([self = this->shared_from_this()] { self->mark_disconnected(); });
  }

 private:
  std::string head_line(int status, const std::string& ctype, const HeaderList& extra) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + status_reason(status) + "\r\n";
    if (!ctype.empty()) h += "Content-Type: " + ctype + "\r\n";
    for (auto& [k, v] : extra) h += k + ": " + v + "\r\n";
    h += keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    return h;
  }

  void do_read() {
    route_ = "other";
    parser_.emplace();
    parser_->body_limit(opt_.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(opt_.header_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // curl (and others) send "Expect: 100-continue" for bodies over 1 KiB and wait a second for
  // the go-ahead; answer it at once, or refuse an oversize body before it is sent.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    auto& msg = parser_->get();
    auto cl = parser_->content_length();
    bool expect_continue = beast::iequals(msg[http::field::expect], "100-continue");
    if (cl && *cl > opt_.max_body_bytes) {
      no_drain_ = expect_continue;  // that client waits for our go-ahead: nothing to swallow
      return on_read(http::error::body_limit);
    }
    auto read_body = [self = this->shared_from_this()] {
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code ec, size_t) { self->on_read(ec); });
    };
    if (expect_continue) {
      auto cont = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      net::async_write(stream_, net::buffer(*cont), [cont, read_body](beast::error_code ec, size_t) {
        if (!ec) read_body();
      });
      return;
    }
    read_body();
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::eof) {
      return shutdown();
    }
    started_ = done_ = false;
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      drain_ = !no_drain_;
      send(413, "application/json",
           "{\"error\":{\"message\":\"request body exceeds the limit of " + std::to_string(opt_.max_body_bytes) +
               " bytes (http.max_body_bytes)\",\"type\":\"invalid_request_error\",\"code\":\"request_too_large\"}}", {});
      return;
    }
    if (ec) {
      keep_alive_ = false;
      send(400, "application/json",
           "{\"error\":{\"message\":\"malformed HTTP request: " + ec.message() + "\",\"type\":\"invalid_request_error\"}}", {});
      return;
    }
    stream_.expires_never();
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    size_t q = req.target.find('?');
    req.path = pct_decode(req.target.substr(0, q), false);
    if (q != std::string::npos) {
      std::string qs = req.target.substr(q + 1);
      size_t p = 0;
      while (p <= qs.size()) {
        size_t amp = qs.find('&', p);
        std::string kv = qs.substr(p, amp == std::string::npos ? std::string::npos : amp - p);
        size_t eq = kv.find('=');
        if (!kv.empty()) req.query[pct_decode(kv.substr(0, eq), true)] = eq == std::string::npos ? "" : pct_decode(kv.substr(eq + 1), true);
        if (amp == std::string::npos) break;
        p = amp + 1;
      }
    }
    for (auto& f : msg) {
      std::string k(f.name_string());
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[k] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    req.over_unix_socket = unix_;
    keep_alive_ = msg.keep_alive();
    head_only_ = req.method == "HEAD";
    route_ = "other";
    on_disc_ = nullptr;
    ++gen_;
    watch_peer();
    try {
      handler_(req, this->shared_from_this());
    } catch (const std::exception& e) {
      send(500, "application/json", "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\"}}", {});
    }
  }

  // While a response is pending, notice a peer that closes its end (disconnect mid-stream or
  // while waiting for a non-streamed answer) so the generation can be cancelled.
  void watch_peer() {
    uint64_t g = gen_;
    stream_.socket().async_wait(Socket::wait_read, [self = this->shared_from_this(), g](beast::error_code ec) {
      if (ec || g != self->gen_ || self->done_ || self->disconnected_) return;
      char c;
      ssize_t n = ::recv(self->stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return self->mark_disconnected();
      if (n < 0) return self->watch_peer();
      // Pipelined bytes: leave them for the next read.
    });
  }

  void enqueue(std::string s) {
    if (disconnected_) return;
    pending_ += s;
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    out_.swap(pending_);
    pending_.clear();
    stream_.expires_after(std::chrono::seconds(opt_.write_timeout_s));
    net::async_write(stream_, net::buffer(out_),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    out_.clear();
    if (ec) return mark_disconnected();
    if (!pending_.empty()) return do_write();
    if (done_) {
      stream_.expires_never();
      ++gen_;
      if (drain_) return drain();
      if (!keep_alive_) return shutdown();
      beast::error_code ignored;
      stream_.socket().cancel(ignored);  // ends the peer watch before the next read
      do_read();
    }
  }

  // After an early error (413) the client may still be uploading: stop sending, swallow what
  // arrives for a few seconds, then close, so the client reads our answer instead of a reset.
  void drain() {
    beast::error_code ec;
    stream_.socket().shutdown(Socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(5));
    scratch_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->shutdown();
      self->drain_more();
    });
  }
  void drain_more() {
    stream_.async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->shutdown();
      self->drain_more();
    });
  }

  void mark_disconnected() {
    if (disconnected_) return;
    disconnected_ = true;
    auto fn = std::move(on_disc_);
    on_disc_ = nullptr;
    if (fn && !done_) fn();
    shutdown();
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(Socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  Stream stream_;
  const HttpOptions& opt_;
  const Handler& handler_;
  std::atomic<int>& live_;
  bool unix_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_, pending_;
  bool writing_ = false, started_ = false, done_ = false, keep_alive_ = true, head_only_ = false;
  bool disconnected_ = false;
  bool drain_ = false, no_drain_ = false;
  std::vector<char> scratch_;
  int status_ = 0;
  uint64_t gen_ = 0;
  std::string route_;
  std::function<void()> on_disc_;
};

template <class Acceptor, class Protocol>
void accept_loop(Acceptor& acc, net::io_context& ioc, const HttpOptions& opt, const Handler& h,
                 std::atomic<int>& live, HttpServer::Impl* impl, bool unix_socket) {
  acc.async_accept(net::make_strand(ioc), [&acc, &ioc, &opt, &h, &live, impl, unix_socket](
                                              beast::error_code ec, typename Protocol::socket sock) {
    if (ec == net::error::operation_aborted || !acc.is_open()) return;
    if (!ec) {
      bool over = live.load() >= opt.max_connections;
      auto s = std::make_shared<Session<Protocol>>(std::move(sock), opt, h, live, unix_socket);
      {
        std::lock_guard<std::mutex> lk(impl->mu);
        for (auto it = impl->sessions.begin(); it != impl->sessions.end();)
          it = it->expired() ? impl->sessions.erase(it) : std::next(it);
        impl->sessions.insert(s);
      }
      net::post(s->get_executor_for_start(), [s, over] { s->start(over); });
    }
    if (ec) {
      // Out of descriptors (EMFILE) and the like: back off instead of spinning on accept().
      auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
      t->async_wait([t, &acc, &ioc, &opt, &h, &live, impl, unix_socket](beast::error_code) {
        if (acc.is_open()) accept_loop<Acceptor, Protocol>(acc, ioc, opt, h, live, impl, unix_socket);
      });
      return;
    }
    accept_loop<Acceptor, Protocol>(acc, ioc, opt, h, live, impl, unix_socket);
  });
}

}  // namespace

HttpServer::HttpServer(HttpOptions opt, Handler handler)
    : opt_(std::move(opt)), handler_(std::move(handler)), impl_(std::make_unique<Impl>()) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  namespace fs = std::filesystem;
  // Each connection is a descriptor: lift the soft limit to the hard one (often 1024 -> 1M).
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  beast::error_code ec;
  if (!opt_.socket_path.empty()) {
    std::error_code fec;
    fs::path dir = fs::path(opt_.socket_path).parent_path();
    if (!dir.empty()) {
      fs::create_directories(dir, fec);
      if (fec) return Status::error("server: cannot create " + dir.string() + ": " + fec.message());
    }
    if (fs::exists(opt_.socket_path, fec)) {
      // A live daemon answers on it; a stale file from a crash does not.
      net::io_context probe;
      net::local::stream_protocol::socket s(probe);
      s.connect(net::local::stream_protocol::endpoint(opt_.socket_path), ec);
      if (!ec) return Status::error("server: another daemon is already listening on " + opt_.socket_path);
      fs::remove(opt_.socket_path, fec);
    }
    impl_->uds = std::make_unique<net::local::stream_protocol::acceptor>(ioc_);
    net::local::stream_protocol::endpoint ep(opt_.socket_path);
    impl_->uds->open(ep.protocol(), ec);
    mode_t old = ::umask(0177);  // the socket file is born 0600: no window where others can connect
    if (!ec) impl_->uds->bind(ep, ec);
    ::umask(old);
    if (ec) return Status::error("server: cannot bind Unix socket " + opt_.socket_path + ": " + ec.message());
    ::chmod(opt_.socket_path.c_str(), 0600);
    impl_->uds->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::error("server: cannot listen on " + opt_.socket_path + ": " + ec.message());
  }
  if (opt_.tcp) {
    auto addr = net::ip::make_address(opt_.host, ec);
    if (ec) return Status::error("server: tcp.host '" + opt_.host + "' is not an IP address");
    net::ip::tcp::endpoint ep(addr, static_cast<unsigned short>(opt_.port));
    impl_->tcp = std::make_unique<net::ip::tcp::acceptor>(ioc_);
    impl_->tcp->open(ep.protocol(), ec);
    if (!ec) impl_->tcp->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) impl_->tcp->bind(ep, ec);
    if (ec) return Status::error("server: cannot bind " + opt_.host + ":" + std::to_string(opt_.port) + ": " + ec.message());
    impl_->tcp->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::error("server: cannot listen on " + opt_.host + ":" + std::to_string(opt_.port) + ": " + ec.message());
    bound_port_ = impl_->tcp->local_endpoint().port();
  }
  if (impl_->uds)
    accept_loop<net::local::stream_protocol::acceptor, net::local::stream_protocol>(*impl_->uds, ioc_, opt_, handler_, live_, impl_.get(), true);
  if (impl_->tcp)
    accept_loop<net::ip::tcp::acceptor, net::ip::tcp>(*impl_->tcp, ioc_, opt_, handler_, live_, impl_.get(), false);
  for (int i = 0; i < opt_.io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  return Status::ok();
}

void HttpServer::stop() {
  if (threads_.empty()) return;
  net::post(ioc_, [this] {
    beast::error_code ec;
    if (impl_->tcp) impl_->tcp->close(ec);
    if (impl_->uds) impl_->uds->close(ec);
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    for (auto& w : impl_->sessions)
      if (auto s = w.lock()) live.push_back(s);
  }
  for (auto& s : live) s->close_now();
  live.clear();
  // Give queued closes a moment, then stop the loop.
  for (int i = 0; i < 100 && live_.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (!opt_.socket_path.empty()) {
    std::error_code fec;
    std::filesystem::remove(opt_.socket_path, fec);
  }
}

}  // namespace mlxr::server
