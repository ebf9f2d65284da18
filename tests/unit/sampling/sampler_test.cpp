// The sampler chain against its definition: greedy is the first argmax; penalties as llama.cpp
// (divide positive / multiply negative logits) and OpenAI (count and presence) define them;
// draws follow softmax(logits / T) over the candidates top-k/top-p/min-p keep (checked
// statistically against probabilities computed here in double); same seed, same draws;
// logprobs are log-softmax of the raw logits.
#include "core/sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

namespace mlxr {
namespace {

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  return p;
}

std::vector<double> softmax(const std::vector<float>& l, double t) {
  const double mx = *std::max_element(l.begin(), l.end());
  std::vector<double> p(l.size());
  double sum = 0;
  for (size_t i = 0; i < l.size(); ++i) sum += p[i] = std::exp((l[i] - mx) / t);
  for (auto& x : p) x /= sum;
  return p;
}

// Draw n tokens; every frequency must be within 5 standard deviations of its probability.
void expect_distribution(Sampler& s, const std::vector<float>& logits, const std::vector<double>& prob, int n) {
  std::vector<int> count(logits.size());
  for (int i = 0; i < n; ++i) ++count[s.sample(logits.data(), static_cast<int>(logits.size()), {}).token];
  for (size_t i = 0; i < prob.size(); ++i) {
    const double sd = std::sqrt(n * prob[i] * (1 - prob[i])) + 1e-9;
    EXPECT_LE(std::fabs(count[i] - n * prob[i]), 5 * sd + (prob[i] == 0 ? 0 : 1)) << "token " << i << " p=" << prob[i];
    if (prob[i] == 0) EXPECT_EQ(count[i], 0) << "token " << i << " is outside the kept candidates";
  }
}

TEST(Sampler, GreedyIsFirstArgmax) {
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  Sampler s(plain(0.0f));
  EXPECT_EQ(s.sample(l.data(), 5, {}).token, 1);
  l[4] = 2.5f;
  EXPECT_EQ(s.sample(l.data(), 5, {}).token, 4);
}

TEST(Sampler, RepeatFrequencyAndPresencePenalties) {
  // Token 1 (positive logit) and token 2 (negative) were seen; repeat penalty 2 halves 1's logit
  // and doubles 2's magnitude.
  std::vector<float> l = {1.0f, 1.8f, -0.2f, 0.95f};
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  const std::vector<int32_t> hist = {1, 2, 1};
  EXPECT_EQ(s.sample(l.data(), 4, hist).token, 0);  // 1.8 -> 0.9 < 1.0
  EXPECT_EQ(l[1], 1.8f) << "the caller's logits must not change";
  // Only the last repeat_last_n tokens count: with a window of 1 only token 1 is penalised.
  p.repeat_last_n = 1;
  p.repeat_penalty = 1.0f;
  p.frequency_penalty = 0.5f;  // token 1 seen once in the window: 1.8 - 0.5 = 1.3 > 1.0
  Sampler s2(p);
  EXPECT_EQ(s2.sample(l.data(), 4, hist).token, 1);
  p.repeat_last_n = -1;  // whole history: token 1 seen twice: 1.8 - 1.0 = 0.8 < 1.0
  Sampler s3(p);
  EXPECT_EQ(s3.sample(l.data(), 4, hist).token, 0);
  p.frequency_penalty = 0.0f;
  p.presence_penalty = 0.9f;  // 1.8 - 0.9 = 0.9 < 0.95 (token 3), token 0 still best
  Sampler s4(p);
  EXPECT_EQ(s4.sample(l.data(), 4, hist).token, 0);
}

TEST(Sampler, TemperatureDrawsFollowSoftmax) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> l(17);
  for (auto& x : l) x = u(rng);
  for (float t : {0.5f, 1.0f, 1.7f}) {
    Sampler s(plain(t));
    expect_distribution(s, l, softmax(l, t), 40000);
  }
}

TEST(Sampler, TopKTopPAndMinPKeepOnlyTheirCandidates) {
  const std::vector<float> l = {2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f};
  const std::vector<double> p1 = softmax(l, 1.0);
  auto renorm = [&](size_t keep, double t) {
    std::vector<float> head(l.begin(), l.begin() + keep);
    std::vector<double> q = softmax(head, t);
    q.resize(l.size(), 0.0);
    return q;
  };
  {  // top-k 3 at temperature 0.8
    SamplingParams p = plain(0.8f);
    p.top_k = 3;
    Sampler s(p);
    expect_distribution(s, l, renorm(3, 0.8), 30000);
  }
  {  // top-p 0.8: the smallest prefix whose probability (at T = 1) reaches 0.8
    SamplingParams p = plain(1.3f);
    p.top_p = 0.8f;
    size_t keep = 0;
    for (double cum = 0; keep < l.size() && cum < 0.8; ++keep) cum += p1[keep];
    Sampler s(p);
    expect_distribution(s, l, renorm(keep, 1.3), 30000);
  }
  {  // min-p 0.2: tokens with p >= 0.2 * p_max (at T = 1)
    SamplingParams p = plain(1.0f);
    p.min_p = 0.2f;
    size_t keep = 0;
    while (keep < l.size() && p1[keep] >= 0.2 * p1[0]) ++keep;
    ASSERT_GT(keep, 1u);
    ASSERT_LT(keep, l.size());
    Sampler s(p);
    expect_distribution(s, l, renorm(keep, 1.0), 30000);
  }
  {  // top-k 1 is greedy whatever the temperature
    SamplingParams p = plain(5.0f);
    p.top_k = 1;
    Sampler s(p);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), 8, {}).token, 0);
  }
}

TEST(Sampler, SameSeedSameDraws) {
  std::vector<float> l(64);
  std::iota(l.begin(), l.end(), 0.0f);
  for (auto& x : l) x = std::sin(x) * 2;
  auto draws = [&](uint64_t seed) {
    SamplingParams p = plain(1.0f);
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(l.data(), 64, {}).token);
    return out;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
}

TEST(Sampler, LogprobsAreLogSoftmaxOfRawLogits) {
  const std::vector<float> l = {0.3f, -1.2f, 2.2f, 0.9f, 2.2f};
  SamplingParams p = plain(0.0f);
  p.logprobs = true;
  p.top_logprobs = 3;
  p.repeat_penalty = 3.0f;  // penalties change the choice (2.2 / 3 < 0.9), not the reported distribution
  Sampler s(p);
  const std::vector<int32_t> hist = {2, 4};
  SampleResult r = s.sample(l.data(), 5, hist);
  const std::vector<double> q = softmax(l, 1.0);
  EXPECT_EQ(r.token, 3);
  ASSERT_EQ(r.top_logprobs.size(), 3u);
  EXPECT_EQ(r.top_logprobs[0].first, 2);  // ties: lower index first
  EXPECT_EQ(r.top_logprobs[1].first, 4);
  EXPECT_EQ(r.top_logprobs[2].first, 3);
  for (const auto& [tok, lp] : r.top_logprobs) EXPECT_NEAR(lp, std::log(q[tok]), 1e-6);
  EXPECT_NEAR(r.logprob, std::log(q[r.token]), 1e-6);
}

TEST(Sampler, ValidateNamesTheBadField) {
  SamplingParams p;
  EXPECT_TRUE(Sampler::validate(p).is_ok());
  p.top_p = 1.5f;
  EXPECT_NE(Sampler::validate(p).message().find("top_p"), std::string::npos);
  p = SamplingParams{};
  p.temperature = NAN;
  EXPECT_NE(Sampler::validate(p).message().find("temperature"), std::string::npos);
  p = SamplingParams{};
  p.top_logprobs = 21;
  EXPECT_NE(Sampler::validate(p).message().find("top_logprobs"), std::string::npos);
}

}  // namespace
}  // namespace mlxr
