// OpenAI-compatible endpoints: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.
#include <cmath>

#include "daemon/server/api.h"
#include "daemon/server/generation.h"
#include "daemon/server/json_util.h"

namespace mlxr::server {

namespace {

std::string sse(const json& j) { return "data: " + json_dump(j) + "\n\n"; }

json usage_json(const Job& job, std::vector<Choice>& choices) {
  int completion = 0;
  int cached = 0;
  for (auto& c : choices) completion += c.result.completion_tokens ? c.result.completion_tokens : static_cast<int>(c.ids.size());
  for (auto& c : choices) cached += c.result.cached_prompt_tokens;
  int prompt = static_cast<int>(job.prompt_tokens().size());
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

std::string oa_finish(const GenResult& r) { return r.reason == GenFinish::kLength ? "length" : "stop"; }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

json chat_logprob_entry(const Job& job, const GenToken& t) {
  auto m = job.model();
  std::string tok = m ? m->token_text(t.id) : t.text;
  json tops = json::array();
  for (auto& [id, lp] : t.top_logprobs) {
    std::string tt = m ? m->token_text(id) : "";
    tops.push_back({{"token", tt}, {"logprob", lp}, {"bytes", bytes_of(tt)}});
  }
  return {{"token", tok}, {"logprob", t.logprob}, {"bytes", bytes_of(tok)}, {"top_logprobs", tops}};
}

json completion_logprobs(const Job& job, const std::vector<GenToken>& toks, size_t offset0) {
  auto m = job.model();
  json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  size_t off = offset0;
  for (auto& t : toks) {
    std::string tt = m ? m->token_text(t.id) : t.text;
    tokens.push_back(tt);
    lps.push_back(t.logprob);
    json top = json::object();
    for (auto& [id, lp] : t.top_logprobs) top[m ? m->token_text(id) : std::to_string(id)] = lp;
    tops.push_back(top);
    offs.push_back(off);
    off += t.text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

// Common OpenAI sampling fields -> Ollama-style options.
Status openai_options(const json& b, JobSpec& spec, bool* stream, bool* include_usage) {
  json& o = spec.options;
  auto copy_num = [&](const char* from, const char* to, double lo, double hi) -> Status {
    float v;
    auto it = b.find(from);
    if (it == b.end() || it->is_null()) return Status::ok();
    MLXR_RETURN_IF_ERROR(get_float(b, from, &v, lo, hi));
    o[to] = it->get<double>();
    return Status::ok();
  };
  MLXR_RETURN_IF_ERROR(copy_num("temperature", "temperature", 0, 2));
  MLXR_RETURN_IF_ERROR(copy_num("top_p", "top_p", 0, 1));
  MLXR_RETURN_IF_ERROR(copy_num("presence_penalty", "presence_penalty", -2, 2));
  MLXR_RETURN_IF_ERROR(copy_num("frequency_penalty", "frequency_penalty", -2, 2));
  MLXR_RETURN_IF_ERROR(copy_num("min_p", "min_p", 0, 1));
  MLXR_RETURN_IF_ERROR(copy_num("repeat_penalty", "repeat_penalty", 0, 100));
  int top_k = 0;
  if (b.contains("top_k") && !b["top_k"].is_null()) {
    MLXR_RETURN_IF_ERROR(get_int(b, "top_k", &top_k, -1, 1 << 30));
    o["top_k"] = top_k;
  }
  if (b.contains("seed") && !b["seed"].is_null()) {
    if (!b["seed"].is_number_integer()) return Status::error("'seed' must be an integer");
    o["seed"] = b["seed"];
  }
  std::vector<std::string> stop;
  MLXR_RETURN_IF_ERROR(get_string_list(b, "stop", &stop, 4));
  if (!stop.empty()) o["stop"] = stop;
  int max_tokens = -1;
  MLXR_RETURN_IF_ERROR(get_int(b, "max_tokens", &max_tokens, 1, 1 << 24));
  MLXR_RETURN_IF_ERROR(get_int(b, "max_completion_tokens", &max_tokens, 1, 1 << 24));
  if (max_tokens > 0) o["num_predict"] = max_tokens;
  MLXR_RETURN_IF_ERROR(get_int(b, "n", &spec.n, 1, 16));
  *stream = false;
  MLXR_RETURN_IF_ERROR(get_bool(b, "stream", stream));
  *include_usage = false;
  if (b.contains("stream_options") && !b["stream_options"].is_null()) {
    if (!b["stream_options"].is_object()) return Status::error("'stream_options' must be an object");
    MLXR_RETURN_IF_ERROR(get_bool(b["stream_options"], "include_usage", include_usage));
  }
  std::string user;
  MLXR_RETURN_IF_ERROR(get_string(b, "user", &user));
  if (b.contains("response_format") && !b["response_format"].is_null()) {
    const json& rf = b["response_format"];
    if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
      return Status::error("'response_format' must be an object with a string 'type'");
    if (rf["type"] != "text")
      return Status::error("'response_format' type '" + rf["type"].get<std::string>() +
                           "' is not supported by this server (constrained decoding is not built); use 'text'");
  }
  // OpenAI keeps sampling for temperature 0 deterministic: greedy.
  return Status::ok();
}

class ChatSink : public Sink {
 public:
  ChatSink(bool stream, bool include_usage, std::string model, bool chat)
      : stream_(stream), usage_(include_usage), model_(std::move(model)), chat_(chat),
        id_(random_id(chat ? "chatcmpl-" : "cmpl-")), created_(unix_now()) {}

  json chunk_base() const {
    return {{"id", id_}, {"object", chat_ ? "chat.completion.chunk" : "text_completion"}, {"created", created_},
            {"model", model_}, {"system_fingerprint", "mlxr"}};
  }

  void on_ready(Job& job) override {
    if (model_.empty()) model_ = job.record().name;
    if (!stream_) return;
    started_ = true;
    job.responder().begin_stream(200, "text/event-stream");
    if (chat_) {
      for (int i = 0; i < job.spec().n; ++i) {
        json c = chunk_base();
        c["choices"] = json::array({{{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                     {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        job.responder().write(sse(c));
      }
    }
  }

  void on_token(Job& job, int i, const GenToken& t) override {
    if (!stream_ || (t.text.empty() && !job.spec().logprobs)) return;
    json c = chunk_base();
    json lp = nullptr;
    if (job.spec().logprobs && t.id >= 0)
      lp = chat_ ? json{{"content", json::array({chat_logprob_entry(job, t)})}}
                 : completion_logprobs(job, {t}, job.choices()[i].text.size() - t.text.size());
    if (chat_)
      c["choices"] = json::array({{{"index", i}, {"delta", {{"content", t.text}}}, {"logprobs", lp}, {"finish_reason", nullptr}}});
    else
      c["choices"] = json::array({{{"index", i}, {"text", t.text}, {"logprobs", lp}, {"finish_reason", nullptr}}});
    job.responder().write(sse(c));
  }

  void on_done(Job& job, int i) override {
    if (!stream_) return;
    json c = chunk_base();
    const GenResult& r = job.choices()[i].result;
    if (chat_)
      c["choices"] = json::array({{{"index", i}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", oa_finish(r)}}});
    else
      c["choices"] = json::array({{{"index", i}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", oa_finish(r)}}});
    job.responder().write(sse(c));
  }

  void on_finished(Job& job) override {
    auto& ch = job.choices();
    if (stream_) {
      if (usage_) {
        json c = chunk_base();
        c["choices"] = json::array();
        c["usage"] = usage_json(job, ch);
        job.responder().write(sse(c));
      }
      job.responder().write("data: [DONE]\n\n");
      job.responder().end();
      return;
    }
    json out = chunk_base();
    out["object"] = chat_ ? "chat.completion" : "text_completion";
    json choices = json::array();
    for (size_t i = 0; i < ch.size(); ++i) {
      json lp = nullptr;
      if (job.spec().logprobs) {
        if (chat_) {
          json content = json::array();
          for (auto& t : ch[i].tokens) content.push_back(chat_logprob_entry(job, t));
          lp = {{"content", content}};
        } else {
          lp = completion_logprobs(job, ch[i].tokens, 0);
        }
      }
      if (chat_)
        choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", ch[i].text}, {"refusal", nullptr}}},
                           {"logprobs", lp}, {"finish_reason", oa_finish(ch[i].result)}});
      else
        choices.push_back({{"index", i}, {"text", ch[i].text}, {"logprobs", lp}, {"finish_reason", oa_finish(ch[i].result)}});
    }
    out["choices"] = choices;
    out["usage"] = usage_json(job, ch);
    send_json(job.responder(), 200, out);
  }

  void on_error(Job& job, int status, const std::string& msg) override {
    if (started_) {
      json e = {{"error", {{"message", msg}, {"type", status >= 500 ? "server_error" : "invalid_request_error"}, {"code", status}}}};
      job.responder().write(sse(e));
      job.responder().write("data: [DONE]\n\n");
      job.responder().end();
      return;
    }
    std::string code = status == 404 ? "model_not_found" : (msg.find("context") != std::string::npos ? "context_length_exceeded" : "");
    openai_error(job.responder(), status, msg, "", status == 404 ? "model" : "", code);
  }

 private:
  bool stream_, usage_;
  std::string model_;
  bool chat_;
  std::string id_;
  int64_t created_;
  bool started_ = false;
};

Expected<std::string> content_text(const json& content, const std::string& where) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string out;
    for (auto& part : content) {
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
        return make_error(where + ": each content part must be an object with a 'type'");
      std::string type = part["type"];
      if (type == "text") {
        if (!part.contains("text") || !part["text"].is_string()) return make_error(where + ": a text part needs a string 'text'");
        out += part["text"].get<std::string>();
      } else {
        return make_error(where + ": content part type '" + type + "' is not supported (text only)");
      }
    }
    return out;
  }
  return make_error(where + ".content must be a string, an array of parts or null");
}

void chat_completions(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return openai_error(*r, 400, body.error());
  const json& b = *body;
  JobSpec spec;
  if (Status s = get_string(b, "model", &spec.model); !s) return openai_error(*r, 400, s.message(), "", "model");
  if (!b.contains("messages") || !b["messages"].is_array())
    return openai_error(*r, 400, "'messages' is required and must be an array", "", "messages");
  if (b["messages"].empty()) return openai_error(*r, 400, "'messages' must not be empty", "", "messages");
  spec.prompt.kind = PromptSpec::kChat;
  int idx = 0;
  for (auto& m : b["messages"]) {
    std::string where = "messages[" + std::to_string(idx++) + "]";
    if (!m.is_object()) return openai_error(*r, 400, where + " must be an object", "", "messages");
    if (!m.contains("role") || !m["role"].is_string()) return openai_error(*r, 400, where + ".role must be a string", "", "messages");
    std::string role = m["role"];
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "function")
      return openai_error(*r, 400, where + ".role '" + role + "' is not one of system, developer, user, assistant, tool", "", "messages");
    if (role != "assistant" && !m.contains("content"))
      return openai_error(*r, 400, where + ".content is required", "", "messages");
    auto text = content_text(m.value("content", json()), where);
    if (!text) return openai_error(*r, 400, text.error(), "", "messages");
    ChatMessage cm{role, *text, json::object()};
    for (const char* k : {"name", "tool_calls", "tool_call_id"})
      if (m.contains(k)) cm.extra[k] = m[k];
    spec.prompt.messages.push_back(std::move(cm));
  }
  if (b.contains("tools") && b["tools"].is_array() && !b["tools"].empty())
    return openai_error(*r, 400, "'tools' are not supported by this server yet", "", "tools");
  bool stream = false, include_usage = false;
  if (Status s = openai_options(b, spec, &stream, &include_usage); !s) return openai_error(*r, 400, s.message());
  if (Status s = get_bool(b, "logprobs", &spec.logprobs); !s) return openai_error(*r, 400, s.message(), "", "logprobs");
  if (Status s = get_int(b, "top_logprobs", &spec.top_logprobs, 0, 20); !s) return openai_error(*r, 400, s.message(), "", "top_logprobs");
  if (spec.top_logprobs > 0 && !spec.logprobs)
    return openai_error(*r, 400, "'top_logprobs' requires 'logprobs' to be true", "", "top_logprobs");
  auto job = std::make_shared<Job>(ctx, r, std::make_unique<ChatSink>(stream, include_usage, spec.model, true), std::move(spec));
  job->start();
}

void completions(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return openai_error(*r, 400, body.error());
  const json& b = *body;
  JobSpec spec;
  if (Status s = get_string(b, "model", &spec.model); !s) return openai_error(*r, 400, s.message(), "", "model");
  if (!b.contains("prompt")) return openai_error(*r, 400, "'prompt' is required", "", "prompt");
  const json& p = b["prompt"];
  spec.prompt.raw = true;
  if (p.is_string()) {
    spec.prompt.text = p.get<std::string>();
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    spec.prompt.text = p[0].get<std::string>();
  } else if (p.is_array() && !p.empty() && std::all_of(p.begin(), p.end(), [](const json& x) { return x.is_number_integer(); })) {
    spec.prompt.kind = PromptSpec::kTokens;
    for (auto& x : p) spec.prompt.tokens.push_back(x.get<int32_t>());
  } else if (p.is_array()) {
    return openai_error(*r, 400, "'prompt' arrays must hold exactly one string, or token ids (batched prompts are not supported)", "", "prompt");
  } else {
    return openai_error(*r, 400, "'prompt' must be a string, an array of one string or an array of token ids", "", "prompt");
  }
  if (b.contains("suffix") && !b["suffix"].is_null()) return openai_error(*r, 400, "'suffix' is not supported", "", "suffix");
  bool echo = false;
  if (Status s = get_bool(b, "echo", &echo); !s) return openai_error(*r, 400, s.message(), "", "echo");
  if (echo) return openai_error(*r, 400, "'echo' is not supported", "", "echo");
  bool stream = false, include_usage = false;
  if (Status s = openai_options(b, spec, &stream, &include_usage); !s) return openai_error(*r, 400, s.message());
  if (!b.contains("max_tokens") || b["max_tokens"].is_null()) spec.options["num_predict"] = 16;  // OpenAI's default
  int lp = 0;
  if (Status s = get_int(b, "logprobs", &lp, 0, 20); !s) return openai_error(*r, 400, s.message(), "", "logprobs");
  spec.logprobs = b.contains("logprobs") && !b["logprobs"].is_null();
  spec.top_logprobs = lp;
  auto job = std::make_shared<Job>(ctx, r, std::make_unique<ChatSink>(stream, include_usage, spec.model, false), std::move(spec));
  job->start();
}

void embeddings(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  auto body = parse_body(req);
  if (!body) return openai_error(*r, 400, body.error());
  const json& b = *body;
  std::string model, fmt = "float";
  if (Status s = get_string(b, "model", &model); !s) return openai_error(*r, 400, s.message(), "", "model");
  if (Status s = get_string(b, "encoding_format", &fmt); !s) return openai_error(*r, 400, s.message(), "", "encoding_format");
  if (fmt != "float" && fmt != "base64") return openai_error(*r, 400, "'encoding_format' must be float or base64", "", "encoding_format");
  if (!b.contains("input")) return openai_error(*r, 400, "'input' is required", "", "input");
  const json& in = b["input"];
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> token_inputs;
  if (in.is_string()) texts.push_back(in);
  else if (in.is_array() && !in.empty() && in[0].is_string()) {
    for (auto& x : in) {
      if (!x.is_string()) return openai_error(*r, 400, "'input' array must hold only strings", "", "input");
      texts.push_back(x);
    }
  } else if (in.is_array() && !in.empty() && in[0].is_number_integer()) {
    std::vector<int32_t> t;
    for (auto& x : in) {
      if (!x.is_number_integer()) return openai_error(*r, 400, "'input' token array must hold only integers", "", "input");
      t.push_back(x.get<int32_t>());
    }
    token_inputs.push_back(t);
  } else if (in.is_array() && !in.empty() && in[0].is_array()) {
    for (auto& row : in) {
      std::vector<int32_t> t;
      for (auto& x : row) {
        if (!x.is_number_integer()) return openai_error(*r, 400, "'input' token arrays must hold only integers", "", "input");
        t.push_back(x.get<int32_t>());
      }
      token_inputs.push_back(t);
    }
  } else {
    return openai_error(*r, 400, "'input' must be a non-empty string, array of strings, or token array(s)", "", "input");
  }
  if (texts.size() + token_inputs.size() > 2048) return openai_error(*r, 400, "'input' has more than 2048 items", "", "input");
  ctx.host->acquire(model, std::nullopt, [&ctx, r, texts, token_inputs, model, fmt](Expected<std::shared_ptr<Lease>> l) {
    // Pool thread: tokenising and running the model here is allowed.
    if (!l) {
      auto msg = l.error();
      return r->post([r, msg] { openai_error(*r, status_for_error(msg, 500), msg, "", "model", msg.find("not found") != std::string::npos ? "model_not_found" : ""); });
    }
    auto lease = *l;
    std::vector<std::vector<int32_t>> inputs = token_inputs;
    for (auto& t : texts) {
      auto tok = lease->model->tokenize(t, true);
      if (!tok) {
        auto msg = tok.error();
        return r->post([r, msg] { openai_error(*r, 400, "tokenizer: " + msg, "", "input"); });
      }
      inputs.push_back(*tok);
    }
    json data = json::array();
    int total = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (static_cast<int>(inputs[i].size()) > lease->model->n_ctx()) {
        std::string msg = "input " + std::to_string(i) + " is " + std::to_string(inputs[i].size()) +
                          " tokens, more than the context of " + std::to_string(lease->model->n_ctx());
        return r->post([r, msg] { openai_error(*r, 400, msg, "", "input", "context_length_exceeded"); });
      }
      if (inputs[i].empty()) return r->post([r] { openai_error(*r, 400, "an input is empty", "", "input"); });
      auto e = lease->model->embed(inputs[i]);
      if (!e) {
        auto msg = e.error();
        return r->post([r, msg] { openai_error(*r, 500, "embedding failed: " + msg); });
      }
      total += static_cast<int>(inputs[i].size());
      json emb;
      if (fmt == "base64") {
        static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char* p = reinterpret_cast<const unsigned char*>(e->data());
        size_t n = e->size() * sizeof(float);
        std::string s;
        for (size_t k = 0; k < n; k += 3) {
          uint32_t v = p[k] << 16 | (k + 1 < n ? p[k + 1] << 8 : 0) | (k + 2 < n ? p[k + 2] : 0);
          s += tbl[v >> 18 & 63];
          s += tbl[v >> 12 & 63];
          s += k + 1 < n ? tbl[v >> 6 & 63] : '=';
          s += k + 2 < n ? tbl[v & 63] : '=';
        }
        emb = s;
      } else {
        emb = *e;
      }
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", emb}});
    }
    json out = {{"object", "list"}, {"data", data}, {"model", model.empty() ? lease->record.name : model},
                {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}};
    std::string s = json_dump(out);
    ctx.metrics.counter("mlxr_embedding_inputs_total", "Inputs embedded").inc(inputs.size());
    r->post([r, s = std::move(s), lease] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

json model_entry(const registry::ModelRecord& m) {
  return {{"id", m.name}, {"object", "model"}, {"created", m.created_at}, {"owned_by", m.is_demo ? "mlxr-demo-random-weights" : "mlxr"}};
}

void list_models(ServerContext& ctx, const Request&, std::shared_ptr<Responder> r) {
  // Registry reads are quick SQLite queries; still, keep them off the I/O thread.
  ctx.run_blocking([&ctx, r] {
    json data = json::array();
    for (auto& m : ctx.all_models()) data.push_back(model_entry(m));
    std::string s = json_dump({{"object", "list"}, {"data", data}});
    r->post([r, s] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

void get_model(ServerContext& ctx, const Request& req, std::shared_ptr<Responder> r) {
  std::string id = req.path.substr(std::string("/v1/models/").size());
  ctx.run_blocking([&ctx, r, id] {
    auto rec = ctx.resolve(id);
    if (!rec) {
      auto msg = rec.error();
      return r->post([r, msg] { openai_error(*r, 404, msg, "invalid_request_error", "model", "model_not_found"); });
    }
    std::string s = json_dump(model_entry(*rec));
    r->post([r, s] { r->send(200, "application/json; charset=utf-8", s); });
  });
}

}  // namespace

void register_openai(std::vector<Route>& routes) {
  routes.push_back({"GET", "/v1/models", true, list_models});
  routes.push_back({"GET", "/v1/models/*", true, get_model});
  routes.push_back({"POST", "/v1/chat/completions", true, chat_completions});
  routes.push_back({"POST", "/v1/completions", true, completions});
  routes.push_back({"POST", "/v1/embeddings", true, embeddings});
}

}  // namespace mlxr::server
