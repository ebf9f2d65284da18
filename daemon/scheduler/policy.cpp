#include "daemon/scheduler/policy.h"

#include <algorithm>
#include <cassert>

#include "core/kv/block_hash.h"

namespace mlxr {

Expected<Scheduler> Scheduler::create(const SchedulerConfig& cfg) {
  if (cfg.n_blocks <= 0) return make_error("scheduler: the KV arena has no blocks");
  if (cfg.block_size <= 0) return make_error("scheduler: block_size must be positive");
  if (cfg.max_model_len <= 1) return make_error("scheduler: max_model_len must be at least 2");
  if (cfg.max_batch_tokens <= 0) return make_error("scheduler: max_batch_tokens must be positive");
  if (cfg.max_running <= 0) return make_error("scheduler: max_running must be positive");
  if (cfg.max_prefill_chunk < 0) return make_error("scheduler: max_prefill_chunk must be >= 0");
  return Scheduler(cfg);
}

Scheduler::Scheduler(const SchedulerConfig& cfg)
    : cfg_(cfg), kv_(cfg.n_blocks, cfg.block_size, cfg.prefix_cache) {
  // Every running sequence needs a decode token per step; more running than the budget would
  // leave the last ones out of every step.
  cfg_.max_running = std::min(cfg_.max_running, cfg_.max_batch_tokens);
}

int Scheduler::capacity_tokens() const {
  return std::min(cfg_.max_model_len, cfg_.n_blocks * cfg_.block_size);
}

Status Scheduler::admission_error(const SchedulerConfig& cfg, const SeqSpec& spec) {
  const int n = static_cast<int>(spec.prompt.size());
  if (n == 0) return Status::error("scheduler: the prompt is empty");
  if (spec.max_tokens == 0 || spec.max_tokens < -1)
    return Status::error("scheduler: max_tokens must be positive or -1 (until the context is full), got " +
                         std::to_string(spec.max_tokens));
  if (n >= cfg.max_model_len)
    return Status::error("scheduler: the prompt has " + std::to_string(n) + " tokens but the context holds " +
                         std::to_string(cfg.max_model_len) + " (one must be left to generate); shorten it or raise n_ctx");
  if (n >= cfg.n_blocks * cfg.block_size)
    return Status::error("scheduler: the prompt needs " + std::to_string((n + cfg.block_size) / cfg.block_size) +
                         " KV blocks of " + std::to_string(cfg.block_size) + " tokens but the whole arena has " +
                         std::to_string(cfg.n_blocks) + "; raise kv_blocks or shorten the prompt");
  return Status::ok();
}

Status Scheduler::add(SeqSpec spec) {
  MLXR_RETURN_IF_ERROR(admission_error(cfg_, spec));
  if (seqs_.count(spec.id)) return Status::error("scheduler: request id " + std::to_string(spec.id) + " is already queued");
  const int n = static_cast<int>(spec.prompt.size());
  SeqState s;
  s.tokens = spec.prompt;
  s.n_prompt = n;
  s.arrival = next_arrival_++;
  s.ns_seed = prefix_namespace_seed(spec.cache_namespace);
  s.spec = std::move(spec);
  const uint64_t id = s.spec.id;
  seqs_.emplace(id, std::move(s));
  insert_sorted(waiting_, id);
  return Status::ok();
}

bool Scheduler::ranks_before(uint64_t a, uint64_t b) const {
  const SeqState& x = seqs_.at(a);
  const SeqState& y = seqs_.at(b);
  if (x.spec.priority != y.spec.priority) return x.spec.priority > y.spec.priority;
  return x.arrival < y.arrival;
}

void Scheduler::insert_sorted(std::vector<uint64_t>& q, uint64_t id) {
  auto pos = std::upper_bound(q.begin(), q.end(), id, [&](uint64_t a, uint64_t b) { return ranks_before(a, b); });
  q.insert(pos, id);
}

void Scheduler::preempt(uint64_t id, StepPlan& plan) {
  SeqState& s = seqs_.at(id);
  kv_.free(id);
  s.n_computed = 0;
  s.status = SeqStatus::kPreempted;
  ++s.n_preemptions;
  ++n_preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), id));
  insert_sorted(waiting_, id);
  plan.preempted.push_back(id);
}

bool Scheduler::preempt_one() {
  if (running_.empty()) return false;
  StepPlan unused;
  preempt(running_.back(), unused);
  return true;
}

// Allocates blocks for n_new tokens of a running sequence, preempting lower-ranked sequences
// that are not in this step while blocks are short. False when s itself had to go.
bool Scheduler::try_schedule(SeqState& s, int n_new, bool admit, StepPlan& plan, std::vector<uint64_t>& in_step) {
  const uint64_t id = s.spec.id;
  while (!kv_.allocate(id, s.n_computed, s.n_computed + n_new, nullptr, &plan.kv_copies)) {
    uint64_t victim = id;
    for (auto it = running_.rbegin(); it != running_.rend(); ++it)
      if (std::find(in_step.begin(), in_step.end(), *it) == in_step.end()) {
        victim = *it;
        break;
      }
    preempt(victim, plan);
    if (victim == id) return false;
  }
  in_step.push_back(id);
  emit(s, n_new, admit, plan);
  return true;
}

void Scheduler::emit(SeqState& s, int n_new, bool admit, StepPlan& plan) {
  Batch& b = plan.batch;
  const int seq_index = b.n_seqs();
  ScheduledSeq sc;
  sc.id = s.spec.id;
  sc.start = s.n_computed;
  sc.n_tokens = n_new;
  sc.first_time = admit;
  for (int j = 0; j < n_new; ++j) {
    b.tokens.push_back(s.tokens[sc.start + j]);
    b.positions.push_back(sc.start + j);
    b.seq_of.push_back(seq_index);
  }
  const std::vector<int>& table = kv_.block_table(sc.id);
  b.block_tables.emplace_back(table.begin(), table.end());
  b.seq_lens.push_back(sc.start + n_new);
  if (sc.start + n_new == static_cast<int>(s.tokens.size())) {
    sc.output_row = static_cast<int>(b.output_rows.size());
    b.output_rows.push_back(b.n_tokens() - 1);
  }
  if (sc.start >= s.n_prompt && n_new == 1) plan.n_decode_tokens += 1; else plan.n_prefill_tokens += n_new;
  plan.seqs.push_back(sc);
}

StepPlan Scheduler::plan() {
  StepPlan plan;
  int budget = cfg_.max_batch_tokens;
  const int chunk_cap = cfg_.max_prefill_chunk > 0 ? cfg_.max_prefill_chunk : cfg_.max_batch_tokens;
  std::vector<uint64_t> in_step;

  // (1) decodes, then (2) prefill chunks of running sequences, each in rank order.
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<uint64_t> order = running_;
    for (uint64_t id : order) {
      if (budget == 0) break;
      if (std::find(running_.begin(), running_.end(), id) == running_.end()) continue;  // preempted
      SeqState& s = seqs_.at(id);
      const int remaining = static_cast<int>(s.tokens.size()) - s.n_computed;
      assert(remaining >= 1);
      if ((pass == 0) != (remaining == 1)) continue;
      const int n_new = std::min({remaining, budget, chunk_cap});
      if (try_schedule(s, n_new, false, plan, in_step)) budget -= n_new;
    }
  }

  // (3) admission, only when nothing had to be preempted (blocks are short already).
  if (!plan.preempted.empty()) return plan;
  while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < cfg_.max_running) {
    const uint64_t id = waiting_.front();
    SeqState& s = seqs_.at(id);
    const int n_tok = static_cast<int>(s.tokens.size());
    KVCacheManager::PrefixHit hit = kv_.find_prefix(s.tokens, n_tok - 1, s.ns_seed);
    const int n_new = std::min({n_tok - hit.n_tokens, budget, chunk_cap});
    if (!kv_.allocate(id, hit.n_tokens, hit.n_tokens + n_new, &hit, &plan.kv_copies)) break;  // FCFS: no skipping
    if (s.n_cached_prompt < 0) {
      s.n_cached_prompt = std::min(hit.n_tokens, s.n_prompt);
      prefix_hit_tokens_ += s.n_cached_prompt;
      prefix_query_tokens_ += s.n_prompt;
    }
    s.n_computed = hit.n_tokens;
    s.status = SeqStatus::kRunning;
    waiting_.erase(waiting_.begin());
    insert_sorted(running_, id);
    in_step.push_back(id);
    emit(s, n_new, true, plan);
    budget -= n_new;
  }
  return plan;
}

std::vector<SeqEvent> Scheduler::update(const StepPlan& plan, const std::vector<int32_t>& sampled) {
  std::vector<SeqEvent> events;
  for (const ScheduledSeq& sc : plan.seqs) {
    auto it = seqs_.find(sc.id);
    if (it == seqs_.end() || it->second.status != SeqStatus::kRunning) continue;  // finished meanwhile
    SeqState& s = it->second;
    assert(s.n_computed == sc.start);
    s.n_computed += sc.n_tokens;
    if (sc.output_row < 0) {
      kv_.cache_full_blocks(sc.id, s.tokens, s.n_computed, s.ns_seed);
      continue;
    }
    SeqEvent ev;
    ev.id = sc.id;
    ev.token = sampled.at(sc.output_row);
    const auto& stops = s.spec.stop_token_ids;
    if (std::find(stops.begin(), stops.end(), ev.token) != stops.end()) {
      ev.finish = SeqFinish::kStopToken;
    } else {
      s.tokens.push_back(ev.token);
      if (s.spec.max_tokens > 0 && s.n_generated() >= s.spec.max_tokens) ev.finish = SeqFinish::kMaxTokens;
      else if (static_cast<int>(s.tokens.size()) >= capacity_tokens()) ev.finish = SeqFinish::kContextFull;
    }
    kv_.cache_full_blocks(sc.id, s.tokens, s.n_computed, s.ns_seed);
    events.push_back(ev);
    if (ev.finish != SeqFinish::kNone) finish(sc.id);
  }
  return events;
}

bool Scheduler::finish(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  auto drop = [id](std::vector<uint64_t>& q) {
    auto p = std::find(q.begin(), q.end(), id);
    if (p != q.end()) q.erase(p);
  };
  drop(waiting_);
  drop(running_);
  kv_.free(id);
  seqs_.erase(it);
  return true;
}

const SeqState* Scheduler::get(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : &it->second;
}

int Scheduler::n_waiting() const { return static_cast<int>(waiting_.size()); }

int Scheduler::n_preempted() const {
  int n = 0;
  for (uint64_t id : waiting_) n += seqs_.at(id).status == SeqStatus::kPreempted;
  return n;
}

}  // namespace mlxr
