#include "daemon/telemetry/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mlxr::telemetry {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<uint64_t>(std::llround(v * 1e6)), std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

double Histogram::sum() const { return sum_micro_.load(std::memory_order_relaxed) / 1e6; }

double Histogram::quantile(double q) const {
  auto cum = cumulative();
  uint64_t total = cum.back();
  if (total == 0) return 0;
  double rank = q * static_cast<double>(total);
  for (size_t i = 0; i < cum.size(); ++i) {
    if (static_cast<double>(cum[i]) >= rank) {
      if (i == bounds_.size()) return bounds_.empty() ? 0 : bounds_.back();
      double lo = i == 0 ? 0 : bounds_[i - 1];
      uint64_t below = i == 0 ? 0 : cum[i - 1];
      uint64_t in = cum[i] - below;
      double frac = in ? (rank - static_cast<double>(below)) / static_cast<double>(in) : 1.0;
      return lo + (bounds_[i] - lo) * frac;
    }
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

static std::string escape_label(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o += '\\', o += c;
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string o = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) o += ',';
    o += labels[i].first + "=\"" + escape_label(labels[i].second) + "\"";
  }
  return o + "}";
}

Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& fam = counters_[name];
  fam.help = help;
  auto key = render_labels(labels);
  auto it = fam.series.find(key);
  if (it == fam.series.end())
    it = fam.series.emplace(key, std::make_pair(labels, std::make_unique<Counter>())).first;
  return *it->second.second;
}

Histogram& Metrics::histogram(const std::string& name, const std::string& help, const Labels& labels,
                              std::vector<double> bounds) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& fam = histograms_[name];
  fam.help = help;
  auto key = render_labels(labels);
  auto it = fam.series.find(key);
  if (it == fam.series.end())
    it = fam.series.emplace(key, std::make_pair(labels, std::make_unique<Histogram>(std::move(bounds)))).first;
  return *it->second.second;
}

void Metrics::gauge(const std::string& name, const std::string& help, std::function<double()> fn,
                    const Labels& labels) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& fam = gauges_[name];
  fam.help = help;
  fam.series[render_labels(labels)] = std::make_pair(labels, std::make_unique<GaugeFn>(GaugeFn{std::move(fn)}));
}

void Metrics::remove_gauges(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  gauges_.erase(name);
}

static std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Metrics::render_prometheus() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string o;
  for (auto& [name, fam] : counters_) {
    o += "# HELP " + name + " " + fam.help + "\n# TYPE " + name + " counter\n";
    for (auto& [key, s] : fam.series) o += name + key + " " + std::to_string(s.second->value()) + "\n";
  }
  for (auto& [name, fam] : gauges_) {
    o += "# HELP " + name + " " + fam.help + "\n# TYPE " + name + " gauge\n";
    for (auto& [key, s] : fam.series) o += name + key + " " + num(s.second->fn()) + "\n";
  }
  for (auto& [name, fam] : histograms_) {
    o += "# HELP " + name + " " + fam.help + "\n# TYPE " + name + " histogram\n";
    for (auto& [key, s] : fam.series) {
      const Histogram& h = *s.second;
      auto cum = h.cumulative();
      for (size_t i = 0; i <= h.bounds().size(); ++i) {
        Labels l = s.first;
        l.emplace_back("le", i < h.bounds().size() ? num(h.bounds()[i]) : "+Inf");
        o += name + "_bucket" + render_labels(l) + " " + std::to_string(cum[i]) + "\n";
      }
      o += name + "_sum" + key + " " + num(h.sum()) + "\n";
      o += name + "_count" + key + " " + std::to_string(cum.back()) + "\n";
    }
  }
  return o;
}

}  // namespace mlxr::telemetry
