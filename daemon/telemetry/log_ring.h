// Structured log: every line goes to stderr and into a bounded ring that GET /api/mlxr/logs
// pages through by sequence number (the UI polls with since=<last seq>).
#pragma once
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace mlxr::telemetry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
const char* level_name(LogLevel l);
bool parse_level(const std::string& s, LogLevel* out);

struct LogLine {
  uint64_t seq = 0;
  double ts = 0;  // unix seconds
  LogLevel level = LogLevel::kInfo;
  std::string msg;
  nlohmann::json fields;  // object
  nlohmann::json to_json() const;
};

class LogRing {
 public:
  explicit LogRing(size_t capacity = 4096) : capacity_(capacity) {}
  void log(LogLevel level, std::string msg, nlohmann::json fields = nlohmann::json::object());
  void info(std::string msg, nlohmann::json f = nlohmann::json::object()) { log(LogLevel::kInfo, std::move(msg), std::move(f)); }
  void warn(std::string msg, nlohmann::json f = nlohmann::json::object()) { log(LogLevel::kWarn, std::move(msg), std::move(f)); }
  void error(std::string msg, nlohmann::json f = nlohmann::json::object()) { log(LogLevel::kError, std::move(msg), std::move(f)); }
  // Lines with seq > since, oldest first, at most `limit`.
  std::vector<LogLine> since(uint64_t since, size_t limit = 1000) const;
  uint64_t last_seq() const;
  void set_level(LogLevel l);
  LogLevel level() const;
  void set_echo(bool to_stderr);

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  std::deque<LogLine> lines_;
  uint64_t next_seq_ = 1;
  LogLevel min_level_ = LogLevel::kInfo;
  bool echo_ = true;
};

}  // namespace mlxr::telemetry
