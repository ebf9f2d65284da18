// Sampler::sample_top over the candidates cpu::top_k_rows returns equals Sampler::sample over
// the whole row: same token for the same seed, step after step, and the same logprobs, for
// greedy and random chains with top-k/top-p/min-p, on rows with ties, -inf and NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/kernels/cpu/topk.h"
#include "core/sampling/sampler.h"
#include "core/tensor/backend.h"
#include "tests/support/logit_rows.h"

namespace mlxr {
namespace {

using testing::RowKind;

SamplingParams params(float temperature, int top_k, float top_p, float min_p, int top_logprobs, uint64_t seed) {
  return {.temperature = temperature, .top_k = top_k, .top_p = top_p, .min_p = min_p, .seed = seed,
          .top_logprobs = top_logprobs, .logprobs = true};
}

// Runs both paths over `steps` rows; k_extra candidates beyond what the sampler needs (the
// engine passes the largest k of the step to every row).
void expect_same_draws(const SamplingParams& p, int n, RowKind kind, int steps, int k_extra, uint32_t seed) {
  Sampler whole(p), top(p);
  const int needed = top.needed_top_k();
  ASSERT_GT(needed, 0);
  const int k = std::min(n, std::min(kMaxTopK, needed + k_extra));  // the whole row when it is shorter
  const auto rows = testing::logit_rows(steps, n, kind, seed);
  std::vector<float> vals(k);
  std::vector<int32_t> idx(k);
  for (int s = 0; s < steps; ++s) {
    const float* row = rows.data() + static_cast<size_t>(s) * n;
    float lse = 0;
    cpu::top_k_rows(row, 1, n, k, vals.data(), idx.data(), &lse);
    const SampleResult a = whole.sample(row, n, {});
    const SampleResult b = top.sample_top(vals.data(), idx.data(), k, lse);
    ASSERT_EQ(a.token, b.token) << "step " << s << " T=" << p.temperature << " top_k=" << p.top_k
                                << " top_p=" << p.top_p << " min_p=" << p.min_p << " n=" << n;
    EXPECT_NEAR(a.logprob, b.logprob, 1e-5) << "step " << s;
    ASSERT_EQ(a.top_logprobs.size(), b.top_logprobs.size());
    for (size_t i = 0; i < a.top_logprobs.size(); ++i) {
      EXPECT_EQ(a.top_logprobs[i].first, b.top_logprobs[i].first) << "step " << s << " alternative " << i;
      EXPECT_NEAR(a.top_logprobs[i].second, b.top_logprobs[i].second, 1e-5) << "step " << s << " alternative " << i;
    }
  }
}

TEST(SampleTop, EqualsTheWholeRowChain) {
  uint64_t seed = 1;
  for (float t : {0.0f, 0.3f, 1.0f, 1.7f}) {
    for (int top_k : {1, 5, 40, 1024}) {
      for (float top_p : {1.0f, 0.9f, 0.5f}) {
        for (float min_p : {0.0f, 0.05f, 0.3f}) {
          const SamplingParams p = params(t, top_k, top_p, min_p, static_cast<int>(seed % 4) * 5, seed);
          for (RowKind kind : {RowKind::kNormal, RowKind::kTies}) {
            expect_same_draws(p, 1001, kind, 6, static_cast<int>(seed % 3) * 17, static_cast<uint32_t>(seed));
            ++seed;
          }
        }
      }
    }
  }
}

TEST(SampleTop, MaskedRowsAndShortRows) {
  // Mostly -inf/NaN with tied finite values; a vocabulary smaller than top_k (the whole row).
  expect_same_draws(params(0.8f, 40, 0.95f, 0.05f, 3, 7), 5003, RowKind::kMostlyMasked, 20, 0, 3);
  expect_same_draws(params(0.0f, 40, 1.0f, 0.0f, 20, 8), 5003, RowKind::kMostlyMasked, 20, 0, 4);
  expect_same_draws(params(1.0f, 100, 1.0f, 0.0f, 5, 9), 37, RowKind::kNormal, 50, 0, 5);
  expect_same_draws(params(1.2f, 3, 1.0f, 0.0f, 0, 10), 32001, RowKind::kSignedZeros, 10, 5, 6);
}

TEST(SampleTop, NeededTopK) {
  auto needed = [](float t, int top_k, int top_logprobs, float repeat_penalty = 1.0f, float presence = 0.0f) {
    SamplingParams p = params(t, top_k, 0.9f, 0.05f, top_logprobs, 1);
    p.repeat_penalty = repeat_penalty;
    p.presence_penalty = presence;
    return Sampler(p).needed_top_k();
  };
  EXPECT_EQ(needed(0.0f, 0, 0), 1);        // greedy: the best only, whatever top_k says
  EXPECT_EQ(needed(0.0f, 40, 5), 5);       // greedy with alternatives
  EXPECT_EQ(needed(0.8f, 40, 0), 40);
  EXPECT_EQ(needed(0.8f, 3, 10), 10);      // the alternatives need more than the chain
  EXPECT_EQ(needed(0.8f, kMaxTopK, 0), kMaxTopK);
  EXPECT_EQ(needed(0.8f, kMaxTopK + 1, 0), 0);  // more than the backend returns
  EXPECT_EQ(needed(0.8f, 0, 0), 0);        // top-k off: any token may be drawn
  EXPECT_EQ(needed(0.0f, 40, 0, 1.1f), 0);  // penalties may lift any token
  EXPECT_EQ(needed(0.8f, 40, 0, 1.0f, 0.5f), 0);
}

}  // namespace
}  // namespace mlxr
