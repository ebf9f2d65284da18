// The worker loop: drain submissions/cancels, plan a step, run the model once for the whole
// ragged batch, sample each sequence, stream tokens, retire finished requests. Everything that
// touches the model or the scheduler runs on the worker thread; other threads only enqueue.
#include "daemon/scheduler/engine.h"

#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/runtime/step_sampler.h"
#include "daemon/scheduler/policy.h"
#include "daemon/scheduler/request_stream.h"

namespace mlxr {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "error";
}

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
// Embedding sequences borrow KV blocks under ids no request can have.
constexpr uint64_t kEmbedSeqId = ~0ull;
}  // namespace

struct Engine::Impl {
  struct Incoming {
    uint64_t id;
    GenerateRequest req;
    RequestCallbacks cb;
    Clock::time_point submitted;
  };
  struct EmbedJob {
    std::vector<int32_t> tokens;
    Pooling pooling;
    std::promise<Expected<std::vector<float>>> result;
  };

  std::unique_ptr<ModelRunner> runner;
  EngineOptions opts;
  SchedulerConfig sched_cfg;
  std::optional<Scheduler> sched;  // worker thread only

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Incoming> incoming;
  std::vector<uint64_t> cancels;
  std::deque<std::shared_ptr<EmbedJob>> embeds;
  bool stopping = false;
  uint64_t next_id = 1;
  EngineStats stats;  // published by the worker after each step, under mu
  std::thread worker;

  // Worker-only state.
  std::unordered_map<uint64_t, std::unique_ptr<RequestStream>> live;
  std::optional<StepSampler> sampler;  // holds backend host memory: declared after runner, freed first
  uint64_t steps = 0, tokens_generated = 0, prompt_tokens_processed = 0;
  double forward_s = 0, sample_s = 0, schedule_s = 0;

  void run();
  void admit(std::deque<Incoming>& in);
  void end(uint64_t id, FinishReason reason, std::string error = "");
  void step();
  void run_embed(EmbedJob& job);
  Expected<std::vector<float>> embed_now(const std::vector<int32_t>& tokens, Pooling pooling);
  void publish_stats(const StepPlan* plan);
};

void Engine::Impl::run() {
  while (true) {
    std::deque<Incoming> in;
    std::vector<uint64_t> cancel;
    std::deque<std::shared_ptr<EmbedJob>> emb;
    bool stop;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return stopping || !incoming.empty() || !cancels.empty() || !embeds.empty() || !sched->idle(); });
      in.swap(incoming);
      cancel.swap(cancels);
      emb.swap(embeds);
      stop = stopping;
    }
    admit(in);
    for (uint64_t id : cancel) end(id, FinishReason::kCancelled);
    for (auto& job : emb) {
      if (stop) job->result.set_value(make_error("engine: shut down"));
      else run_embed(*job);
    }
    if (stop) {
      std::vector<uint64_t> ids;
      for (auto& [id, s] : live) ids.push_back(id);
      for (uint64_t id : ids) end(id, FinishReason::kCancelled);
      publish_stats(nullptr);
      return;
    }
    if (!sched->idle()) step();
    publish_stats(nullptr);
  }
}

void Engine::Impl::admit(std::deque<Incoming>& in) {
  for (Incoming& r : in) {
    SeqSpec spec;
    spec.id = r.id;
    spec.prompt = r.req.prompt;
    spec.priority = r.req.priority;
    spec.max_tokens = r.req.max_tokens;
    spec.cache_namespace = r.req.cache_namespace;
    if (!r.req.ignore_eos) spec.stop_token_ids = runner->tokenizer().eog_ids();
    auto stream = std::make_unique<RequestStream>(std::move(r.req), std::move(r.cb), runner->tokenizer(), r.submitted);
    Status st = sched->add(std::move(spec));
    if (!st) {
      stream->finish(FinishReason::kError, st.message());
      continue;
    }
    live.emplace(r.id, std::move(stream));
  }
}

void Engine::Impl::end(uint64_t id, FinishReason reason, std::string error) {
  auto it = live.find(id);
  if (it == live.end()) return;  // finished already, or never admitted
  sched->finish(id);
  std::unique_ptr<RequestStream> s = std::move(it->second);
  live.erase(it);
  publish_stats(nullptr);  // so a caller woken by on_done sees its blocks returned
  s->finish(reason, std::move(error));
}

void Engine::Impl::step() {
  const auto t_start = Clock::now();
  StepPlan plan = sched->plan();
  if (plan.empty()) return;
  const auto t_sched = Clock::now();
  for (const ScheduledSeq& sc : plan.seqs) {
    if (!sc.first_time) continue;
    const SeqState* st = sched->get(sc.id);
    live.at(sc.id)->on_scheduled(t_sched, st ? st->n_cached_prompt : 0);
  }
  Backend& be = runner->backend();
  for (const BlockCopy& c : plan.kv_copies) be.kv_copy_block(c.src, c.dst);
  const int n_vocab = runner->hparams().n_vocab;
  const auto t_fwd = Clock::now();
  Expected<const float*> logits = runner->model().forward_logits(plan.batch);
  if (logits) be.sync();  // the GPU's share of the step counts as forward time, not sampling
  const auto t_fwd_end = Clock::now();
  forward_s += seconds(t_fwd, t_fwd_end);

  std::vector<SampleResult> results;
  Status st = logits.status();
  if (st) {
    std::vector<StepSampler::Row> rows(plan.batch.output_rows.size());
    for (const ScheduledSeq& sc : plan.seqs) {
      if (sc.output_row < 0) continue;
      rows[sc.output_row] = {&live.at(sc.id)->sampler(), sched->get(sc.id)->tokens};
    }
    st = sampler->sample(*logits, n_vocab, rows, results);
  }
  const auto t_tok = Clock::now();
  sample_s += seconds(t_fwd_end, t_tok);
  if (!st) {
    // The arena may now hold partial K/V of these sequences: fail them and forget cached prefixes.
    for (const ScheduledSeq& sc : plan.seqs) end(sc.id, FinishReason::kError, st.message());
    sched->kv().clear_cache();
    return;
  }
  ++steps;
  prompt_tokens_processed += plan.n_prefill_tokens;
  std::vector<int32_t> sampled(results.size(), -1);
  for (size_t i = 0; i < results.size(); ++i) sampled[i] = results[i].token;
  const std::vector<SeqEvent> events = sched->update(plan, sampled);
  size_t ev_i = 0;
  for (const ScheduledSeq& sc : plan.seqs) {
    if (sc.output_row < 0) continue;
    // update() reports sampling sequences in plan order.
    if (ev_i >= events.size() || events[ev_i].id != sc.id) continue;
    const SeqEvent& ev = events[ev_i++];
    auto it = live.find(ev.id);
    if (it == live.end()) continue;
    if (ev.finish == SeqFinish::kStopToken) {  // end of generation: not streamed
      end(ev.id, FinishReason::kStop);
      continue;
    }
    ++tokens_generated;
    std::optional<FinishReason> why = it->second->on_token(results[sc.output_row], t_tok);
    if (!why && ev.finish != SeqFinish::kNone) why = FinishReason::kLength;
    if (why) end(ev.id, *why);
  }
  schedule_s += seconds(t_start, Clock::now()) - seconds(t_fwd, t_tok);
  publish_stats(&plan);
}

void Engine::Impl::publish_stats(const StepPlan* plan) {
  std::lock_guard<std::mutex> lock(mu);
  const BlockPool& pool = sched->kv().pool();
  stats.preempted = sched->n_preempted();
  stats.waiting = sched->n_waiting() - stats.preempted;
  stats.running = sched->n_running();
  stats.kv_blocks_total = pool.n_total();
  stats.kv_blocks_used = pool.n_used();
  stats.kv_blocks_cached = pool.n_cached();
  stats.kv_blocks_free = pool.n_free();
  stats.prefix_hit_tokens = sched->prefix_hit_tokens();
  stats.prefix_query_tokens = sched->prefix_query_tokens();
  stats.steps = steps;
  stats.preemptions = sched->n_preemptions();
  stats.tokens_generated = tokens_generated;
  stats.prompt_tokens_processed = prompt_tokens_processed;
  stats.forward_s = forward_s;
  stats.sample_s = sample_s;
  stats.schedule_s = schedule_s;
  if (plan) {
    stats.last_batch_tokens = plan->batch.n_tokens();
    stats.last_batch_seqs = plan->batch.n_seqs();
  }
}

void Engine::Impl::run_embed(EmbedJob& job) { job.result.set_value(embed_now(job.tokens, job.pooling)); }

Expected<std::vector<float>> Engine::Impl::embed_now(const std::vector<int32_t>& tokens, Pooling pooling) {
  const int n = static_cast<int>(tokens.size());
  KVCacheManager& kv = sched->kv();
  // Running sequences give their blocks back (and recompute later) if the arena is short.
  while (!kv.allocate(kEmbedSeqId, 0, n, nullptr, nullptr))
    if (!sched->preempt_one()) return make_error("engine: not enough KV blocks to embed " + std::to_string(n) + " tokens");
  const int n_embd = runner->hparams().n_embd;
  std::vector<double> acc(static_cast<size_t>(n_embd), 0.0);
  std::vector<float> hidden;
  const auto& table = kv.block_table(kEmbedSeqId);
  Status st;
  for (int start = 0; start < n && st; start += opts.max_batch_tokens) {
    const int len = std::min(opts.max_batch_tokens, n - start);
    Batch b;
    b.block_tables.emplace_back(table.begin(), table.end());
    b.seq_lens.push_back(start + len);
    for (int i = 0; i < len; ++i) {
      b.tokens.push_back(tokens[start + i]);
      b.positions.push_back(start + i);
      b.seq_of.push_back(0);
      if (pooling == Pooling::kMean) b.output_rows.push_back(i);
    }
    if (pooling == Pooling::kLast) b.output_rows.push_back(len - 1);
    hidden.resize(b.output_rows.size() * static_cast<size_t>(n_embd));
    st = runner->model().hidden_states(b, hidden.data());
    if (!st) break;
    if (pooling == Pooling::kLast) {
      if (start + len == n)
        for (int j = 0; j < n_embd; ++j) acc[j] = hidden[j];
    } else {
      for (size_t r = 0; r < b.output_rows.size(); ++r)
        for (int j = 0; j < n_embd; ++j) acc[j] += hidden[r * n_embd + j];
    }
  }
  kv.free(kEmbedSeqId);
  if (!st) return make_error(st.message());
  if (pooling == Pooling::kMean)
    for (double& v : acc) v /= n;
  double norm = 0;
  for (double v : acc) norm += v * v;
  norm = std::sqrt(norm);
  std::vector<float> out(static_cast<size_t>(n_embd));
  for (int j = 0; j < n_embd; ++j) out[j] = static_cast<float>(norm > 0 ? acc[j] / norm : 0.0);
  return out;
}

// ---- public API -------------------------------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { shutdown(); }

Expected<std::unique_ptr<Engine>> Engine::create(const std::string& model_path, const EngineOptions& opts) {
  if (opts.max_batch_tokens <= 0) return make_error("engine: max_batch_tokens must be positive");
  if (opts.max_running <= 0) return make_error("engine: max_running must be positive");
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  RunnerOptions ro = opts.runner;
  // Paged KV: sequences hold only the blocks they use, so an arena of a few full contexts
  // serves many concurrent requests; size it explicitly with kv_blocks for more.
  if (ro.kv_blocks <= 0 && ro.max_seqs <= 1) ro.max_seqs = 4;
  MLXR_ASSIGN_OR_RETURN(impl->runner, ModelRunner::create(model_path, ro));
  impl->sampler.emplace(impl->runner->backend());
  const KVLayout& kvl = impl->runner->kv_layout();
  SchedulerConfig& c = impl->sched_cfg;
  c.n_blocks = kvl.n_blocks;
  c.block_size = kvl.block_size;
  c.max_batch_tokens = opts.max_batch_tokens;
  c.max_running = opts.max_running;
  c.max_model_len = impl->runner->n_ctx();
  c.prefix_cache = opts.prefix_cache;
  MLXR_ASSIGN_OR_RETURN(Scheduler s, Scheduler::create(c));
  impl->sched.emplace(std::move(s));
  impl->publish_stats(nullptr);
  Impl* p = impl.get();
  impl->worker = std::thread([p] { p->run(); });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Expected<uint64_t> Engine::submit(GenerateRequest req, RequestCallbacks cb) {
  const int n_vocab = impl_->runner->hparams().n_vocab;
  for (size_t i = 0; i < req.prompt.size(); ++i)
    if (req.prompt[i] < 0 || req.prompt[i] >= n_vocab)
      return make_error("engine: prompt token " + std::to_string(i) + " is " + std::to_string(req.prompt[i]) +
                        ", outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
  MLXR_RETURN_IF_ERROR(Sampler::validate(req.sampling));
  SeqSpec probe;
  probe.prompt = req.prompt;
  probe.max_tokens = req.max_tokens;
  MLXR_RETURN_IF_ERROR(Scheduler::admission_error(impl_->sched_cfg, probe));
  for (const std::string& s : req.stop)
    if (s.empty()) return make_error("engine: stop strings must not be empty");
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopping) return make_error("engine: shut down");
  const uint64_t id = impl_->next_id++;
  impl_->incoming.push_back({id, std::move(req), std::move(cb), Clock::now()});
  impl_->cv.notify_one();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->cancels.push_back(id);
  impl_->cv.notify_one();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Expected<std::vector<float>> Engine::embed(const std::vector<int32_t>& tokens, Pooling pooling) {
  if (tokens.empty()) return make_error("engine: nothing to embed (no tokens)");
  const int n_vocab = impl_->runner->hparams().n_vocab;
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab) return make_error("engine: token " + std::to_string(t) + " is outside the vocabulary");
  const int cap = std::min(impl_->sched_cfg.max_model_len, impl_->sched_cfg.n_blocks * impl_->sched_cfg.block_size);
  if (static_cast<int>(tokens.size()) > cap)
    return make_error("engine: " + std::to_string(tokens.size()) + " tokens to embed but the context holds " + std::to_string(cap));
  if (std::this_thread::get_id() == impl_->worker.get_id())
    return make_error("engine: embed() called from a request callback (the worker thread)");
  auto job = std::make_shared<Impl::EmbedJob>();
  job->tokens = tokens;
  job->pooling = pooling;
  auto fut = job->result.get_future();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return make_error("engine: shut down");
    impl_->embeds.push_back(job);
    impl_->cv.notify_one();
  }
  return fut.get();
}

const Tokenizer& Engine::tokenizer() const { return impl_->runner->tokenizer(); }
const ModelHParams& Engine::hparams() const { return impl_->runner->hparams(); }
const ModelFile& Engine::file() const { return impl_->runner->file(); }
int Engine::n_ctx() const { return impl_->runner->n_ctx(); }

void Engine::shutdown() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_one();
  }
  if (impl_->worker.joinable()) impl_->worker.join();
}

}  // namespace mlxr
