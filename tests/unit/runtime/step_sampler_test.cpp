// StepSampler on the CPU backend: a step mixing rows that sample from top-k candidates, rows
// that need the whole row (penalties, top-k off) and rows that do not sample gives every row
// what Sampler::sample gives on that row alone (same seeds, same tokens and logprobs).
#include "core/runtime/step_sampler.h"

#include <gtest/gtest.h>

#include "core/kernels/cpu/cpu_backend.h"
#include "tests/support/logit_rows.h"

namespace mlxr {
namespace {

TEST(StepSampler, MixedRowsEqualSamplingEachRowAlone) {
  const int n_vocab = 3001, rows = 6, steps = 8;
  std::vector<SamplingParams> params(rows);
  params[0].temperature = 0.0f;  // greedy: 1 candidate
  params[1] = {.temperature = 0.9f, .top_k = 40, .seed = 1, .top_logprobs = 5, .logprobs = true};
  params[2] = {.temperature = 0.7f, .top_k = 0, .seed = 2};  // top-k off: the whole row
  params[3] = {.temperature = 0.8f, .repeat_penalty = 1.3f, .seed = 3};  // penalties: the whole row
  params[5] = {.temperature = 1.1f, .top_k = 200, .top_p = 0.8f, .seed = 5};
  std::vector<Sampler> step_side, alone;
  for (const auto& p : params) {
    step_side.emplace_back(p);
    alone.emplace_back(p);
  }
  CpuBackend be(2);
  StepSampler ss(be);
  const std::vector<int32_t> history = {5, 17, 17, 2999, 40};
  std::vector<SampleResult> got;
  for (int s = 0; s < steps; ++s) {
    const auto logits = testing::logit_rows(rows, n_vocab, s % 2 ? testing::RowKind::kTies : testing::RowKind::kNormal,
                                            static_cast<uint32_t>(s + 1));
    std::vector<StepSampler::Row> step_rows(rows);
    for (int r = 0; r < rows; ++r)
      if (r != 4) step_rows[r] = {&step_side[r], history};  // row 4 does not sample
    ASSERT_TRUE(ss.sample(logits.data(), n_vocab, step_rows, got).is_ok());
    ASSERT_EQ(got.size(), static_cast<size_t>(rows));
    EXPECT_EQ(got[4].token, -1);
    for (int r = 0; r < rows; ++r) {
      if (r == 4) continue;
      const SampleResult want = alone[r].sample(logits.data() + static_cast<size_t>(r) * n_vocab, n_vocab, history);
      EXPECT_EQ(got[r].token, want.token) << "step " << s << " row " << r;
      EXPECT_NEAR(got[r].logprob, want.logprob, 1e-5) << "step " << s << " row " << r;
      ASSERT_EQ(got[r].top_logprobs.size(), want.top_logprobs.size());
      for (size_t i = 0; i < want.top_logprobs.size(); ++i)
        EXPECT_EQ(got[r].top_logprobs[i].first, want.top_logprobs[i].first) << "step " << s << " row " << r;
    }
  }
}

TEST(StepSampler, VocabularySmallerThanTopK) {
  // top_k 500 over 37 tokens: the candidates are the whole row.
  CpuBackend be(1);
  StepSampler ss(be);
  Sampler a({.temperature = 1.0f, .top_k = 500, .seed = 9}), b({.temperature = 1.0f, .top_k = 500, .seed = 9});
  std::vector<SampleResult> got;
  for (int s = 0; s < 20; ++s) {
    const auto logits = testing::logit_rows(1, 37, testing::RowKind::kNormal, 100 + s);
    const StepSampler::Row row{&a, {}};
    ASSERT_TRUE(ss.sample(logits.data(), 37, std::span(&row, 1), got).is_ok());
    EXPECT_EQ(got[0].token, b.sample(logits.data(), 37, {}).token) << "step " << s;
  }
}

}  // namespace
}  // namespace mlxr
