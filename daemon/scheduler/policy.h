// The continuous-batching policy, without a model: requests, queues, KV blocks -> the next Batch.
// One accounting rule (vLLM v1): each sequence has `tokens` (prompt + generated) and
// `n_computed` (tokens whose K/V are in the cache). A step computes some of the missing ones;
// prefill, chunked prefill, decode and recompute after preemption are all "catching up".
// A sequence samples when a step brings n_computed up to tokens.size().
//
// Each step: (1) decodes of running sequences, in rank order; (2) prefill chunks of running
// sequences; (3) admission from the waiting queue (FCFS within priority; the head blocks the
// rest so large requests never starve), unless this step preempted. Rank = priority (higher
// first), then arrival. When blocks run out, the lowest-ranked running sequence not yet in this
// step is preempted: its blocks are freed and it waits to recompute (prefix hits make that cheap).
// Deterministic: the same calls give the same batches.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"
#include "core/kv/batch.h"
#include "core/kv/kv_cache_manager.h"

namespace mlxr {

struct SchedulerConfig {
  int n_blocks = 0;
  int block_size = 16;
  int max_batch_tokens = 512;  // tokens per step, decode + prefill
  int max_running = 64;
  int max_prefill_chunk = 0;   // max prefill tokens one sequence gets per step; 0: the budget
  int max_model_len = 0;       // context length (tokens per sequence)
  bool prefix_cache = true;
};

enum class SeqStatus { kWaiting, kRunning, kPreempted, kFinished };
enum class SeqFinish { kNone, kStopToken, kMaxTokens, kContextFull };

struct SeqSpec {
  uint64_t id = 0;
  std::vector<int32_t> prompt;
  int priority = 0;
  int max_tokens = -1;                  // -1: until the context is full
  std::vector<int32_t> stop_token_ids;  // sampled -> finished (the token is not kept)
  std::string cache_namespace;
};

struct SeqState {
  SeqSpec spec;
  std::vector<int32_t> tokens;  // prompt + generated
  int n_prompt = 0;
  int n_computed = 0;
  int n_cached_prompt = -1;     // prompt tokens served by the prefix cache at first admission
  int n_preemptions = 0;
  uint64_t arrival = 0;
  uint64_t ns_seed = 0;
  SeqStatus status = SeqStatus::kWaiting;
  int n_generated() const { return static_cast<int>(tokens.size()) - n_prompt; }
};

struct ScheduledSeq {
  uint64_t id = 0;
  int start = 0;         // first position computed this step (== n_computed before it)
  int n_tokens = 0;
  int output_row = -1;   // row of its logits in the step's output, -1: does not sample
  bool first_time = false;  // admitted from the waiting queue in this step
};

struct StepPlan {
  Batch batch;
  std::vector<ScheduledSeq> seqs;     // batch sequence i is seqs[i]
  std::vector<BlockCopy> kv_copies;   // do before the forward
  std::vector<uint64_t> preempted;    // freed in this step, will recompute
  int n_decode_tokens = 0, n_prefill_tokens = 0;
  bool empty() const { return seqs.empty(); }
};

struct SeqEvent {
  uint64_t id = 0;
  int32_t token = -1;   // sampled token
  SeqFinish finish = SeqFinish::kNone;
};

class Scheduler {
 public:
  static Expected<Scheduler> create(const SchedulerConfig& cfg);

  // Admission: errors for requests that can never run (empty prompt, no room to generate a
  // token within the context or within the whole KV arena, duplicate id).
  Status add(SeqSpec spec);
  // The checks add() makes that depend only on the config (no state): usable from any thread.
  static Status admission_error(const SchedulerConfig& cfg, const SeqSpec& spec);
  StepPlan plan();
  // Applies a step: n_computed advances, `sampled` (one per output row, in row order) is
  // appended, full blocks are registered in the prefix cache, finished sequences are freed.
  std::vector<SeqEvent> update(const StepPlan& plan, const std::vector<int32_t>& sampled);
  // Ends a sequence wherever it is (cancel, stop string); frees its blocks. False if unknown.
  bool finish(uint64_t id);
  // Frees the lowest-ranked running sequence (for callers that need blocks outside a step).
  bool preempt_one();

  const SeqState* get(uint64_t id) const;
  int n_waiting() const;    // includes preempted
  int n_preempted() const;
  int n_running() const { return static_cast<int>(running_.size()); }
  const std::vector<uint64_t>& running_ids() const { return running_; }  // rank order
  const std::vector<uint64_t>& waiting_ids() const { return waiting_; }  // rank order
  bool idle() const { return running_.empty() && waiting_.empty(); }
  const SchedulerConfig& config() const { return cfg_; }
  KVCacheManager& kv() { return kv_; }
  const KVCacheManager& kv() const { return kv_; }
  uint64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }
  uint64_t prefix_query_tokens() const { return prefix_query_tokens_; }
  uint64_t n_preemptions() const { return n_preemptions_; }
  // The longest sequence the arena can hold alone: min(max_model_len, blocks * block_size).
  int capacity_tokens() const;

 private:
  explicit Scheduler(const SchedulerConfig& cfg);
  bool ranks_before(uint64_t a, uint64_t b) const;
  void insert_sorted(std::vector<uint64_t>& q, uint64_t id);
  void preempt(uint64_t id, StepPlan& plan);
  bool try_schedule(SeqState& s, int n_new, bool admit, StepPlan& plan, std::vector<uint64_t>& in_step);
  void emit(SeqState& s, int n_new, bool admit, StepPlan& plan);

  SchedulerConfig cfg_;
  KVCacheManager kv_;
  std::unordered_map<uint64_t, SeqState> seqs_;
  std::vector<uint64_t> waiting_;  // rank order; preempted sequences are here too
  std::vector<uint64_t> running_;  // rank order
  uint64_t next_arrival_ = 0;
  uint64_t prefix_hit_tokens_ = 0, prefix_query_tokens_ = 0, n_preemptions_ = 0;
};

}  // namespace mlxr
