// ModelInstance over mlxr::Engine. Compiled for real when the engine exists (MLXR_HAVE_ENGINE);
// otherwise engine_loader() reports that the engine is not part of this build.
#include "daemon/server/model_api.h"

#ifdef MLXR_HAVE_ENGINE
#include "daemon/scheduler/engine.h"
#if __has_include("core/tokenizer/chat_template.h")
#include "core/tokenizer/chat_template.h"
#define MLXR_HAVE_CHAT_TEMPLATE 1
#endif
#endif

namespace mlxr::server {

#ifndef MLXR_HAVE_ENGINE
bool engine_available() { return false; }
ModelLoader engine_loader() {
  return [](const LoadSpec& s) -> Expected<std::shared_ptr<ModelInstance>> {
    return make_error("cannot load " + s.path + ": this build has no inference engine (daemon/scheduler/engine.cpp)");
  };
}
#else

namespace {

GenFinish to_finish(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return GenFinish::kStop;
    case FinishReason::kLength: return GenFinish::kLength;
    case FinishReason::kCancelled: return GenFinish::kCancelled;
    case FinishReason::kError: return GenFinish::kError;
  }
  return GenFinish::kError;
}

// ChatML: what llama-server falls back to for models without a template (stories260K).
std::string render_chatml(const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
  std::string s;
  for (auto& m : msgs) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) s += "<|im_start|>assistant\n";
  return s;
}

class EngineModel : public ModelInstance {
 public:
  EngineModel(std::unique_ptr<Engine> e, LoadSpec spec) : e_(std::move(e)), spec_(std::move(spec)) {}
  ~EngineModel() override { e_->shutdown(); }

  Expected<uint64_t> submit(GenRequest r, GenCallbacks cb) override {
    GenerateRequest g;
    g.prompt = std::move(r.prompt);
    g.sampling = r.sampling;
    g.max_tokens = r.max_tokens;
    g.stop = std::move(r.stop);
    g.ignore_eos = r.ignore_eos;
    g.priority = r.priority;
    RequestCallbacks rc;
    rc.on_token = [f = std::move(cb.on_token)](const TokenOutput& t) {
      GenToken o;
      o.id = t.id;
      o.text = t.text;
      o.logprob = t.logprob;
      o.top_logprobs = t.top_logprobs;
      return f(o);
    };
    rc.on_done = [f = std::move(cb.on_done)](const RequestResult& r) {
      GenResult o;
      o.reason = to_finish(r.reason);
      o.error = r.error;
      o.trailing_text = r.trailing_text;
      o.prompt_tokens = r.prompt_tokens;
      o.completion_tokens = r.completion_tokens;
      o.cached_prompt_tokens = r.cached_prompt_tokens;
      o.queue_ms = r.queue_ms;
      o.ttft_ms = r.ttft_ms;
      o.prefill_ms = r.prefill_ms;
      o.decode_ms = r.decode_ms;
      f(o);
    };
    return e_->submit(std::move(g), std::move(rc));
  }
  void cancel(uint64_t id) override { e_->cancel(id); }
  ModelStats stats() const override {
    EngineStats s = e_->stats();
    ModelStats o;
    o.waiting = s.waiting;
    o.running = s.running;
    o.kv_blocks_total = s.kv_blocks_total;
    o.kv_blocks_used = s.kv_blocks_used;
    o.kv_blocks_cached = s.kv_blocks_cached;
    o.kv_blocks_free = s.kv_blocks_free;
    o.tokens_generated = s.tokens_generated;
    o.prompt_tokens_processed = s.prompt_tokens_processed;
    o.steps = s.steps;
    o.last_batch_tokens = s.last_batch_tokens;
    o.last_batch_seqs = s.last_batch_seqs;
    return o;
  }
  Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special) const override {
    const Tokenizer& t = e_->tokenizer();
    // A rendered template that already starts with BOS text must not get a second BOS.
    std::string bos = t.bos_text();
    bool has_bos = !bos.empty() && text.rfind(bos, 0) == 0;
    return t.encode(text, add_special && !has_bos, true);
  }
  std::string token_text(int32_t id) const override { return e_->tokenizer().token_to_piece(id); }
  std::string detokenize(const std::vector<int32_t>& ids) const override { return e_->tokenizer().decode(ids); }
  bool has_chat_template() const override { return !e_->tokenizer().chat_template().empty(); }
  Expected<std::string> render_chat(const std::vector<ChatMessage>& msgs, const std::string& tmpl,
                                    bool add_generation_prompt) const override {
    std::string t = tmpl.empty() ? e_->tokenizer().chat_template() : tmpl;
    if (t.empty()) return render_chatml(msgs, add_generation_prompt);
#ifdef MLXR_HAVE_CHAT_TEMPLATE
    std::vector<mlxr::ChatMessage> cm;
    for (auto& m : msgs) {
      mlxr::ChatMessage c;
      c.role = m.role;
      c.content = m.content;
      if (m.extra.contains("name") && m.extra["name"].is_string()) c.name = m.extra["name"];
      if (m.extra.contains("tool_call_id") && m.extra["tool_call_id"].is_string()) c.tool_call_id = m.extra["tool_call_id"];
      if (m.extra.contains("tool_calls")) {
        auto j = Json::parse(m.extra["tool_calls"].dump());
        if (j) c.tool_calls = *j;
      }
      cm.push_back(std::move(c));
    }
    const Tokenizer& tok = e_->tokenizer();
    return mlxr::render_chat(t, cm, add_generation_prompt, tok.bos_text(), tok.eos_text());
#else
    return make_error("this build cannot render Jinja chat templates yet (core/tokenizer/chat_template.h)");
#endif
  }
  Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens) override {
    // Decoder LMs: last-token pooling carries the whole sequence; encoders would use mean.
    return e_->embed(tokens, Engine::Pooling::kLast);
  }
  int n_ctx() const override { return e_->n_ctx(); }
  uint64_t memory_bytes() const override {
    EngineStats s = e_->stats();
    const ModelHParams& h = e_->hparams();
    uint64_t kv = static_cast<uint64_t>(s.kv_blocks_total) * 16ull * h.n_layer * h.n_head_kv * h.head_dim * 2ull * 2ull;
    return e_->file().weight_bytes() + kv;
  }
  bool on_gpu() const override { return spec_.device == "cuda"; }
  void shutdown() override { e_->shutdown(); }

 private:
  std::unique_ptr<Engine> e_;
  LoadSpec spec_;
};

}  // namespace

bool engine_available() { return true; }

ModelLoader engine_loader() {
  return [](const LoadSpec& s) -> Expected<std::shared_ptr<ModelInstance>> {
    EngineOptions o;
    o.runner.device = s.device;
    o.runner.threads = s.threads;
    o.runner.n_ctx = s.n_ctx;
    o.runner.kv_blocks = s.kv_blocks;
    // Paged KV: sequences hold only the blocks they use, so a few full contexts' worth serves
    // many short requests; engine.kv_blocks sizes it explicitly for heavy concurrency.
    o.runner.max_seqs = 4;
    o.max_batch_tokens = s.max_batch_tokens;
    o.max_running = s.max_running;
    MLXR_ASSIGN_OR_RETURN(auto e, Engine::create(s.path, o));
    return std::shared_ptr<ModelInstance>(std::make_shared<EngineModel>(std::move(e), s));
  };
}
#endif

}  // namespace mlxr::server
