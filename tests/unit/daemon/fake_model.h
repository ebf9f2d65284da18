// A ModelInstance without a model, for testing the HTTP/JSON layers: "tokenises" bytes (id =
// byte + 1, BOS = 0), and generates the words "w0 w1 w2 ..." on its own worker thread, one per
// `step`, honouring max_tokens, cancel and shutdown exactly like the engine contract says.
#pragma once
#include <atomic>
#include <cmath>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "daemon/server/model_api.h"

namespace mlxr::test {

class FakeModel : public server::ModelInstance {
 public:
  explicit FakeModel(int n_ctx = 256, std::chrono::milliseconds step = std::chrono::milliseconds(2))
      : n_ctx_(n_ctx), step_(step), worker_([this] { run(); }) {}
  ~FakeModel() override { shutdown(); }

  Expected<uint64_t> submit(server::GenRequest r, server::GenCallbacks cb) override {
    if (r.prompt.empty()) return make_error("engine: empty prompt");
    if (static_cast<int>(r.prompt.size()) >= n_ctx_) return make_error("engine: prompt longer than the context");
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return make_error("engine: shut down");
    uint64_t id = next_++;
    Seq s;
    s.req = std::move(r);
    s.cb = std::move(cb);
    seqs_[id] = std::move(s);
    submitted++;
    cv_.notify_all();
    return id;
  }
  void cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lk(mu_);
    cancels_.insert(id);
    cancel_calls++;
    cv_.notify_all();
  }
  server::ModelStats stats() const override {
    std::lock_guard<std::mutex> lk(mu_);
    server::ModelStats s;
    s.running = static_cast<int>(seqs_.size());
    s.kv_blocks_total = 100;
    s.kv_blocks_used = static_cast<int>(seqs_.size());
    s.kv_blocks_free = 100 - s.kv_blocks_used;
    return s;
  }
  Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special) const override {
    std::vector<int32_t> out;
    if (add_special) out.push_back(0);
    for (unsigned char c : text) out.push_back(c + 1);
    return out;
  }
  std::string token_text(int32_t id) const override { return "w" + std::to_string(id); }
  std::string detokenize(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (auto i : ids) s += token_text(i) + " ";
    return s;
  }
  bool has_chat_template() const override { return true; }
  Expected<std::string> render_chat(const std::vector<server::ChatMessage>& m, const std::string& tmpl, bool gen) const override {
    if (tmpl == "broken") return make_error("template syntax error at 1:1");
    std::string s;
    for (auto& x : m) s += "<" + x.role + ">" + x.content;
    if (gen) s += "<assistant>";
    last_rendered = s;
    return s;
  }
  Expected<std::vector<float>> embed(const std::vector<int32_t>& t) override {
    // A deterministic unit vector from the token sum.
    double sum = 0;
    for (auto x : t) sum += x;
    std::vector<float> v = {static_cast<float>(std::cos(sum)), static_cast<float>(std::sin(sum)), 0.f};
    return v;
  }
  int n_ctx() const override { return n_ctx_; }
  uint64_t memory_bytes() const override { return 12345; }
  bool on_gpu() const override { return false; }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
    shutdowns++;
  }

  std::atomic<int> submitted{0}, cancel_calls{0}, cancelled_done{0}, shutdowns{0};
  mutable std::string last_rendered;
  std::vector<int32_t> last_prompt;

 private:
  struct Seq {
    server::GenRequest req;
    server::GenCallbacks cb;
    int produced = 0;
  };
  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_.wait_for(lk, step_, [&] { return stopping_ || !cancels_.empty(); });
      std::vector<std::pair<server::GenCallbacks, server::GenResult>> done;
      std::vector<std::tuple<uint64_t, server::GenCallbacks*, server::GenToken>> toks;
      for (auto it = seqs_.begin(); it != seqs_.end();) {
        Seq& s = it->second;
        server::GenResult r;
        r.prompt_tokens = static_cast<int>(s.req.prompt.size());
        r.completion_tokens = s.produced;
        bool cancel = stopping_ || cancels_.count(it->first);
        bool full = s.req.max_tokens >= 0 && s.produced >= s.req.max_tokens;
        if (cancel || full) {
          r.reason = cancel ? server::GenFinish::kCancelled : server::GenFinish::kLength;
          if (cancel) cancelled_done++;
          done.emplace_back(std::move(s.cb), r);
          it = seqs_.erase(it);
          continue;
        }
        ++it;
      }
      cancels_.clear();
      // Produce one token per live sequence, outside the lock.
      std::vector<uint64_t> ids;
      for (auto& [id, s] : seqs_) ids.push_back(id);
      lk.unlock();
      for (auto& [cb, r] : done) cb.on_done(r);
      for (auto id : ids) {
        Seq* s;
        {
          std::lock_guard<std::mutex> g(mu_);
          auto it = seqs_.find(id);
          if (it == seqs_.end()) continue;
          s = &it->second;
        }
        server::GenToken t;
        t.id = 1000 + s->produced;
        t.text = "w" + std::to_string(s->produced) + " ";
        t.logprob = -0.5f;
        if (s->req.sampling.top_logprobs > 0) t.top_logprobs = {{t.id, -0.5f}, {7, -1.5f}};
        bool keep = s->cb.on_token(t);
        std::lock_guard<std::mutex> g(mu_);
        s->produced++;
        if (!keep) cancels_.insert(id);
      }
      lk.lock();
      if (stopping_ && seqs_.empty()) break;
    }
  }

  int n_ctx_;
  std::chrono::milliseconds step_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Seq> seqs_;
  std::set<uint64_t> cancels_;
  uint64_t next_ = 1;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace mlxr::test
