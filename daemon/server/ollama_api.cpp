// Ollama-compatible endpoints: generate, chat, embed(dings), tags, ps, show, pull, create, copy,
// delete, version. Streams are NDJSON (one JSON object per line), on by default.
#include <filesystem>

#include "daemon/config/config.h"
#include "daemon/registry/names.h"
#include "daemon/server/api.h"
#include "daemon/server/generation.h"
#include "daemon/server/json_util.h"
#include "daemon/server/modelfile.h"

namespace mlxr::server {

namespace {

std::string ndjson(const json& j) { return json_dump(j) + "\n"; }
int64_t ns(double ms) { return static_cast<int64_t>(ms * 1e6); }

std::string family_of(const registry::ModelRecord& m) { return m.arch.empty() ? m.format : m.arch; }

std::string param_size(int64_t n) {
  char b[32];
  if (n >= 1000000000) std::snprintf(b, sizeof b, "%.1fB", n / 1e9);
  else if (n >= 1000000) std::snprintf(b, sizeof b, "%.1fM", n / 1e6);
  else std::snprintf(b, sizeof b, "%.1fK", n / 1e3);
  return b;
}

json details_json(const registry::ModelRecord& m) {
  return {{"parent_model", ""}, {"format", m.format}, {"family", family_of(m)}, {"families", json::array({family_of(m)})},
          {"parameter_size", param_size(m.n_params)}, {"quantization_level", m.quant},
          {"random_weights", m.is_demo}};
}

// Common request fields of generate/chat.
Status common_fields(const json& b, JobSpec& spec, bool* stream) {
  MLXR_RETURN_IF_ERROR(get_string(b, "model", &spec.model));
  if (spec.model.empty()) return Status::error("'model' is required");
  *stream = true;
  MLXR_RETURN_IF_ERROR(get_bool(b, "stream", stream));
  if (b.contains("options") && !b["options"].is_null()) {
    if (!b["options"].is_object()) return Status::error("'options' must be an object");
    spec.options = b["options"];
    GenRequest probe;
    int num_ctx = 0;
    MLXR_RETURN_IF_ERROR(apply_options(spec.options, &probe, &num_ctx));
  }
  if (b.contains("keep_alive") && !b["keep_alive"].is_null()) {
    auto ka = config::parse_duration_seconds(b["keep_alive"]);
    if (!ka) return Status::error("'keep_alive': " + ka.error());
    spec.keep_alive_s = *ka;
  }
  if (b.contains("format") && !b["format"].is_null() && !(b["format"].is_string() && b["format"] == ""))
    return Status::error("'format' (structured output) is not supported by this server");
  if (b.contains("images") && b["images"].is_array() && !b["images"].empty())
    return Status::error("'images' are not supported: no vision model support");
  return Status::ok();
}

class OllamaSink : public Sink {
 public:
  OllamaSink(bool stream, bool chat) : stream_(stream), chat_(chat) {}

  json base(Job& job) {
    return {{"model", job.spec().model}, {"created_at", now_rfc3339()}};
  }
  void on_ready(Job& job) override {
    if (!stream_) return;
    started_ = true;
    job.responder().begin_stream(200, "application/x-ndjson");
  }
  void on_token(Job& job, int, const GenToken& t) override {
    if (!stream_ || t.text.empty()) return;
    json j = base(job);
    if (chat_) j["message"] = {{"role", "assistant"}, {"content", t.text}};
    else j["response"] = t.text;
    j["done"] = false;
    job.responder().write(ndjson(j));
  }
  void on_finished(Job& job) override {
    Choice& c = job.choices()[0];
    const GenResult& r = c.result;
    json j = base(job);
    if (chat_) j["message"] = {{"role", "assistant"}, {"content", stream_ ? "" : c.text}};
    else j["response"] = stream_ ? "" : c.text;
    j["done"] = true;
    j["done_reason"] = r.reason == GenFinish::kLength ? "length" : "stop";
    if (!chat_) {
      std::vector<int32_t> context = job.prompt_tokens();
      context.insert(context.end(), c.ids.begin(), c.ids.end());
      j["context"] = context;
    }
    double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - job.started()).count();
    j["total_duration"] = ns(total_ms);
    j["load_duration"] = ns(job.load_ms());
    j["prompt_eval_count"] = r.prompt_tokens ? r.prompt_tokens : static_cast<int>(job.prompt_tokens().size());
    j["prompt_eval_duration"] = ns(r.prefill_ms);
    j["eval_count"] = r.completion_tokens ? r.completion_tokens : static_cast<int>(c.ids.size());
    j["eval_duration"] = ns(r.decode_ms);
    if (stream_) {
      job.responder().write(ndjson(j));
      job.responder().end();
    } else {
      send_json(job.responder(), 200, j);
    }
  }
  void on_error(Job& job, int status, const std::string& msg) override {
    if (started_) {
      job.responder().write(ndjson({{"error", msg}}));
      job.responder().end();
    } else {
      ollama_error(job.responder(), status, msg);
    }
  }

 private:
  bool stream_, chat_;
  bool started_ = false;
};

// Empty prompt / messages: Ollama loads (or with keep_alive 0 unloads) the model and answers at once.
void load_or_unload(ServerContext& ctx, std::shared_ptr<Responder> r, const JobSpec& spec, bool chat) {
  std::string model = spec.model;
  if (spec.keep_alive_s && *spec.keep_alive_s == 0) {
    ctx.run_blocking([&ctx, r, model, chat] {
      auto rec = ctx.resolve(model);
      if (!rec) {
        auto m = rec.error();
        return r->post([r, m] { ollama_error(*r, 404, m); });
      }
      ctx.host->unload(rec->name);
      json j = {{"model", model}, {"created_at", now_rfc3339()}, {"done", true}, {"done_reason", "unload"}};
      if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
      else j["response"] = "";
      std::string s = json_dump(j);
      r->post([r, s] { r->send(200, "application/json; charset=utf-8", s); });
    });
    return;
  }
  ctx.host->acquire(model, spec.keep_alive_s, [r, model, chat](Expected<std::shared_ptr<Lease>> l) {
    if (!l) {
      auto m = l.error();
      return r->post([r, m] { ollama_error(*r, status_for_error(m, 500), m); });
    }
    json j = {{"model", model}, {"created_at", now_rfc3339()}, {"done", true}, {"done_reason", "load"}};
    if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
    else j["response"] = "";
    std::string s = json_dump(j);
    auto lease = *l;
    r->post([r, s, lease] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

void generate(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  const json& b = *body;
  JobSpec spec;
  bool stream = true;
  if (Status s = common_fields(b, spec, &stream); !s) return ollama_error(*r, 400, s.message());
  PromptSpec& p = spec.prompt;
  if (Status s = get_string(b, "prompt", &p.text); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_string(b, "system", &p.system_override); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_string(b, "template", &p.template_override); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_bool(b, "raw", &p.raw); !s) return ollama_error(*r, 400, s.message());
  std::string suffix;
  if (Status s = get_string(b, "suffix", &suffix); !s) return ollama_error(*r, 400, s.message());
  if (!suffix.empty()) return ollama_error(*r, 400, "'suffix' (fill-in-the-middle) is not supported by this model server");
  if (b.contains("context") && !b["context"].is_null()) {
    if (!b["context"].is_array()) return ollama_error(*r, 400, "'context' must be an array of integers");
    for (auto& x : b["context"]) {
      if (!x.is_number_integer()) return ollama_error(*r, 400, "'context' must be an array of integers");
      p.context.push_back(x.get<int32_t>());
    }
  }
  if (p.text.empty() && p.context.empty()) return load_or_unload(ctx, r, spec, false);
  auto job = std::make_shared<Job>(ctx, r, std::make_unique<OllamaSink>(stream, false), std::move(spec));
  job->start();
}

void chat(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  const json& b = *body;
  JobSpec spec;
  bool stream = true;
  if (Status s = common_fields(b, spec, &stream); !s) return ollama_error(*r, 400, s.message());
  if (b.contains("messages") && !b["messages"].is_null() && !b["messages"].is_array())
    return ollama_error(*r, 400, "'messages' must be an array");
  if (b.contains("tools") && b["tools"].is_array() && !b["tools"].empty())
    return ollama_error(*r, 400, "'tools' are not supported by this server yet");
  spec.prompt.kind = PromptSpec::kChat;
  int i = 0;
  for (auto& m : b.value("messages", json::array())) {
    std::string where = "messages[" + std::to_string(i++) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return ollama_error(*r, 400, where + " must be an object with a string 'role'");
    std::string content;
    if (Status s = get_string(m, "content", &content); !s) return ollama_error(*r, 400, where + ": " + s.message());
    if (m.contains("images") && m["images"].is_array() && !m["images"].empty())
      return ollama_error(*r, 400, where + ": images are not supported: no vision model support");
    std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      return ollama_error(*r, 400, where + ": role '" + role + "' must be system, user, assistant or tool");
    ChatMessage cm{role, content, json::object()};
    if (m.contains("tool_calls")) cm.extra["tool_calls"] = m["tool_calls"];
    spec.prompt.messages.push_back(std::move(cm));
  }
  if (spec.prompt.messages.empty()) return load_or_unload(ctx, r, spec, true);
  auto job = std::make_shared<Job>(ctx, r, std::make_unique<OllamaSink>(stream, true), std::move(spec));
  job->start();
}

void embed_common(ServerContext& ctx, std::shared_ptr<Responder> r, const std::string& model, std::optional<double> ka,
                  std::vector<std::string> inputs, bool truncate, bool legacy) {
  auto t0 = std::chrono::steady_clock::now();
  ctx.host->acquire(model, ka, [&ctx, r, model, inputs, truncate, legacy, t0](Expected<std::shared_ptr<Lease>> l) {
    if (!l) {
      auto m = l.error();
      return r->post([r, m] { ollama_error(*r, status_for_error(m, 500), m); });
    }
    auto lease = *l;
    json embs = json::array();
    int count = 0;
    for (auto& text : inputs) {
      auto tok = lease->model->tokenize(text, true);
      if (!tok) {
        auto m = tok.error();
        return r->post([r, m] { ollama_error(*r, 400, "tokenizer: " + m); });
      }
      int n_ctx = lease->model->n_ctx();
      if (static_cast<int>(tok->size()) > n_ctx) {
        if (!truncate) {
          std::string m = "input is " + std::to_string(tok->size()) + " tokens, more than the context of " + std::to_string(n_ctx);
          return r->post([r, m] { ollama_error(*r, 400, m); });
        }
        tok->resize(n_ctx);
      }
      count += static_cast<int>(tok->size());
      auto e = lease->model->embed(*tok);
      if (!e) {
        auto m = e.error();
        return r->post([r, m] { ollama_error(*r, 500, "embedding failed: " + m); });
      }
      embs.push_back(*e);
    }
    json out;
    if (legacy) {
      out = {{"embedding", embs.empty() ? json::array() : embs[0]}};
    } else {
      double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      out = {{"model", model}, {"embeddings", embs}, {"total_duration", ns(total)}, {"load_duration", ns(lease->load_ms)},
             {"prompt_eval_count", count}};
    }
    std::string s = json_dump(out);
    r->post([r, s, lease] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

void embed(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  const json& b = *body;
  std::string model;
  if (Status s = get_string(b, "model", &model); !s || model.empty()) return ollama_error(*r, 400, s ? "'model' is required" : s.message());
  std::vector<std::string> inputs;
  if (Status s = get_string_list(b, "input", &inputs, 2048); !s) return ollama_error(*r, 400, s.message());
  if (inputs.empty()) return ollama_error(*r, 400, "'input' is required");
  bool truncate = true;
  if (Status s = get_bool(b, "truncate", &truncate); !s) return ollama_error(*r, 400, s.message());
  std::optional<double> ka;
  if (b.contains("keep_alive") && !b["keep_alive"].is_null()) {
    auto d = config::parse_duration_seconds(b["keep_alive"]);
    if (!d) return ollama_error(*r, 400, "'keep_alive': " + d.error());
    ka = *d;
  }
  embed_common(ctx, r, model, ka, inputs, truncate, false);
}

void embeddings_legacy(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  std::string model, prompt;
  if (Status s = get_string(*body, "model", &model); !s || model.empty()) return ollama_error(*r, 400, s ? "'model' is required" : s.message());
  if (Status s = get_string(*body, "prompt", &prompt); !s) return ollama_error(*r, 400, s.message());
  if (prompt.empty()) {
    std::string s = json_dump({{"embedding", json::array()}});
    return r->send(200, "application/json; charset=utf-8", s);
  }
  embed_common(ctx, r, model, std::nullopt, {prompt}, true, true);
}

json tag_entry(const registry::ModelRecord& m) {
  return {{"name", m.name}, {"model", m.name}, {"modified_at", rfc3339(std::chrono::system_clock::from_time_t(m.modified_at))},
          {"size", m.size}, {"digest", m.sha256}, {"details", details_json(m)}};
}

void tags(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) {
  ctx.run_blocking([&ctx, r] {
    json models = json::array();
    for (auto& m : ctx.all_models()) models.push_back(tag_entry(m));
    std::string s = json_dump({{"models", models}});
    r->post([r, s] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

void ps(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) {
  json models = json::array();
  for (auto& i : ctx.host->loaded()) {
    json e = tag_entry(i.record);
    e["name"] = i.name;
    e["model"] = i.name;
    e["expires_at"] = i.forever ? "2318-01-01T00:00:00Z" : rfc3339(i.expires_at);
    e["size"] = i.memory_bytes;
    e["size_vram"] = i.on_gpu ? i.memory_bytes : 0;
    e["active_requests"] = i.active;
    models.push_back(e);
  }
  send_json(*r, 200, {{"models", models}});
}

std::string modelfile_of(const registry::ModelRecord& m) {
  std::string s = "# Modelfile generated by \"mlxr show\"\nFROM " + m.path + "\n";
  if (!m.template_text.empty()) s += "TEMPLATE \"\"\"" + m.template_text + "\"\"\"\n";
  if (!m.system.empty()) s += "SYSTEM \"\"\"" + m.system + "\"\"\"\n";
  for (auto& [k, v] : m.parameters.items()) {
    if (v.is_array())
      for (auto& x : v) s += "PARAMETER " + k + " " + (x.is_string() ? x.get<std::string>() : x.dump()) + "\n";
    else
      s += "PARAMETER " + k + " " + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  }
  return s;
}

// The model a /api/show or /api/delete body names: "model", or the older "name" spelling.
Expected<std::string> model_name(const json& body) {
  std::string model;
  if (Status s = get_string(body, "model", &model); !s) return s;
  if (model.empty())
    if (Status s = get_string(body, "name", &model); !s) return s;
  if (model.empty()) return make_error("'model' is required");
  return model;
}

void show(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  auto name = model_name(*body);
  if (!name) return ollama_error(*r, 400, name.error());
  const std::string model = *name;
  ctx.run_blocking([&ctx, r, model] {
    auto rec = ctx.resolve(model);
    if (!rec) {
      auto m = rec.error();
      return r->post([r, m] { ollama_error(*r, 404, m); });
    }
    const auto& m = *rec;
    std::string params;
    for (auto& [k, v] : m.parameters.items()) {
      if (v.is_array())
        for (auto& x : v) params += k + " " + (x.is_string() ? x.get<std::string>() : x.dump()) + "\n";
      else
        params += k + " " + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
    }
    json info = {{"general.architecture", m.arch}, {"general.parameter_count", m.n_params},
                 {"general.file_type", m.quant}, {"general.random_weights", m.is_demo}};
    if (!m.arch.empty()) {
      info[m.arch + ".context_length"] = m.n_ctx_train;
      info[m.arch + ".embedding_length"] = m.n_embd;
    }
    json caps = m.is_embedding ? json::array({"embedding"}) : json::array({"completion", "embedding"});
    json out = {{"license", ""}, {"modelfile", modelfile_of(m)}, {"parameters", params}, {"template", m.template_text},
                {"system", m.system}, {"details", details_json(m)}, {"model_info", info}, {"capabilities", caps},
                {"modified_at", rfc3339(std::chrono::system_clock::from_time_t(m.modified_at))},
                {"mlxr", registry::record_to_json(m)}};
    std::string s = json_dump(out);
    r->post([r, s] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

// Progress-reporting operations (pull, create): NDJSON status lines when streaming, else one
// final object. Runs on the pool; the client going away cancels a pull.
struct ProgressStream : std::enable_shared_from_this<ProgressStream> {
  std::shared_ptr<Responder> r;
  bool stream;
  bool begun = false;
  std::atomic<bool> cancel{false};
  void status(json j) {
    if (!stream) return;
    auto self = shared_from_this();
    r->post([self, j] {
      if (!self->begun) {
        self->begun = true;
        self->r->begin_stream(200, "application/x-ndjson");
      }
      self->r->write(ndjson(j));
    });
  }
  void finish(Status st) {
    auto self = shared_from_this();
    r->post([self, st] {
      if (self->begun) {
        self->r->write(ndjson(st ? json{{"status", "success"}} : json{{"error", st.message()}}));
        self->r->end();
      } else if (st) {
        send_json(*self->r, 200, {{"status", "success"}});
      } else {
        int code = st.message().find("not found") != std::string::npos ? 404 : 400;
        if (st.message().find("HTTP ") != std::string::npos || st.message().find("connect") != std::string::npos) code = 502;
        ollama_error(*self->r, code, st.message());
      }
    });
  }
};

void pull(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  const json& b = *body;
  registry::PullOptions opt;
  std::string model;
  bool stream = true, insecure = false;
  for (auto [k, out] : {std::pair<const char*, std::string*>{"model", &model}, {"url", &opt.url}, {"name", &opt.name}, {"sha256", &opt.sha256}})
    if (Status s = get_string(b, k, out); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_bool(b, "stream", &stream); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_bool(b, "insecure", &insecure); !s) return ollama_error(*r, 400, s.message());
  // Ollama clients send the thing to pull as "model" (or legacy "name"); "url" + "name" is ours.
  std::string name = opt.name;
  if (!opt.url.empty()) {
    opt.name = name.empty() ? model : name;
  } else if (!model.empty()) {
    opt.url = model;
  } else {
    opt.url = name;
    opt.name.clear();
  }
  if (opt.url.empty()) return ollama_error(*r, 400, "'model' is required (a URL or org/repo/file to pull)");
  if (opt.url.find("://") == std::string::npos && opt.url.find('/') == std::string::npos)
    return ollama_error(*r, 400, "cannot pull '" + opt.url + "': this server pulls from URLs or Hugging Face paths "
                                 "(org/repo/file.gguf), not from the Ollama library");
  opt.hf_endpoint = ctx.config().hf_endpoint;
  auto ps = std::make_shared<ProgressStream>();
  ps->r = r;
  ps->stream = stream;
  r->on_disconnect([ps] { ps->cancel = true; });
  ctx.logs.info("pull started", {{"url", opt.url}});
  ctx.run_blocking([&ctx, ps, opt] {
    auto rec = ctx.registry->pull(opt, [ps](const registry::PullProgress& p) {
      json j = {{"status", p.status}};
      if (!p.digest.empty()) j["digest"] = p.digest;
      if (p.total) j["total"] = p.total;
      if (p.status == "downloading") j["completed"] = p.completed;
      if (p.status != "success") ps->status(j);
    }, &ps->cancel);
    if (rec) ctx.logs.info("pull finished", {{"name", rec->name}, {"sha256", rec->sha256}, {"bytes", rec->size}});
    else ctx.logs.warn("pull failed", {{"url", opt.url}, {"error", rec.error()}});
    ps->finish(rec ? Status::ok() : Status::error(rec.error()));
  });
}

void create(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  const json& b = *body;
  std::string name, from, modelfile, path;
  registry::ImportOptions opt;
  bool stream = true;
  for (auto [k, out] : {std::pair<const char*, std::string*>{"model", &name}, {"from", &from}, {"modelfile", &modelfile},
                        {"path", &path}, {"template", &opt.template_text}, {"system", &opt.system}})
    if (Status s = get_string(b, k, out); !s) return ollama_error(*r, 400, s.message());
  if (name.empty())
    if (Status s = get_string(b, "name", &name); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_bool(b, "stream", &stream); !s) return ollama_error(*r, 400, s.message());
  if (name.empty()) return ollama_error(*r, 400, "'model' (the new name) is required");
  if (auto n = registry::normalize_name(name); !n) return ollama_error(*r, 400, n.error());
  if (b.contains("parameters") && !b["parameters"].is_null()) {
    if (!b["parameters"].is_object()) return ollama_error(*r, 400, "'parameters' must be an object");
    GenRequest probe;
    int nc = 0;
    if (Status s = apply_options(b["parameters"], &probe, &nc); !s) return ollama_error(*r, 400, "'parameters': " + s.message());
    opt.parameters = b["parameters"];
  }
  if (b.contains("quantize") && !b["quantize"].is_null()) return ollama_error(*r, 400, "'quantize' is not supported by create; use `mlxr quantize`");
  if (!modelfile.empty()) {
    std::string mf_from;
    registry::ImportOptions mf;
    if (Status s = parse_modelfile(modelfile, &mf_from, &mf); !s) return ollama_error(*r, 400, s.message());
    if (from.empty()) from = mf_from;
    if (opt.template_text.empty()) opt.template_text = mf.template_text;
    if (opt.system.empty()) opt.system = mf.system;
    for (auto& [k, v] : mf.parameters.items())
      if (!opt.parameters.contains(k)) opt.parameters[k] = v;
  }
  if (from.empty()) from = path;
  if (from.empty()) return ollama_error(*r, 400, "'from' is required (a registered model name or a local GGUF/safetensors path)");
  opt.replace = true;
  auto ps = std::make_shared<ProgressStream>();
  ps->r = r;
  ps->stream = stream;
  ctx.run_blocking([&ctx, ps, name, from, opt] {
    std::error_code ec;
    bool is_path = from.find('/') != std::string::npos && std::filesystem::exists(from, ec);
    Expected<registry::ModelRecord> rec = make_error("unreachable");
    if (is_path) {
      ps->status({{"status", "importing " + from}});
      rec = ctx.registry->import_path(from, name, opt);
    } else {
      ps->status({{"status", "using existing model " + from}});
      rec = ctx.registry->derive(name, from, opt);
    }
    if (rec) {
      ps->status({{"status", "writing manifest"}});
      ctx.logs.info("model created", {{"name", rec->name}, {"from", from}});
    }
    ps->finish(rec ? Status::ok() : Status::error(rec.error()));
  });
}

void copy(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  std::string src, dst;
  if (Status s = get_string(*body, "source", &src); !s) return ollama_error(*r, 400, s.message());
  if (Status s = get_string(*body, "destination", &dst); !s) return ollama_error(*r, 400, s.message());
  if (src.empty() || dst.empty()) return ollama_error(*r, 400, "'source' and 'destination' are required");
  ctx.run_blocking([&ctx, r, src, dst] {
    Status st = ctx.registry->copy(src, dst);
    r->post([r, st] {
      if (st) r->send(200, "", "");
      else ollama_error(*r, status_for_error(st.message(), 400), st.message());
    });
  });
}

void remove(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return ollama_error(*r, 400, body.error());
  auto name = model_name(*body);
  if (!name) return ollama_error(*r, 400, name.error());
  const std::string model = *name;
  ctx.run_blocking([&ctx, r, model] {
    auto norm = registry::normalize_name(model);
    if (norm) ctx.host->unload(*norm);
    Status st = ctx.registry->remove(model);
    if (st) ctx.logs.info("model deleted", {{"name", model}});
    r->post([r, st] {
      if (st) r->send(200, "", "");
      else ollama_error(*r, status_for_error(st.message(), 400), st.message());
    });
  });
}

void version(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) { send_json(*r, 200, {{"version", ctx.version}}); }

}  // namespace

void register_ollama(std::vector<Route>& routes) {
  routes.push_back({"POST", "/api/generate", true, generate});
  routes.push_back({"POST", "/api/chat", true, chat});
  routes.push_back({"POST", "/api/embed", true, embed});
  routes.push_back({"POST", "/api/embeddings", true, embeddings_legacy});
  routes.push_back({"GET", "/api/tags", true, tags});
  routes.push_back({"GET", "/api/ps", true, ps});
  routes.push_back({"POST", "/api/show", true, show});
  routes.push_back({"POST", "/api/pull", true, pull});
  routes.push_back({"POST", "/api/create", true, create});
  routes.push_back({"POST", "/api/copy", true, copy});
  routes.push_back({"DELETE", "/api/delete", true, remove});
  routes.push_back({"GET", "/api/version", false, version});
}

}  // namespace mlxr::server
