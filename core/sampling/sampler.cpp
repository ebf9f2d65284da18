#include "core/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace mlxr {
namespace {

uint64_t fresh_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// log-softmax of the raw logits for the chosen token and the top-n alternatives.
void fill_logprobs(const float* logits, int n, int top_n, SampleResult& r) {
  float mx = -INFINITY;
  for (int i = 0; i < n; ++i) mx = std::max(mx, logits[i]);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  r.logprob = static_cast<float>(logits[r.token] - lse);
  if (top_n <= 0) return;
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) idx[i] = i;
  const int k = std::min(top_n, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int i = 0; i < k; ++i) r.top_logprobs.emplace_back(idx[i], static_cast<float>(logits[idx[i]] - lse));
}

}  // namespace

Sampler::Sampler(const SamplingParams& params) : p_(params), rng_(params.seed ? *params.seed : fresh_seed()) {}

Status Sampler::validate(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature > 100) return make_error("temperature must be between 0 and 100");
  if (!(p.top_p >= 0 && p.top_p <= 1)) return make_error("top_p must be between 0 and 1");
  if (!(p.min_p >= 0 && p.min_p <= 1)) return make_error("min_p must be between 0 and 1");
  if (!(p.repeat_penalty > 0) || p.repeat_penalty > 100) return make_error("repeat_penalty must be positive");
  if (!(std::fabs(p.frequency_penalty) <= 2)) return make_error("frequency_penalty must be between -2 and 2");
  if (!(std::fabs(p.presence_penalty) <= 2)) return make_error("presence_penalty must be between -2 and 2");
  if (p.top_logprobs < 0 || p.top_logprobs > 20) return make_error("top_logprobs must be between 0 and 20");
  if (p.repeat_last_n < -1) return make_error("repeat_last_n must be -1 or more");
  return Status::ok();
}

SampleResult Sampler::sample(const float* logits, int n_vocab, std::span<const int32_t> history) {
  // The logits are copied only when penalties change them (a 128K vocabulary is 0.5 MB a token).
  const float* l = logits;
  const bool penalize = p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f;
  if (penalize && !history.empty()) {
    work_.assign(logits, logits + n_vocab);
    float* pl = work_.data();
    l = pl;
    const size_t window = p_.repeat_last_n < 0 ? history.size() : std::min<size_t>(history.size(), static_cast<size_t>(p_.repeat_last_n));
    std::unordered_map<int32_t, int> counts;
    for (size_t i = history.size() - window; i < history.size(); ++i) ++counts[history[i]];
    for (const auto& [tok, cnt] : counts) {
      if (tok < 0 || tok >= n_vocab) continue;
      float& x = pl[tok];
      x = x > 0 ? x / p_.repeat_penalty : x * p_.repeat_penalty;
      x -= static_cast<float>(cnt) * p_.frequency_penalty + (cnt > 0 ? 1.0f : 0.0f) * p_.presence_penalty;
    }
  }

  SampleResult r;
  if (p_.temperature <= 0.0f) {
    r.token = static_cast<int32_t>(std::max_element(l, l + n_vocab) - l);  // first of equal maxima
  } else {
    cand_.resize(static_cast<size_t>(n_vocab));
    for (int i = 0; i < n_vocab; ++i) cand_[i] = {l[i], i};
    auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t n = cand_.size();
    if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
      std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), better);
      n = static_cast<size_t>(p_.top_k);
    } else {
      std::sort(cand_.begin(), cand_.end(), better);
    }
    // Softmax over the survivors (at temperature 1, as llama.cpp's top-p/min-p see them).
    std::vector<double> prob(n);
    const float mx = cand_[0].first;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += prob[i] = std::exp(static_cast<double>(cand_[i].first) - mx);
    if (p_.top_p < 1.0f) {
      double cum = 0.0;
      size_t keep = n;
      for (size_t i = 0; i < n; ++i) {
        cum += prob[i] / sum;
        if (cum >= p_.top_p) {
          keep = i + 1;
          break;
        }
      }
      n = keep;
    }
    if (p_.min_p > 0.0f) {
      const double floor = p_.min_p * prob[0];
      size_t keep = 1;
      while (keep < n && prob[keep] >= floor) ++keep;
      n = keep;
    }
    std::vector<double> w(n);
    double wsum = 0.0;
    for (size_t i = 0; i < n; ++i) wsum += w[i] = std::exp((static_cast<double>(cand_[i].first) - mx) / p_.temperature);
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * wsum;
    double acc = 0.0;
    r.token = cand_[n - 1].second;
    for (size_t i = 0; i < n; ++i) {
      acc += w[i];
      if (u < acc) {
        r.token = cand_[i].second;
        break;
      }
    }
  }
  if (p_.logprobs || p_.top_logprobs > 0) fill_logprobs(logits, n_vocab, p_.top_logprobs, r);
  return r;
}

}  // namespace mlxr
