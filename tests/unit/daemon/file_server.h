// A tiny loopback HTTP file server for pull tests: GET with Range (206), optional
// X-Linked-Etag (sha256, as Hugging Face sends), a 302 hop, and a "cut after N bytes" switch
// that drops the connection mid-body to exercise resume.
#pragma once
#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio.hpp>

namespace mlxr::test {

class FileServer {
 public:
  std::map<std::string, std::string> files;      // target -> bytes
  std::map<std::string, std::string> etags;      // target -> sha256 to announce
  std::map<std::string, std::string> redirects;  // target -> other target
  std::atomic<long long> cut_after{-1};          // bytes of body to send before dropping (-1: all)
  std::atomic<int> range_requests{0};

  FileServer() : acc_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acc_.local_endpoint().port();
    thread_ = std::thread([this] { loop(); });
  }
  ~FileServer() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket s(ioc_);
    s.connect(acc_.local_endpoint(), ec);  // wake accept()
    thread_.join();
  }
  std::string url(const std::string& target) const { return "http://127.0.0.1:" + std::to_string(port_) + target; }

 private:
  void loop() {
    while (!stop_) {
      boost::asio::ip::tcp::socket s(ioc_);
      boost::system::error_code ec;
      acc_.accept(s, ec);
      if (ec || stop_) continue;
      serve(s);
    }
  }
  void serve(boost::asio::ip::tcp::socket& s) {
    boost::asio::streambuf buf;
    boost::system::error_code ec;
    boost::asio::read_until(s, buf, "\r\n\r\n", ec);
    if (ec) return;
    std::istream is(&buf);
    std::string method, target, line;
    is >> method >> target;
    long long from = 0;
    while (std::getline(is, line)) {
      if (line.rfind("Range: bytes=", 0) == 0 || line.rfind("range: bytes=", 0) == 0) {
        from = std::stoll(line.substr(13));
        range_requests++;
      }
    }
    std::string head;
    if (redirects.count(target)) {
      head = "HTTP/1.1 302 Found\r\nLocation: " + redirects[target] + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      boost::asio::write(s, boost::asio::buffer(head), ec);
      return;
    }
    if (!files.count(target)) {
      head = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      boost::asio::write(s, boost::asio::buffer(head), ec);
      return;
    }
    const std::string& body = files[target];
    std::string part = body.substr(std::min<size_t>(from, body.size()));
    head = from > 0 ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n";
    head += "Content-Length: " + std::to_string(part.size()) + "\r\nConnection: close\r\n";
    if (etags.count(target)) head += "X-Linked-Etag: \"" + etags[target] + "\"\r\n";
    head += "\r\n";
    boost::asio::write(s, boost::asio::buffer(head), ec);
    long long cut = cut_after.load();
    if (cut >= 0 && cut < static_cast<long long>(part.size())) {
      boost::asio::write(s, boost::asio::buffer(part.data(), cut), ec);
      s.close(ec);
      return;
    }
    boost::asio::write(s, boost::asio::buffer(part), ec);
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acc_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

inline std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace mlxr::test
