#include "daemon/telemetry/log_ring.h"

#include <chrono>
#include <cstdio>

namespace mlxr::telemetry {

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool parse_level(const std::string& s, LogLevel* out) {
  for (auto l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (s == level_name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

nlohmann::json LogLine::to_json() const {
  return {{"seq", seq}, {"ts", ts}, {"level", level_name(level)}, {"msg", msg}, {"fields", fields}};
}

void LogRing::log(LogLevel level, std::string msg, nlohmann::json fields) {
  std::lock_guard<std::mutex> lk(mu_);
  if (level < min_level_) return;
  LogLine l;
  l.seq = next_seq_++;
  l.ts = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  l.level = level;
  l.msg = std::move(msg);
  l.fields = fields.is_object() ? std::move(fields) : nlohmann::json::object();
  if (echo_) {
    std::string line = l.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  lines_.push_back(std::move(l));
  while (lines_.size() > capacity_) lines_.pop_front();
}

std::vector<LogLine> LogRing::since(uint64_t since, size_t limit) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<LogLine> out;
  for (const auto& l : lines_) {
    if (l.seq <= since) continue;
    out.push_back(l);
    if (out.size() >= limit) break;
  }
  return out;
}

uint64_t LogRing::last_seq() const {
  std::lock_guard<std::mutex> lk(mu_);
  return next_seq_ - 1;
}

void LogRing::set_level(LogLevel l) {
  std::lock_guard<std::mutex> lk(mu_);
  min_level_ = l;
}

LogLevel LogRing::level() const {
  std::lock_guard<std::mutex> lk(mu_);
  return min_level_;
}

void LogRing::set_echo(bool e) {
  std::lock_guard<std::mutex> lk(mu_);
  echo_ = e;
}

}  // namespace mlxr::telemetry
