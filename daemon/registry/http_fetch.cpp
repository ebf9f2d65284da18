#include "daemon/registry/http_fetch.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "daemon/registry/sha256.h"

namespace mlxr::registry {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

Expected<ParsedUrl> parse_url(const std::string& url) {
  ParsedUrl u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.https = true;
    rest = url.substr(8);
  } else {
    return make_error("pull: unsupported URL '" + url + "' (expected http:// or https://)");
  }
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    u.host = hostport.substr(0, colon);
    u.port = hostport.substr(colon + 1);
  } else {
    u.host = hostport;
    u.port = u.https ? "443" : "80";
  }
  if (u.host.empty()) return make_error("pull: URL '" + url + "' has no host");
  return u;
}

static std::string strip_quotes(std::string s) {
  if (s.rfind("W/", 0) == 0) s = s.substr(2);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

namespace {

// One GET over either a plain or a TLS stream; returns the header, then streams the body into f.
template <typename Stream>
Expected<FetchResult> do_get(Stream& stream, const ParsedUrl& u, uint64_t have, FILE*& f, const std::string& dest,
                             const std::function<void(const FetchProgress&)>& progress,
                             const std::atomic<bool>* cancel, std::string* redirect) {
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "mlxr/0.1");
  if (have > 0) req.set(http::field::range, "bytes=" + std::to_string(have) + "-");
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return make_error("pull: sending request to " + u.host + ": " + ec.message());

  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(1ull << 62);  // model files are large; the disk is the limit
  http::read_header(stream, buf, parser, ec);
  if (ec) return make_error("pull: reading response from " + u.host + ": " + ec.message());
  auto& res = parser.get();
  int status = static_cast<int>(res.result_int());
  if (status >= 300 && status < 400) {
    auto loc = res[http::field::location];
    if (loc.empty()) return make_error("pull: HTTP " + std::to_string(status) + " without Location");
    *redirect = std::string(loc);
    return FetchResult{};
  }
  FetchResult r;
  if (status == 206) {
    r.resumed = true;
  } else if (status == 200) {
    have = 0;
    std::fclose(f);
    f = std::fopen(dest.c_str(), "wb");
    if (!f) return make_error("pull: cannot write " + dest);
  } else if (status == 416 && have > 0) {
    // Range not satisfiable: our partial already holds the whole file.
    r.resumed = true;
    r.bytes = have;
    return r;
  } else {
    return make_error("pull: HTTP " + std::to_string(status) + " from " + u.host + u.target);
  }
  for (auto field : {std::string("X-Linked-Etag"), std::string("ETag")}) {
    auto it = res.find(field);
    if (it != res.end()) {
      std::string e = strip_quotes(std::string(it->value()));
      if (is_sha256_hex(e)) {
        r.etag_sha256 = e;
        break;
      }
    }
  }
  uint64_t total = 0;
  if (parser.content_length()) total = *parser.content_length() + have;
  FetchProgress p{have, total};
  if (progress) progress(p);
  std::vector<char> chunk(1 << 16);
  auto last = std::chrono::steady_clock::now();
  while (!parser.is_done()) {
    if (cancel && cancel->load()) return make_error("pull: cancelled");
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    http::read(stream, buf, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return make_error("pull: connection to " + u.host + " broke after " + std::to_string(p.completed) +
                              " bytes (" + ec.message() + "); pull again to resume");
    size_t n = chunk.size() - parser.get().body().size;
    if (n && std::fwrite(chunk.data(), 1, n, f) != n) return make_error("pull: write error on " + dest + " (disk full?)");
    p.completed += n;
    auto now = std::chrono::steady_clock::now();
    if (progress && now - last > std::chrono::milliseconds(100)) {
      progress(p);
      last = now;
    }
  }
  if (std::fflush(f) != 0) return make_error("pull: write error on " + dest);
  if (progress) progress(p);
  r.bytes = p.completed;
  return r;
}

}  // namespace

Expected<FetchResult> fetch_to_file(const std::string& url_in, const std::string& dest,
                                    const std::function<void(const FetchProgress&)>& progress,
                                    const std::atomic<bool>* cancel) {
  std::string url = url_in;
  for (int hop = 0; hop < 8; ++hop) {
    MLXR_ASSIGN_OR_RETURN(ParsedUrl u, parse_url(url));
    struct stat st {};
    uint64_t have = ::stat(dest.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    FILE* f = std::fopen(dest.c_str(), "ab");
    if (!f) return make_error("pull: cannot write " + dest);
    std::unique_ptr<FILE*, void (*)(FILE**)> guard(&f, [](FILE** p) {
      if (*p) std::fclose(*p);
    });
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto results = resolver.resolve(u.host, u.port, ec);
    if (ec) return make_error("pull: cannot resolve " + u.host + ": " + ec.message());
    std::string redirect;
    Expected<FetchResult> r = make_error("pull: no response");
    if (u.https) {
      ssl::context ctx(ssl::context::tls_client);
      ctx.set_default_verify_paths();
      ctx.set_verify_mode(ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
      if (!SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str()))
        return make_error("pull: TLS SNI setup failed for " + u.host);
      s.set_verify_callback(ssl::host_name_verification(u.host));
      beast::get_lowest_layer(s).connect(results, ec);
      if (ec) return make_error("pull: cannot connect to " + u.host + ":" + u.port + ": " + ec.message());
      s.handshake(ssl::stream_base::client, ec);
      if (ec) return make_error("pull: TLS handshake with " + u.host + " failed: " + ec.message());
      r = do_get(s, u, have, f, dest, progress, cancel, &redirect);
    } else {
      beast::tcp_stream s(ioc);
      s.connect(results, ec);
      if (ec) return make_error("pull: cannot connect to " + u.host + ":" + u.port + ": " + ec.message());
      r = do_get(s, u, have, f, dest, progress, cancel, &redirect);
    }
    if (!r) return r;
    if (!redirect.empty()) {
      if (redirect.rfind("http", 0) != 0) redirect = (u.https ? "https://" : "http://") + u.host + ":" + u.port + redirect;
      url = redirect;
      continue;
    }
    r->final_url = url;
    return r;
  }
  return make_error("pull: too many redirects from " + url_in);
}

}  // namespace mlxr::registry
