// Request-body helpers: parse JSON and read typed fields, with errors that name the field.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"
#include "daemon/server/http_types.h"

namespace mlxr::server {

using json = nlohmann::json;

Expected<json> parse_body(const Request& req);  // must be a JSON object

// Each returns an error "'<key>' must be <type>" on a wrong type; absent or null keeps *out.
Status get_string(const json& o, const char* key, std::string* out);
Status get_bool(const json& o, const char* key, bool* out);
Status get_int(const json& o, const char* key, int* out, long long lo, long long hi);
Status get_float(const json& o, const char* key, float* out, double lo, double hi);
// A string or an array of strings (OpenAI `stop`, Ollama `stop`).
Status get_string_list(const json& o, const char* key, std::vector<std::string>* out, size_t max_items);

std::string json_dump(const json& j);  // invalid UTF-8 replaced, never throws

std::string now_rfc3339();  // "2026-11-29T02:00:00.123456Z" (Ollama created_at)
std::string rfc3339(std::chrono::system_clock::time_point t);
int64_t unix_now();
std::string random_id(const std::string& prefix);  // "chatcmpl-<24 hex>"

void openai_error(Responder& r, int status, const std::string& message, const std::string& type = "",
                  const std::string& param = "", const std::string& code = "");
void ollama_error(Responder& r, int status, const std::string& message);
void send_json(Responder& r, int status, const json& j, HeaderList extra = {});
// 404 for "not found" errors of the model host / registry, else `otherwise`.
int status_for_error(const std::string& message, int otherwise);

}  // namespace mlxr::server
