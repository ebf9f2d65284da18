#include "core/sampling/sampler.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string>
#include <unordered_map>

#include "core/base/log_sum_exp.h"
#include "core/tensor/backend.h"  // kMaxTopK

namespace mlxr {
namespace {

uint64_t fresh_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// out = the first `count` of the row's (value, token) pairs in Backend::top_k_rows's order:
// value descending, equal values by ascending token, NaN as -inf.
void sort_prefix(const float* row, int n, size_t count, std::vector<std::pair<float, int32_t>>& out) {
  out.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[i] = {nan_as_neg_inf(row[i]), i};
  auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return ranks_before(a.first, a.second, b.first, b.second);
  };
  if (count < out.size()) std::partial_sort(out.begin(), out.begin() + count, out.end(), better);
  else std::sort(out.begin(), out.end(), better);
}

// log-softmax of the raw logits: the chosen token's (raw value `value`) and the top_n best
// candidates', at(i) giving the i-th best (value, token).
template <typename At>
void fill_logprobs(float value, float lse, size_t top_n, At at, SampleResult& r) {
  r.logprob = static_cast<float>(static_cast<double>(value) - lse);
  for (size_t i = 0; i < top_n; ++i) {
    const std::pair<float, int32_t> c = at(i);
    r.top_logprobs.emplace_back(c.second, static_cast<float>(static_cast<double>(c.first) - lse));
  }
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

int Sampler::needed_top_k() const {
  if (penalizes()) return 0;  // the penalties may lift any token into the candidates
  const int chain = p_.temperature <= 0.0f ? 1 : p_.top_k;  // greedy needs the best only
  if (chain <= 0) return 0;                                  // top-k off: any token may be drawn
  const int k = std::max(chain, p_.top_logprobs);
  return k <= kMaxTopK ? k : 0;
}

SampleResult Sampler::sample(const float* logits, int n_vocab, std::span<const int32_t> history) {
  // The logits are copied only when penalties change them (a 128K vocabulary is 0.5 MB a token).
  const float* l = logits;
  if (penalizes() && !history.empty()) {
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

  // Sort only as many candidates as the chain can reach: greedy the best, top-k its k.
  const size_t n = static_cast<size_t>(n_vocab);
  size_t n_chain = n;
  if (p_.temperature <= 0.0f) n_chain = 1;
  else if (p_.top_k > 0) n_chain = std::min(n, static_cast<size_t>(p_.top_k));
  sort_prefix(l, n_vocab, n_chain, cand_);
  cand_vals_.resize(n_chain);
  for (size_t i = 0; i < n_chain; ++i) cand_vals_[i] = cand_[i].first;
  SampleResult r;
  r.token = cand_[draw(cand_vals_.data(), n_chain)].second;

  if (wants_logprobs()) {
    const size_t top_n = std::min(n, static_cast<size_t>(p_.top_logprobs));
    if (l != logits || top_n > n_chain) sort_prefix(logits, n_vocab, top_n, cand_);  // of the raw logits
    fill_logprobs(nan_as_neg_inf(logits[r.token]), log_sum_exp(logits, n_vocab), top_n,
                  [&](size_t i) { return cand_[i]; }, r);
  }
  return r;
}

SampleResult Sampler::sample_top(const float* vals, const int32_t* idx, int k, float lse) {
  assert(needed_top_k() > 0 && k > 0);
  const size_t pos = draw(vals, static_cast<size_t>(k));
  SampleResult r;
  r.token = idx[pos];
  if (wants_logprobs())
    fill_logprobs(vals[pos], lse, std::min(static_cast<size_t>(k), static_cast<size_t>(p_.top_logprobs)),
                  [&](size_t i) { return std::pair<float, int32_t>(vals[i], idx[i]); }, r);
  return r;
}

size_t Sampler::draw(const float* vals, size_t n) {
  if (p_.temperature <= 0.0f) return 0;  // the first of equal maxima
  if (p_.top_k > 0) n = std::min(n, static_cast<size_t>(p_.top_k));
  // Softmax over the survivors (at temperature 1, as llama.cpp's top-p/min-p see them).
  prob_.resize(n);
  const float mx = vals[0];
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += prob_[i] = std::exp(static_cast<double>(vals[i]) - mx);
  if (p_.top_p < 1.0f) {
    double cum = 0.0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += prob_[i] / sum;
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (p_.min_p > 0.0f) {
    const double floor = p_.min_p * prob_[0];
    size_t keep = 1;
    while (keep < n && prob_[keep] >= floor) ++keep;
    n = keep;
  }
  weight_.resize(n);
  double wsum = 0.0;
  for (size_t i = 0; i < n; ++i) wsum += weight_[i] = std::exp((static_cast<double>(vals[i]) - mx) / p_.temperature);
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * wsum;
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) {
    acc += weight_[i];
    if (u < acc) return i;
  }
  return n - 1;
}

}  // namespace mlxr
