#include "daemon/server/generation.h"

#include <algorithm>

namespace mlxr::server {

using Clock = std::chrono::steady_clock;

const char* finish_name(GenFinish f) {
  switch (f) {
    case GenFinish::kStop: return "stop";
    case GenFinish::kLength: return "length";
    case GenFinish::kCancelled: return "cancelled";
    case GenFinish::kError: return "error";
  }
  return "stop";
}

Status apply_options(const json& o, GenRequest* g, int* num_ctx) {
  if (!o.is_object()) return Status::error("'options' must be an object");
  SamplingParams& s = g->sampling;
  MLXR_RETURN_IF_ERROR(get_float(o, "temperature", &s.temperature, 0, 100));
  MLXR_RETURN_IF_ERROR(get_int(o, "top_k", &s.top_k, -1, 1 << 30));
  MLXR_RETURN_IF_ERROR(get_float(o, "top_p", &s.top_p, 0, 1));
  MLXR_RETURN_IF_ERROR(get_float(o, "min_p", &s.min_p, 0, 1));
  MLXR_RETURN_IF_ERROR(get_float(o, "repeat_penalty", &s.repeat_penalty, 0, 100));
  MLXR_RETURN_IF_ERROR(get_int(o, "repeat_last_n", &s.repeat_last_n, -1, 1 << 30));
  MLXR_RETURN_IF_ERROR(get_float(o, "presence_penalty", &s.presence_penalty, -2, 2));
  MLXR_RETURN_IF_ERROR(get_float(o, "frequency_penalty", &s.frequency_penalty, -2, 2));
  MLXR_RETURN_IF_ERROR(get_int(o, "num_predict", &g->max_tokens, -2, 1 << 30));
  if (g->max_tokens < 0) g->max_tokens = -1;  // Ollama: -1 infinite, -2 fill context
  MLXR_RETURN_IF_ERROR(get_int(o, "num_ctx", num_ctx, 0, 1 << 24));
  MLXR_RETURN_IF_ERROR(get_string_list(o, "stop", &g->stop, 16));
  auto it = o.find("seed");
  if (it != o.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Status::error("'seed' must be an integer");
    long long v = it->get<long long>();
    if (v >= 0) s.seed = static_cast<uint64_t>(v);  // Ollama: -1 = random
  }
  return Status::ok();
}

Job::Job(ServerContext& ctx, std::shared_ptr<Responder> r, std::unique_ptr<Sink> sink, JobSpec spec)
    : ctx_(ctx), resp_(std::move(r)), sink_(std::move(sink)), spec_(std::move(spec)) {}

void Job::start() {
  auto self = shared_from_this();
  resp_->on_disconnect([self] {
    self->ctx_.logs.info("client disconnected; cancelling", {{"model", self->spec_.model}});
    self->ctx_.metrics.counter("mlxr_client_disconnects_total", "Requests whose client went away before the end").inc();
    self->cancel_all();
  });
  ctx_.host->acquire(spec_.model, spec_.keep_alive_s,
                     [self](Expected<std::shared_ptr<Lease>> l) { self->on_lease(std::move(l)); });
}

void Job::cancel_all() {
  cancelled_ = true;
  std::vector<uint64_t> ids;
  std::shared_ptr<ModelInstance> m;
  {
    std::lock_guard<std::mutex> lk(ids_mu_);
    ids = ids_;
    m = model_;
  }
  if (m)
    for (auto id : ids) m->cancel(id);
}

void Job::fail(int status, const std::string& msg) {
  auto self = shared_from_this();
  resp_->post([self, status, msg] {
    if (self->finished_) return;
    self->finished_ = true;
    self->ctx_.logs.warn("request failed", {{"status", status}, {"error", msg}, {"model", self->spec_.model}});
    self->sink_->on_error(*self, status, msg);
    self->lease_.reset();
  });
}

// Ollama-style Go template with only {{ .System }}, {{ .Prompt }} and {{ .Response }} (no control
// flow); anything else is treated as a Jinja chat template.
static bool is_go_template(const std::string& t) {
  return t.find(".Prompt") != std::string::npos && t.find("{%") == std::string::npos;
}

static std::string render_go_template(std::string t, const std::string& system, const std::string& prompt) {
  auto sub = [&](const std::string& key, const std::string& val) {
    for (const char* form : {"{{ .%s }}", "{{.%s}}", "{{ .%s}}", "{{.%s }}"}) {
      char pat[64];
      std::snprintf(pat, sizeof pat, form, key.c_str());
      size_t p;
      while ((p = t.find(pat)) != std::string::npos) t.replace(p, std::strlen(pat), val);
    }
  };
  sub("System", system);
  sub("Prompt", prompt);
  sub("Response", "");
  return t;
}

void Job::on_lease(Expected<std::shared_ptr<Lease>> l) {
  // Pool thread.
  if (!l) return fail(status_for_error(l.error(), 500), l.error());
  lease_ = std::move(*l);
  {
    std::lock_guard<std::mutex> lk(ids_mu_);  // cancel_all() reads it from the strand
    model_ = lease_->model;
  }
  record_ = lease_->record;
  load_ms_ = lease_->load_ms;
  if (cancelled_) return fail(499, "client disconnected");

  GenRequest base;
  int num_ctx = 0;
  json merged = record_.parameters.is_object() ? record_.parameters : json::object();
  for (auto& [k, v] : spec_.options.items()) merged[k] = v;
  if (Status st = apply_options(merged, &base, &num_ctx); !st) return fail(400, st.message());
  base.sampling.logprobs = spec_.logprobs;
  base.sampling.top_logprobs = spec_.top_logprobs;

  const PromptSpec& p = spec_.prompt;
  std::string tmpl = p.template_override.empty() ? record_.template_text : p.template_override;
  std::string system = p.system_override.empty() ? record_.system : p.system_override;
  Expected<std::vector<int32_t>> toks = std::vector<int32_t>{};
  if (p.kind == PromptSpec::kTokens) {
    toks = p.tokens;
  } else if (p.kind == PromptSpec::kChat) {
    std::vector<ChatMessage> msgs = p.messages;
    bool has_system = std::any_of(msgs.begin(), msgs.end(), [](const ChatMessage& m) { return m.role == "system"; });
    if (!has_system && !system.empty()) msgs.insert(msgs.begin(), ChatMessage{"system", system, json::object()});
    Expected<std::string> text = std::string();
    if (is_go_template(tmpl)) {
      std::string convo;
      for (auto& m : msgs) convo += m.content + "\n";
      text = render_go_template(tmpl, system, convo);
    } else {
      text = model_->render_chat(msgs, tmpl, true);
    }
    if (!text) return fail(400, "chat template: " + text.error());
    toks = model_->tokenize(*text, true);
  } else if (p.raw || (tmpl.empty() && !model_->has_chat_template())) {
    std::string text = (!p.raw && !system.empty()) ? system + "\n" + p.text : p.text;
    toks = model_->tokenize(text, p.context.empty());
  } else if (is_go_template(tmpl)) {
    toks = model_->tokenize(render_go_template(tmpl, system, p.text), p.context.empty());
  } else {
    std::vector<ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system, json::object()});
    msgs.push_back({"user", p.text, json::object()});
    auto text = model_->render_chat(msgs, tmpl, true);
    if (!text) return fail(400, "chat template: " + text.error());
    toks = model_->tokenize(*text, p.context.empty());
  }
  if (!toks) return fail(400, "tokenizer: " + toks.error());
  prompt_ = p.context;
  prompt_.insert(prompt_.end(), toks->begin(), toks->end());
  int n_ctx = model_->n_ctx();
  if (num_ctx > 0) n_ctx = std::min(n_ctx, num_ctx);
  if (prompt_.empty()) return fail(400, "the prompt is empty after tokenisation");
  if (static_cast<int>(prompt_.size()) >= n_ctx)
    return fail(400, "the prompt is " + std::to_string(prompt_.size()) + " tokens, which does not fit the context of " +
                         std::to_string(n_ctx) + " tokens");
  int room = n_ctx - static_cast<int>(prompt_.size());
  if (base.max_tokens < 0 || base.max_tokens > room) base.max_tokens = base.max_tokens == 0 ? 0 : room;
  base.prompt = prompt_;

  choices_.resize(spec_.n);
  remaining_ = spec_.n;
  auto self = shared_from_this();
  // on_ready is posted before any submit so it precedes every token on the strand.
  resp_->post([self] {
    if (!self->finished_) self->sink_->on_ready(*self);
  });
  ctx_.metrics.counter("mlxr_prompt_tokens_total", "Prompt tokens submitted").inc(prompt_.size() * spec_.n);
  auto* ttft = &ctx_.metrics.histogram("mlxr_ttft_seconds", "Time from request to first token");
  auto* itl = &ctx_.metrics.histogram("mlxr_itl_seconds", "Time between consecutive tokens of a sequence");
  auto* gen_tokens = &ctx_.metrics.counter("mlxr_generated_tokens_total", "Tokens generated");
  for (int i = 0; i < spec_.n; ++i) {
    GenRequest g = base;
    if (g.sampling.seed && i > 0) g.sampling.seed = *g.sampling.seed + static_cast<uint64_t>(i);
    auto last = std::make_shared<Clock::time_point>();
    GenCallbacks cb;
    cb.on_token = [self, i, last, ttft, itl, gen_tokens](const GenToken& t) {
      if (self->cancelled_) return false;
      auto now = Clock::now();
      if (*last == Clock::time_point()) ttft->observe(std::chrono::duration<double>(now - self->t0_).count());
      else itl->observe(std::chrono::duration<double>(now - *last).count());
      *last = now;
      gen_tokens->inc();
      self->resp_->post([self, i, t] {
        if (self->finished_) return;
        Choice& c = self->choices_[i];
        c.text += t.text;
        c.ids.push_back(t.id);
        if (self->spec_.logprobs) c.tokens.push_back(t);
        self->sink_->on_token(*self, i, t);
      });
      return true;
    };
    cb.on_done = [self, i](const GenResult& r) {
      self->resp_->post([self, i, r] {
        if (self->finished_) return;
        Choice& c = self->choices_[i];
        c.done = true;
        c.result = r;
        if (!r.trailing_text.empty()) {
          c.text += r.trailing_text;
          GenToken t;
          t.text = r.trailing_text;
          self->sink_->on_token(*self, i, t);
        }
        if (r.reason == GenFinish::kError) {
          self->finished_ = true;
          self->sink_->on_error(*self, 500, "generation failed: " + r.error);
          self->lease_.reset();
          return;
        }
        self->sink_->on_done(*self, i);
        if (--self->remaining_ == 0) {
          self->finished_ = true;
          int completion = 0;
          for (auto& ch : self->choices_) completion += static_cast<int>(ch.ids.size());
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - self->t0_).count();
          self->ctx_.logs.log(telemetry::LogLevel::kDebug, "generation finished",
                              {{"model", self->record_.name}, {"prompt_tokens", self->prompt_.size()},
                               {"completion_tokens", completion}, {"n", self->spec_.n}, {"finish", finish_name(r.reason)},
                               {"load_ms", self->load_ms_}, {"ttft_ms", r.ttft_ms}, {"total_ms", ms}});
          self->sink_->on_finished(*self);
          self->lease_.reset();
        }
      });
    };
    auto id = model_->submit(std::move(g), std::move(cb));
    if (!id) {
      cancel_all();
      return fail(400, id.error());
    }
    {
      std::lock_guard<std::mutex> lk(ids_mu_);
      ids_.push_back(*id);
      choices_[i].id = *id;
    }
    if (cancelled_) model_->cancel(*id);
  }
}

}  // namespace mlxr::server
