#include "daemon/scheduler/policy.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/unit/scheduler/fake_model.h"

namespace mlxr {
namespace {

using testing::make_prompt;
using testing::oracle;
using testing::Sim;

SchedulerConfig cfg(int n_blocks, int budget, int max_running, int max_len = 512, int bs = 16) {
  SchedulerConfig c;
  c.n_blocks = n_blocks;
  c.block_size = bs;
  c.max_batch_tokens = budget;
  c.max_running = max_running;
  c.max_model_len = max_len;
  return c;
}

SeqSpec spec(uint64_t id, std::vector<int32_t> prompt, int max_tokens, int priority = 0) {
  SeqSpec s;
  s.id = id;
  s.prompt = std::move(prompt);
  s.max_tokens = max_tokens;
  s.priority = priority;
  return s;
}

void expect_oracle_outputs(const Sim& sim, const std::map<uint64_t, SeqSpec>& specs) {
  for (const auto& [id, sp] : specs) {
    auto want = oracle(sp.prompt, sp.max_tokens, sim.sched.capacity_tokens(), sim.vocab, sp.stop_token_ids);
    auto it = sim.outputs.find(id);
    ASSERT_NE(it, sim.outputs.end()) << "request " << id << " produced nothing";
    EXPECT_EQ(it->second, want) << "request " << id;
    EXPECT_TRUE(sim.finished.count(id)) << "request " << id << " never finished";
  }
}

TEST(SchedulerPolicy, RejectsRequestsThatCanNeverRun) {
  auto s = Scheduler::create(cfg(4, 64, 8, 100, 16));
  ASSERT_TRUE(s);
  EXPECT_NE(s->add(spec(1, {}, 4)).message().find("empty"), std::string::npos);
  EXPECT_NE(s->add(spec(2, make_prompt(100, 1), 4)).message().find("context holds 100"), std::string::npos);
  // 64 tokens of arena: a 64-token prompt leaves no room to generate.
  EXPECT_NE(s->add(spec(3, make_prompt(64, 1), 4)).message().find("raise kv_blocks"), std::string::npos);
  EXPECT_NE(s->add(spec(4, make_prompt(5, 1), 0)).message().find("max_tokens"), std::string::npos);
  EXPECT_TRUE(s->add(spec(5, make_prompt(63, 1), 4)));
  EXPECT_NE(s->add(spec(5, make_prompt(3, 1), 4)).message().find("already"), std::string::npos);
  EXPECT_FALSE(Scheduler::create(cfg(0, 64, 8)));
  EXPECT_FALSE(Scheduler::create(cfg(4, 0, 8)));
}

TEST(SchedulerPolicy, ManyRequestsRespectBudgetsAndMatchTheOracle) {
  Sim sim(cfg(64, 48, 6));
  std::map<uint64_t, SeqSpec> specs;
  std::mt19937 rng(3);
  for (uint64_t id = 1; id <= 20; ++id) {
    specs[id] = spec(id, make_prompt(1 + rng() % 90, static_cast<int>(id)), 1 + rng() % 40);
    ASSERT_TRUE(sim.sched.add(specs[id]));
  }
  sim.run();
  expect_oracle_outputs(sim, specs);
  for (auto& [id, f] : sim.finished) EXPECT_EQ(f, SeqFinish::kMaxTokens);
  sim.expect_drained();
}

TEST(SchedulerPolicy, LongPromptIsChunkedAndMixedWithDecodes) {
  auto c = cfg(64, 32, 4);
  Sim sim(c);
  std::map<uint64_t, SeqSpec> specs;
  specs[1] = spec(1, make_prompt(5, 1), 30);
  ASSERT_TRUE(sim.sched.add(specs[1]));
  sim.run_step();  // request 1 is decoding from now on
  specs[2] = spec(2, make_prompt(150, 2), 3);
  ASSERT_TRUE(sim.sched.add(specs[2]));
  int mixed = 0, chunks = 0;
  while (!sim.sched.idle()) {
    const SeqState* s2 = sim.sched.get(2);
    const int before = s2 ? s2->n_computed : 0;
    sim.run_step();
    s2 = sim.sched.get(2);
    if (s2 && s2->n_computed < s2->n_prompt) {
      ++chunks;
      EXPECT_LE(s2->n_computed - before, 31);  // one budget slot went to request 1's decode
      mixed += sim.sched.get(1) != nullptr;
    }
  }
  EXPECT_GE(chunks, 4);
  EXPECT_GE(mixed, 4);
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, MaxPrefillChunkCapsEachSequence) {
  auto c = cfg(64, 64, 4);
  c.max_prefill_chunk = 10;
  Sim sim(c);
  std::map<uint64_t, SeqSpec> specs;
  for (uint64_t id = 1; id <= 3; ++id) {
    specs[id] = spec(id, make_prompt(37, static_cast<int>(id)), 5);
    ASSERT_TRUE(sim.sched.add(specs[id]));
  }
  sim.run();  // the Sim checks n_tokens <= max_prefill_chunk for every scheduled sequence
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, FcfsAdmissionAndNoStarvationUnderSteadyArrivals) {
  // A large request arrives behind small ones and new small ones keep arriving: it must still
  // be admitted in arrival order and finish, because the waiting head is never skipped.
  Sim sim(cfg(24, 64, 3));
  std::map<uint64_t, SeqSpec> specs;
  uint64_t next = 1;
  auto add = [&](int len, int max_tokens) {
    specs[next] = spec(next, make_prompt(len, static_cast<int>(next)), max_tokens);
    EXPECT_TRUE(sim.sched.add(specs[next]));
    return next++;
  };
  for (int i = 0; i < 3; ++i) add(10, 20);
  const uint64_t big = add(200, 40);
  for (int step = 0; step < 400 && !sim.sched.idle(); ++step) {
    if (step % 3 == 0 && next < 60) add(8, 12);
    sim.run_step();
  }
  sim.run();
  ASSERT_TRUE(sim.finished.count(big));
  // Equal priority: first scheduled in arrival order.
  for (uint64_t id = 2; id < next; ++id) EXPECT_LE(sim.first_step[id - 1], sim.first_step[id]) << id;
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, HigherPriorityIsAdmittedFirst) {
  Sim sim(cfg(64, 64, 1));
  std::map<uint64_t, SeqSpec> specs;
  specs[1] = spec(1, make_prompt(4, 1), 3, 0);
  specs[2] = spec(2, make_prompt(4, 2), 3, 0);
  specs[3] = spec(3, make_prompt(4, 3), 3, 5);
  for (auto& [id, s] : specs) ASSERT_TRUE(sim.sched.add(s));
  sim.run();
  EXPECT_LT(sim.first_step[3], sim.first_step[1]);
  EXPECT_LT(sim.first_step[1], sim.first_step[2]);
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, PreemptsLowestRankedFirstAndStillMatchesTheOracle) {
  // 12 blocks of 4 tokens; 6 requests that each grow to 30 tokens cannot all stay resident.
  auto c = cfg(12, 64, 8, 512, 4);
  c.prefix_cache = false;  // recompute from scratch: the harder path
  Sim sim(c);
  std::map<uint64_t, SeqSpec> specs;
  for (uint64_t id = 1; id <= 6; ++id) {
    specs[id] = spec(id, make_prompt(6, static_cast<int>(id)), 24, id == 4 ? 1 : 0);
    ASSERT_TRUE(sim.sched.add(specs[id]));
  }
  // Before every step, the victims of that step must be the lowest-ranked running sequences.
  while (!sim.sched.idle()) {
    std::vector<uint64_t> running = sim.sched.running_ids();
    size_t before = sim.preempted.size();
    ASSERT_TRUE(sim.run_step());
    for (size_t i = before; i < sim.preempted.size(); ++i) {
      ASSERT_FALSE(running.empty());
      EXPECT_EQ(sim.preempted[i], running.back()) << "victim is not the lowest-ranked running sequence";
      running.pop_back();
    }
  }
  EXPECT_GT(sim.preempted.size(), 0u);
  EXPECT_EQ(std::count(sim.preempted.begin(), sim.preempted.end(), 4u), 0) << "the high-priority request was preempted";
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, TinyArenaWithPrefixCacheStillMatchesTheOracle) {
  auto c = cfg(10, 40, 8, 512, 4);
  Sim sim(c);
  std::map<uint64_t, SeqSpec> specs;
  std::mt19937 rng(11);
  for (uint64_t id = 1; id <= 12; ++id) {
    specs[id] = spec(id, make_prompt(1 + rng() % 20, static_cast<int>(id % 4)), 1 + rng() % 18);
    ASSERT_TRUE(sim.sched.add(specs[id]));
  }
  sim.run();
  EXPECT_GT(sim.sched.n_preemptions(), 0u);
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, SharedSystemPromptHitsThePrefixCache) {
  Sim sim(cfg(64, 256, 8));
  const auto system = make_prompt(48, 99);  // 3 full blocks of 16
  std::map<uint64_t, SeqSpec> specs;
  auto with_suffix = [&](int seed, int n) {
    auto p = system;
    auto s = make_prompt(n, seed);
    p.insert(p.end(), s.begin(), s.end());
    return p;
  };
  specs[1] = spec(1, with_suffix(1, 7), 5);
  ASSERT_TRUE(sim.sched.add(specs[1]));
  sim.run();
  for (uint64_t id = 2; id <= 5; ++id) {
    specs[id] = spec(id, with_suffix(static_cast<int>(id), 3 + static_cast<int>(id)), 5);
    ASSERT_TRUE(sim.sched.add(specs[id]));
  }
  sim.run_step();
  for (uint64_t id = 2; id <= 5; ++id) EXPECT_EQ(sim.sched.get(id)->n_cached_prompt, 48) << id;
  sim.run();
  EXPECT_EQ(sim.sched.prefix_hit_tokens(), 4u * 48u);
  EXPECT_EQ(sim.sched.prefix_query_tokens(), 55u + 4u * 48u + 5u + 6u + 7u + 8u);
  // A different namespace shares nothing.
  SeqSpec other = spec(6, with_suffix(1, 7), 5);
  other.cache_namespace = "adapter";
  specs[6] = other;
  ASSERT_TRUE(sim.sched.add(other));
  sim.run_step();
  EXPECT_EQ(sim.sched.get(6)->n_cached_prompt, 0);
  sim.run();
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, IdenticalPromptFullyCachedStillComputesItsLastToken) {
  Sim sim(cfg(32, 128, 4));
  std::map<uint64_t, SeqSpec> specs;
  specs[1] = spec(1, make_prompt(32, 5), 4);  // exactly two blocks
  ASSERT_TRUE(sim.sched.add(specs[1]));
  sim.run();
  specs[2] = spec(2, make_prompt(32, 5), 4);
  ASSERT_TRUE(sim.sched.add(specs[2]));
  StepPlan p = sim.sched.plan();
  ASSERT_EQ(p.seqs.size(), 1u);
  EXPECT_EQ(p.seqs[0].start, 16);  // one block reused, the last block recomputed
  EXPECT_EQ(p.seqs[0].n_tokens, 16);
  auto sampled = sim.model.forward(p);
  for (auto& ev : sim.sched.update(p, sampled)) sim.outputs[ev.id].push_back(ev.token);
  sim.run();
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, StopTokensAndContextEndFinishSequences) {
  Sim sim(cfg(64, 64, 4, 40));
  std::map<uint64_t, SeqSpec> specs;
  auto p = make_prompt(10, 8);
  auto unstopped = oracle(p, 20, 40, sim.vocab);
  specs[1] = spec(1, p, 20);
  specs[1].stop_token_ids = {unstopped[5]};  // stops at the 6th token, which is not kept
  specs[2] = spec(2, make_prompt(30, 9), -1);  // runs into the context end at 40 tokens
  for (auto& [id, s] : specs) ASSERT_TRUE(sim.sched.add(s));
  sim.run();
  EXPECT_EQ(sim.finished[1], SeqFinish::kStopToken);
  EXPECT_EQ(sim.outputs[1].size(), static_cast<size_t>(std::find(unstopped.begin(), unstopped.end(), unstopped[5]) - unstopped.begin()));
  EXPECT_EQ(sim.finished[2], SeqFinish::kContextFull);
  EXPECT_EQ(sim.outputs[2].size(), 10u);
  expect_oracle_outputs(sim, specs);
  sim.expect_drained();
}

TEST(SchedulerPolicy, FinishingMidPrefillOrWhileWaitingFreesEverything) {
  Sim sim(cfg(16, 16, 2));
  ASSERT_TRUE(sim.sched.add(spec(1, make_prompt(100, 1), 10)));
  ASSERT_TRUE(sim.sched.add(spec(2, make_prompt(10, 2), 10)));
  ASSERT_TRUE(sim.sched.add(spec(3, make_prompt(10, 3), 10)));
  sim.run_step();
  sim.run_step();
  EXPECT_GT(sim.sched.kv().pool().n_used(), 0);
  EXPECT_TRUE(sim.sched.finish(1));  // mid-prefill
  EXPECT_TRUE(sim.sched.finish(3));  // waiting
  EXPECT_FALSE(sim.sched.finish(3));
  sim.run();
  EXPECT_EQ(sim.outputs[2], oracle(make_prompt(10, 2), 10, 512, sim.vocab));
  sim.expect_drained();
}

TEST(SchedulerPolicy, PlansAreDeterministic) {
  auto run_once = [] {
    Sim sim(cfg(14, 24, 5, 512, 4));
    std::mt19937 rng(5);
    for (uint64_t id = 1; id <= 10; ++id)
      EXPECT_TRUE(sim.sched.add(spec(id, make_prompt(1 + rng() % 15, static_cast<int>(id % 3)), 1 + rng() % 12, rng() % 2)));
    std::vector<std::vector<int32_t>> trace;
    while (!sim.sched.idle()) {
      StepPlan p = sim.sched.plan();
      trace.push_back(p.batch.tokens);
      trace.push_back(p.batch.positions);
      for (auto& t : p.batch.block_tables) trace.push_back(t);
      auto sampled = sim.model.forward(p);
      sim.sched.update(p, sampled);
    }
    return trace;
  };
  EXPECT_EQ(run_once(), run_once());
}

// Random workload, random small arenas and budgets: every request completes with the oracle's
// tokens and no block leaks, whatever the mix of preemption, chunking and prefix hits.
TEST(SchedulerPolicy, RandomWorkloadsNeverLeakAndAlwaysMatchTheOracle) {
  for (int trial = 0; trial < 30; ++trial) {
    std::mt19937 rng(100 + trial);
    const int bs = 1 + rng() % 8;
    const int n_blocks = 40 / bs + 2 + rng() % 20;
    auto c = cfg(n_blocks, 4 + rng() % 40, 1 + rng() % 8, 60, bs);
    c.prefix_cache = rng() % 2;
    c.max_prefill_chunk = rng() % 3 == 0 ? 1 + rng() % 8 : 0;
    Sim sim(c, 50);  // small vocab: outputs often repeat, exercising shared prefixes
    std::map<uint64_t, SeqSpec> specs;
    uint64_t next = 1;
    for (int step = 0; step < 2000; ++step) {
      if (next <= 25 && rng() % 3 == 0) {
        SeqSpec s = spec(next, make_prompt(1 + rng() % 30, static_cast<int>(rng() % 3), 50), 1 + rng() % 25, rng() % 3);
        if (rng() % 4 == 0) s.stop_token_ids = {static_cast<int32_t>(rng() % 50)};
        specs[next] = s;
        ASSERT_TRUE(sim.sched.add(s)) << "trial " << trial;
        ++next;
      }
      if (sim.sched.idle()) {
        if (next > 25) break;
        continue;
      }
      ASSERT_TRUE(sim.run_step()) << "trial " << trial;
    }
    sim.run();
    expect_oracle_outputs(sim, specs);
    sim.expect_drained();
    if (::testing::Test::HasFailure()) FAIL() << "trial " << trial << " bs " << bs << " blocks " << n_blocks;
  }
}

}  // namespace
}  // namespace mlxr
