// Counters, gauges and histograms, rendered in the Prometheus text exposition format (0.0.4).
// Recording is lock-free (atomics) so the engine worker can record per token; registering a new
// label set takes a mutex once.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mlxr::telemetry {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative bucket counts (one per bound, then +Inf), sum and count.
  std::vector<uint64_t> cumulative() const;
  double sum() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Approximate quantile (0..1) by linear interpolation inside the bucket.
  double quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum * 1e6, so it stays an atomic integer
};

// Seconds buckets suited to token latencies (1 ms .. 60 s).
std::vector<double> latency_buckets();

class Metrics {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       std::vector<double> bounds = latency_buckets());
  // A gauge read at scrape time (engine stats, connections): fn returns the current value.
  void gauge(const std::string& name, const std::string& help, std::function<double()> fn,
             const Labels& labels = {});
  void remove_gauges(const std::string& name);
  std::string render_prometheus() const;

 private:
  template <typename T>
  struct Family {
    std::string help;
    std::map<std::string, std::pair<Labels, std::unique_ptr<T>>> series;  // key: rendered labels
  };
  struct GaugeFn {
    std::function<double()> fn;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family<Counter>> counters_;
  std::map<std::string, Family<Histogram>> histograms_;
  std::map<std::string, Family<GaugeFn>> gauges_;
};

std::string render_labels(const Labels& labels);

}  // namespace mlxr::telemetry
