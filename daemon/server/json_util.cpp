#include "daemon/server/json_util.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <openssl/rand.h>

namespace mlxr::server {

Expected<json> parse_body(const Request& req) {
  if (req.body.empty()) return make_error("the request body is empty; expected a JSON object");
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) {
    // Re-parse with exceptions for the position-bearing message.
    try {
      (void)json::parse(req.body);
    } catch (const json::parse_error& e) {
      return make_error(std::string("invalid JSON in the request body: ") + e.what());
    }
    return make_error("invalid JSON in the request body");
  }
  if (!j.is_object()) return make_error("the request body must be a JSON object");
  return j;
}

static const json* field(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

Status get_string(const json& o, const char* key, std::string* out) {
  const json* v = field(o, key);
  if (!v) return Status::ok();
  if (!v->is_string()) return Status::error(std::string("'") + key + "' must be a string");
  *out = v->get<std::string>();
  return Status::ok();
}

Status get_bool(const json& o, const char* key, bool* out) {
  const json* v = field(o, key);
  if (!v) return Status::ok();
  if (!v->is_boolean()) return Status::error(std::string("'") + key + "' must be a boolean");
  *out = v->get<bool>();
  return Status::ok();
}

Status get_int(const json& o, const char* key, int* out, long long lo, long long hi) {
  const json* v = field(o, key);
  if (!v) return Status::ok();
  long long x;
  if (v->is_number_integer()) x = v->get<long long>();
  else if (v->is_number_float() && v->get<double>() == static_cast<double>(static_cast<long long>(v->get<double>())))
    x = static_cast<long long>(v->get<double>());
  else return Status::error(std::string("'") + key + "' must be an integer");
  if (x < lo || x > hi)
    return Status::error(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  *out = static_cast<int>(x);
  return Status::ok();
}

Status get_float(const json& o, const char* key, float* out, double lo, double hi) {
  const json* v = field(o, key);
  if (!v) return Status::ok();
  if (!v->is_number()) return Status::error(std::string("'") + key + "' must be a number");
  double x = v->get<double>();
  if (!(x >= lo && x <= hi)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "'%s' must be between %g and %g", key, lo, hi);
    return Status::error(buf);
  }
  *out = static_cast<float>(x);
  return Status::ok();
}

Status get_string_list(const json& o, const char* key, std::vector<std::string>* out, size_t max_items) {
  const json* v = field(o, key);
  if (!v) return Status::ok();
  out->clear();
  if (v->is_string()) {
    out->push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (auto& e : *v) {
      if (!e.is_string()) return Status::error(std::string("'") + key + "' must be a string or an array of strings");
      out->push_back(e.get<std::string>());
    }
  } else {
    return Status::error(std::string("'") + key + "' must be a string or an array of strings");
  }
  if (out->size() > max_items)
    return Status::error(std::string("'") + key + "' has more than " + std::to_string(max_items) + " entries");
  for (auto& s : *out)
    if (s.empty()) return Status::error(std::string("'") + key + "' must not contain empty strings");
  return Status::ok();
}

std::string json_dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1000000));
  return buf;
}

std::string now_rfc3339() { return rfc3339(std::chrono::system_clock::now()); }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_id(const std::string& prefix) {
  unsigned char b[12];
  RAND_bytes(b, sizeof b);
  static const char* hex = "0123456789abcdef";
  std::string s = prefix;
  for (unsigned char c : b) s += hex[c >> 4], s += hex[c & 15];
  return s;
}

void send_json(Responder& r, int status, const json& j, HeaderList extra) {
  r.send(status, "application/json; charset=utf-8", json_dump(j), std::move(extra));
}

void openai_error(Responder& r, int status, const std::string& message, const std::string& type, const std::string& param,
                  const std::string& code) {
  std::string t = type;
  if (t.empty()) {
    if (status == 401) t = "authentication_error";
    else if (status == 404) t = "invalid_request_error";
    else if (status >= 500) t = "server_error";
    else t = "invalid_request_error";
  }
  json e = {{"message", message}, {"type", t}, {"param", param.empty() ? json() : json(param)},
            {"code", code.empty() ? json() : json(code)}};
  send_json(r, status, {{"error", e}});
}

void ollama_error(Responder& r, int status, const std::string& message) { send_json(r, status, {{"error", message}}); }

int status_for_error(const std::string& m, int otherwise) {
  if (m.find("not found") != std::string::npos) return 404;
  if (m.find("shutting down") != std::string::npos) return 503;
  return otherwise;
}

}  // namespace mlxr::server
