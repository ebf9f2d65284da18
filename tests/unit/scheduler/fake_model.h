// A model stand-in for policy tests: its "KV cache" stores token ids in an arena of blocks,
// written and read only through the batch's block tables. The next token is a hash of the
// sequence as read back from that arena, so any wrong block (bad sharing, a missed copy, a
// stale prefix hit, a wrong position) changes the output. The oracle computes the same
// function on the true token list, with no scheduler involved.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/scheduler/policy.h"

namespace mlxr::testing {

inline int32_t next_token(const std::vector<int32_t>& history, int vocab) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : history) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ull;
  h ^= h >> 29;
  return static_cast<int32_t>(h % static_cast<uint64_t>(vocab));
}

// Expected generation for a prompt when run alone with unlimited KV.
inline std::vector<int32_t> oracle(std::vector<int32_t> tokens, int max_tokens, int max_len, int vocab,
                                   const std::vector<int32_t>& stop = {}) {
  std::vector<int32_t> out;
  while (true) {
    int32_t t = next_token(tokens, vocab);
    if (std::find(stop.begin(), stop.end(), t) != stop.end()) break;
    out.push_back(t);
    tokens.push_back(t);
    if (max_tokens > 0 && static_cast<int>(out.size()) >= max_tokens) break;
    if (static_cast<int>(tokens.size()) >= max_len) break;
  }
  return out;
}

class FakeModel {
 public:
  FakeModel(int n_blocks, int block_size, int vocab)
      : bs_(block_size), vocab_(vocab), slots_(n_blocks, std::vector<int32_t>(block_size, -1)) {}

  // Runs one planned step; returns one sampled token per output row. Checks the batch shape.
  std::vector<int32_t> forward(const StepPlan& plan) {
    const Batch& b = plan.batch;
    EXPECT_EQ(b.positions.size(), b.tokens.size());
    EXPECT_EQ(b.seq_of.size(), b.tokens.size());
    EXPECT_EQ(static_cast<size_t>(b.n_seqs()), plan.seqs.size());
    EXPECT_EQ(b.seq_lens.size(), b.block_tables.size());
    for (auto c : plan.kv_copies) slots_[c.dst] = slots_[c.src];
    for (int i = 0; i < b.n_tokens(); ++i) {
      const int s = b.seq_of[i], p = b.positions[i];
      EXPECT_LT(p, b.seq_lens[s]);
      EXPECT_LT(p / bs_, static_cast<int>(b.block_tables[s].size())) << "position outside the block table";
      if (i > 0 && b.seq_of[i - 1] == s) {
        EXPECT_EQ(b.positions[i - 1] + 1, p);
      }
      slots_[b.block_tables[s][p / bs_]][p % bs_] = b.tokens[i];
    }
    std::vector<int32_t> out;
    for (int row : b.output_rows) {
      const int s = b.seq_of[row];
      EXPECT_EQ(b.positions[row] + 1, b.seq_lens[s]) << "output row is not the sequence's last token";
      std::vector<int32_t> hist(b.seq_lens[s]);
      for (int p = 0; p < b.seq_lens[s]; ++p) hist[p] = slots_[b.block_tables[s][p / bs_]][p % bs_];
      out.push_back(next_token(hist, vocab_));
    }
    ++steps;
    return out;
  }
  int steps = 0;

 private:
  int bs_, vocab_;
  std::vector<std::vector<int32_t>> slots_;
};

// Drives a Scheduler with a FakeModel and records what every sequence produced.
struct Sim {
  Scheduler sched;
  FakeModel model;
  int vocab;
  std::map<uint64_t, std::vector<int32_t>> outputs;
  std::map<uint64_t, SeqFinish> finished;
  std::map<uint64_t, int> first_step;  // step at which a sequence was first scheduled
  std::vector<uint64_t> preempted;     // in order
  int step = 0;

  Sim(const SchedulerConfig& cfg, int vocab_size = 997)
      : sched(std::move(Scheduler::create(cfg)).value()), model(cfg.n_blocks, cfg.block_size, vocab_size), vocab(vocab_size) {}

  // One step with the policy invariants checked; false when there was nothing to do.
  bool run_step() {
    const SchedulerConfig& cfg = sched.config();
    std::vector<uint64_t> decoders;
    for (uint64_t id : sched.running_ids()) {
      const SeqState* s = sched.get(id);
      if (static_cast<int>(s->tokens.size()) - s->n_computed == 1) decoders.push_back(id);
    }
    StepPlan plan = sched.plan();
    if (plan.empty()) return false;
    EXPECT_LE(plan.batch.n_tokens(), cfg.max_batch_tokens) << "token budget exceeded";
    EXPECT_LE(sched.n_running(), cfg.max_running) << "too many running";
    for (const ScheduledSeq& sc : plan.seqs) {
      const SeqState* s = sched.get(sc.id);
      EXPECT_EQ(s->status, SeqStatus::kRunning);
      if (!first_step.count(sc.id)) first_step[sc.id] = step;
      if (cfg.max_prefill_chunk > 0) {
        EXPECT_LE(sc.n_tokens, cfg.max_prefill_chunk);
      }
    }
    // Decode first: with prefill in the step, no decoder that is still running was left out.
    if (plan.n_prefill_tokens > 0) {
      for (uint64_t id : decoders) {
        if (std::find(plan.preempted.begin(), plan.preempted.end(), id) != plan.preempted.end()) continue;
        bool in = false;
        for (auto& sc : plan.seqs) in |= sc.id == id;
        EXPECT_TRUE(in) << "decode of " << id << " skipped while prefill ran";
      }
    }
    for (uint64_t id : plan.preempted) preempted.push_back(id);
    auto sampled = model.forward(plan);
    for (const SeqEvent& ev : sched.update(plan, sampled)) {
      auto& out = outputs[ev.id];
      if (ev.finish != SeqFinish::kStopToken) out.push_back(ev.token);
      if (ev.finish != SeqFinish::kNone) finished[ev.id] = ev.finish;
    }
    EXPECT_EQ(sched.kv().check(), "");
    ++step;
    return true;
  }

  int run(int max_steps = 100000) {
    int n = 0;
    while (!sched.idle() && n < max_steps) {
      if (!run_step()) {
        ADD_FAILURE() << "scheduler stalled with work left";
        break;
      }
      ++n;
    }
    return n;
  }

  // No sequence left and no block held: accounting back to zero.
  void expect_drained() {
    EXPECT_TRUE(sched.idle());
    EXPECT_EQ(sched.kv().n_seqs(), 0);
    EXPECT_EQ(sched.kv().pool().n_used(), 0);
    EXPECT_EQ(sched.kv().pool().n_free() + sched.kv().pool().n_cached(), sched.config().n_blocks);
    EXPECT_EQ(sched.kv().check(), "");
  }
};

inline std::vector<int32_t> make_prompt(int n, int seed, int vocab = 997) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = static_cast<int32_t>((seed * 7919 + i * 104729) % vocab);
  return t;
}

}  // namespace mlxr::testing
