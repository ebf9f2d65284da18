// The engine on the real stories260K model: batched greedy output equals each request run
// alone (and llama2.c's reference), prefix-cache hits leave outputs unchanged, a tiny KV arena
// forces preemption without changing a token, and cancel/stop/admission behave.
#include "daemon/scheduler/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/runtime/generate.h"
#include "tests/support/test_data.h"

namespace mlxr {
namespace {

const char* kModel = "stories260K/stories260K.bin";

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  RequestResult result;
  bool done = false;
};

// Submits every request at once and waits for all of them.
class Collector {
 public:
  std::vector<Outcome> run(Engine& engine, const std::vector<GenerateRequest>& reqs,
                           std::function<bool(size_t, const TokenOutput&)> on_token = {}) {
    outs_.assign(reqs.size(), Outcome{});
    n_done_ = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      RequestCallbacks cb;
      cb.on_token = [this, i, on_token](const TokenOutput& t) {
        outs_[i].tokens.push_back(t.id);
        outs_[i].text += t.text;
        return on_token ? on_token(i, t) : true;
      };
      cb.on_done = [this, i](const RequestResult& r) {
        std::lock_guard<std::mutex> lock(mu_);
        outs_[i].result = r;
        outs_[i].text += r.trailing_text;
        outs_[i].done = true;
        ++n_done_;
        cv_.notify_all();
      };
      auto id = engine.submit(reqs[i], cb);
      EXPECT_TRUE(id) << id.error();
      ids_.push_back(id ? *id : 0);
    }
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(120), [&] { return n_done_ == reqs.size(); })) << "timed out";
    return outs_;
  }
  std::vector<uint64_t> ids_;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Outcome> outs_;
  size_t n_done_ = 0;
};

GenerateRequest greedy(std::vector<int32_t> prompt, int max_tokens) {
  GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_tokens = max_tokens;
  return r;
}

EngineOptions options(int kv_blocks, bool prefix_cache = true, int budget = 64, DType kv = DType::F32) {
  EngineOptions o;
  o.runner.device = "cpu";
  o.runner.kv_dtype = kv;
  o.runner.threads = 1;  // a 260K-parameter model gains nothing from threads; keeps the test steady under load
  o.runner.kv_blocks = kv_blocks;
  o.max_batch_tokens = budget;
  o.max_running = 16;
  o.prefix_cache = prefix_cache;
  return o;
}

struct Reference {
  std::vector<int32_t> prompt, generated;
};

std::vector<Reference> llama2c_references() {
  std::vector<Reference> refs;
  std::ifstream f(testing::data_path("stories260K/reference_greedy.jsonl"));
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    refs.push_back({j["prompt_tokens"].get<std::vector<int32_t>>(), j["generated_tokens"].get<std::vector<int32_t>>()});
  }
  return refs;
}

// 16 prompts of different lengths: the 4 llama2.c prompts plus 12 cut from a reference story.
std::vector<GenerateRequest> sixteen_requests(const std::vector<Reference>& refs) {
  std::vector<GenerateRequest> reqs;
  for (size_t i = 0; i < refs.size(); ++i) reqs.push_back(greedy(refs[i].prompt, 20 + 7 * static_cast<int>(i)));
  const auto& story = refs[0].generated;
  for (int k = 0; reqs.size() < 16; ++k) {
    std::vector<int32_t> p = {1};
    const int start = (k * 11) % 60, len = 2 + k * 5;
    p.insert(p.end(), story.begin() + start, story.begin() + start + len);
    reqs.push_back(greedy(p, 10 + (k * 13) % 50));
  }
  for (auto& r : reqs) r.ignore_eos = true;  // the lengths must differ, not be cut by EOS
  return reqs;
}

std::vector<Outcome> run_alone(Engine& engine, const std::vector<GenerateRequest>& reqs) {
  std::vector<Outcome> out;
  for (const auto& r : reqs) out.push_back(Collector().run(engine, {r})[0]);
  return out;
}

TEST(Engine, SixteenConcurrentGreedyRequestsEqualEachAloneAndLlama2c) {
  MLXR_REQUIRE_DATA(kModel);
  auto refs = llama2c_references();
  ASSERT_EQ(refs.size(), 4u);
  auto reqs = sixteen_requests(refs);

  // Alone, through the single-sequence path of core/runtime (no scheduler, no paging).
  RunnerOptions ro = options(0).runner;
  auto runner = ModelRunner::create(testing::data_path(kModel), ro);
  ASSERT_TRUE(runner) << runner.error();
  std::vector<std::vector<int32_t>> single;
  for (const auto& r : reqs) {
    GenerateOptions g;
    g.sampling.temperature = 0;
    g.max_tokens = r.max_tokens;
    g.stop_at_eog = false;
    auto out = generate(**runner, r.prompt, g);
    ASSERT_TRUE(out) << out.error();
    single.push_back(out->tokens);
  }

  for (DType kv : {DType::F32, DType::F16}) {
    SCOPED_TRACE(dtype_name(kv));
    // Alone, through the engine: one request at a time.
    auto solo = Engine::create(testing::data_path(kModel), options(0, false, 64, kv));
    ASSERT_TRUE(solo) << solo.error();
    auto alone = run_alone(**solo, reqs);
    (*solo)->shutdown();

    auto eng = Engine::create(testing::data_path(kModel), options(0, true, 64, kv));
    ASSERT_TRUE(eng) << eng.error();
    auto batched = Collector().run(**eng, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      ASSERT_TRUE(batched[i].done);
      EXPECT_EQ(batched[i].result.reason, FinishReason::kLength) << i;
      EXPECT_EQ(batched[i].tokens.size(), static_cast<size_t>(reqs[i].max_tokens)) << i;
      EXPECT_EQ(batched[i].tokens, alone[i].tokens) << "request " << i << " differs batched vs alone";
      if (kv == DType::F32) {
        EXPECT_EQ(batched[i].tokens, single[i]) << "request " << i << " differs from generate()";
      }
      EXPECT_EQ(batched[i].result.completion_tokens, reqs[i].max_tokens);
      EXPECT_EQ(batched[i].result.prompt_tokens, static_cast<int>(reqs[i].prompt.size()));
      EXPECT_GE(batched[i].result.ttft_ms, batched[i].result.queue_ms);
    }
    for (size_t i = 0; i < refs.size(); ++i) {
      std::vector<int32_t> want(refs[i].generated.begin(), refs[i].generated.begin() + reqs[i].max_tokens);
      EXPECT_EQ(batched[i].tokens, want) << "reference prompt " << i << " differs from llama2.c";
    }
    EngineStats st = (*eng)->stats();
    EXPECT_EQ(st.kv_blocks_used, 0);
    EXPECT_EQ(st.running + st.waiting + st.preempted, 0);
    EXPECT_GT(st.steps, 0u);
    EXPECT_LT(st.steps, 200u) << "requests were not batched";
  }
}

TEST(Engine, SharedSystemPromptHitsThePrefixCacheWithIdenticalOutputs) {
  MLXR_REQUIRE_DATA(kModel);
  auto refs = llama2c_references();
  const auto& story = refs[0].generated;
  std::vector<int32_t> system = {1};
  system.insert(system.end(), story.begin(), story.begin() + 47);  // 48 tokens: 3 full blocks
  std::vector<GenerateRequest> reqs;
  for (int k = 0; k < 8; ++k) {
    auto p = system;
    p.insert(p.end(), story.begin() + 50 + k, story.begin() + 50 + k + 1 + k);
    reqs.push_back(greedy(p, 12 + k));
    reqs.back().ignore_eos = true;
  }
  auto nocache = Engine::create(testing::data_path(kModel), options(0, false));
  ASSERT_TRUE(nocache) << nocache.error();
  auto want = Collector().run(**nocache, reqs);
  EXPECT_EQ((*nocache)->stats().prefix_hit_tokens, 0u);
  (*nocache)->shutdown();

  auto eng = Engine::create(testing::data_path(kModel), options(0, true));
  ASSERT_TRUE(eng) << eng.error();
  auto first = Collector().run(**eng, {reqs[0]});  // warms the cache with the system prompt
  EXPECT_EQ(first[0].tokens, want[0].tokens);
  std::vector<GenerateRequest> rest(reqs.begin() + 1, reqs.end());
  auto got = Collector().run(**eng, rest);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(got[i].tokens, want[i + 1].tokens) << "request " << i + 1;
    EXPECT_EQ(got[i].result.cached_prompt_tokens, 48) << "request " << i + 1;
  }
  EngineStats st = (*eng)->stats();
  EXPECT_EQ(st.prefix_hit_tokens, 7u * 48u);
  EXPECT_GT(st.kv_blocks_cached, 0);
  EXPECT_EQ(st.kv_blocks_used, 0);
}

TEST(Engine, TinyArenaPreemptsAndStillGivesTheSameTokens) {
  MLXR_REQUIRE_DATA(kModel);
  auto reqs = sixteen_requests(llama2c_references());
  auto big = Engine::create(testing::data_path(kModel), options(0, false));
  ASSERT_TRUE(big) << big.error();
  auto want = Collector().run(**big, reqs);
  EXPECT_EQ((*big)->stats().preemptions, 0u);
  (*big)->shutdown();

  for (bool cache : {false, true}) {
    // 12 blocks of 16 = 192 tokens for 16 requests that reach up to ~180 tokens each.
    auto tiny = Engine::create(testing::data_path(kModel), options(12, cache));
    ASSERT_TRUE(tiny) << tiny.error();
    auto got = Collector().run(**tiny, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got[i].result.reason, FinishReason::kLength) << got[i].result.error;
      EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i << " prefix_cache=" << cache;
    }
    EngineStats st = (*tiny)->stats();
    EXPECT_GT(st.preemptions, 0u) << "the arena was not small enough to force preemption";
    EXPECT_EQ(st.kv_blocks_used, 0);
    EXPECT_EQ(st.kv_blocks_total, 12);
  }
}

TEST(Engine, CancelFromCallbackAndFromAnotherThreadFreesBlocks) {
  MLXR_REQUIRE_DATA(kModel);
  auto eng = Engine::create(testing::data_path(kModel), options(0, true));
  ASSERT_TRUE(eng) << eng.error();
  std::mutex mu;
  std::condition_variable cv;
  int n_tokens = 0;
  bool done = false;
  RequestResult result;
  RequestCallbacks cb;
  cb.on_token = [&](const TokenOutput&) {
    std::lock_guard<std::mutex> lock(mu);
    ++n_tokens;
    cv.notify_all();
    return true;
  };
  cb.on_done = [&](const RequestResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    result = r;
    done = true;
    cv.notify_all();
  };
  auto req = greedy({1, 403, 407}, -1);
  req.ignore_eos = true;
  auto id = (*eng)->submit(req, cb);
  ASSERT_TRUE(id);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return n_tokens >= 3; });
  }
  (*eng)->cancel(*id);  // from this (non-worker) thread
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
  }
  EXPECT_EQ(result.reason, FinishReason::kCancelled);
  EXPECT_LT(result.completion_tokens, 500);

  auto stopped = Collector().run(**eng, {greedy({1, 403}, 200)}, [](size_t, const TokenOutput&) { return false; });
  EXPECT_EQ(stopped[0].result.reason, FinishReason::kCancelled);
  EXPECT_EQ(stopped[0].tokens.size(), 1u);
  EXPECT_EQ((*eng)->stats().kv_blocks_used, 0);
  (*eng)->cancel(987654);  // unknown ids are ignored
  auto after = Collector().run(**eng, {greedy({1, 403}, 3)});
  EXPECT_EQ(after[0].tokens.size(), 3u);
}

TEST(Engine, StopStringSpanningTokensEndsTheTextBeforeIt) {
  MLXR_REQUIRE_DATA(kModel);
  auto eng = Engine::create(testing::data_path(kModel), options(0, true));
  ASSERT_TRUE(eng) << eng.error();
  auto free_run = Collector().run(**eng, {greedy({1}, 60)});
  const std::string text = free_run[0].text;
  ASSERT_NE(text.find("little girl"), std::string::npos) << text;
  auto req = greedy({1}, 60);
  req.stop = {"little girl"};
  auto out = Collector().run(**eng, {req});
  EXPECT_EQ(out[0].result.reason, FinishReason::kStop);
  EXPECT_EQ(out[0].text, text.substr(0, text.find("little girl")));
  EXPECT_LT(out[0].tokens.size(), 60u);
  // Without a stop, the streamed text plus the trailing text is the whole decode.
  EXPECT_EQ(text, (*eng)->tokenizer().decode(free_run[0].tokens));
}

TEST(Engine, AdmissionErrorsAreReturnedBySubmit) {
  MLXR_REQUIRE_DATA(kModel);
  auto o = options(4);  // 64 tokens of KV
  auto eng = Engine::create(testing::data_path(kModel), o);
  ASSERT_TRUE(eng) << eng.error();
  RequestCallbacks cb;
  bool called = false;
  cb.on_done = [&](const RequestResult&) { called = true; };
  auto e1 = (*eng)->submit(greedy({}, 5), cb);
  ASSERT_FALSE(e1);
  EXPECT_NE(e1.error().find("empty"), std::string::npos);
  auto e2 = (*eng)->submit(greedy(std::vector<int32_t>(64, 5), 5), cb);
  ASSERT_FALSE(e2);
  EXPECT_NE(e2.error().find("kv_blocks"), std::string::npos) << e2.error();
  auto e3 = (*eng)->submit(greedy({1, 9999}, 5), cb);
  ASSERT_FALSE(e3);
  EXPECT_NE(e3.error().find("vocabulary"), std::string::npos);
  auto bad = greedy({1, 5}, 5);
  bad.sampling.temperature = 1.0f;
  bad.sampling.top_p = 2.0f;
  EXPECT_FALSE((*eng)->submit(bad, cb));
  EXPECT_FALSE(called);
}

TEST(Engine, EmbeddingsAreUnitNormAndDeterministic) {
  MLXR_REQUIRE_DATA(kModel);
  auto eng = Engine::create(testing::data_path(kModel), options(0, true));
  ASSERT_TRUE(eng) << eng.error();
  std::vector<int32_t> toks = {1, 403, 407, 261, 378, 432};
  auto a = (*eng)->embed(toks, Engine::Pooling::kMean);
  ASSERT_TRUE(a) << a.error();
  ASSERT_EQ(a->size(), static_cast<size_t>((*eng)->hparams().n_embd));
  double n = 0;
  for (float v : *a) n += v * v;
  EXPECT_NEAR(n, 1.0, 1e-5);
  auto out = Collector().run(**eng, {greedy({1, 403}, 40)});
  auto b = (*eng)->embed(toks, Engine::Pooling::kMean);
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, *b);
  auto last = (*eng)->embed(toks, Engine::Pooling::kLast);
  ASSERT_TRUE(last);
  EXPECT_NE(*last, *a);
  EXPECT_FALSE((*eng)->embed({}, Engine::Pooling::kMean));
}

// An embedding that needs blocks a running request holds preempts it; the request recomputes
// and still gives the same tokens.
TEST(Engine, EmbeddingDuringGenerationInATinyArena) {
  MLXR_REQUIRE_DATA(kModel);
  auto refs = llama2c_references();
  std::vector<int32_t> toks(refs[0].generated.begin(), refs[0].generated.begin() + 100);
  toks.insert(toks.begin(), 1);
  auto req = greedy({1}, 120);
  auto big = Engine::create(testing::data_path(kModel), options(0, false));
  ASSERT_TRUE(big) << big.error();
  auto want = Collector().run(**big, {req});
  auto want_emb = (*big)->embed(toks, Engine::Pooling::kMean);
  ASSERT_TRUE(want_emb) << want_emb.error();
  (*big)->shutdown();

  auto eng = Engine::create(testing::data_path(kModel), options(10, false));  // 160 tokens of KV
  ASSERT_TRUE(eng) << eng.error();
  std::mutex mu;
  std::condition_variable cv;
  int n_tok = 0;
  bool done = false, embedding = false;
  std::vector<int32_t> got;
  RequestCallbacks cb;
  cb.on_token = [&](const TokenOutput& t) {
    std::unique_lock<std::mutex> lock(mu);
    got.push_back(t.id);
    ++n_tok;
    cv.notify_all();
    if (n_tok == 80) {
      // Hold the worker until the embedding is about to be queued, so it lands mid-generation.
      cv.wait(lock, [&] { return embedding; });
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return true;
  };
  cb.on_done = [&](const RequestResult&) {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  };
  ASSERT_TRUE((*eng)->submit(req, cb));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return n_tok >= 80; });  // holds 6 of 10 blocks by now
    embedding = true;
    cv.notify_all();
  }
  auto emb = (*eng)->embed(toks, Engine::Pooling::kMean);  // needs 7 blocks
  ASSERT_TRUE(emb) << emb.error();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
  }
  EXPECT_EQ(got, want[0].tokens);
  ASSERT_EQ(emb->size(), want_emb->size());
  for (size_t i = 0; i < emb->size(); ++i) EXPECT_NEAR((*emb)[i], (*want_emb)[i], 1e-6f);
  EXPECT_GT((*eng)->stats().preemptions, 0u);
  EXPECT_EQ((*eng)->stats().kv_blocks_used, 0);
}

}  // namespace
}  // namespace mlxr
