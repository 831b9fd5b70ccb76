#pragma once
// A fixed-bucket latency histogram for self-metrics: observed on one thread, read at scrape time by another.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "agent/sample.h"

namespace l7tap::agent {

class LatencyHistogram {
 public:
  // Upper bounds in seconds: 1 ms to 10 s.
  static constexpr std::array<double, 14> kBounds = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                                     0.2,   0.5,   1,     2,    5,    10,   30};
  void Observe(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(uint64_t(seconds * 1e6), std::memory_order_relaxed);
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }
  // One histogram sample (cumulative buckets, as Prometheus wants them).
  Sample ToSample(std::string name, std::string help,
                  std::vector<std::pair<std::string, std::string>> labels) const {
    Sample s;
    s.name = std::move(name);
    s.help = std::move(help);
    s.labels = std::move(labels);
    s.histogram = true;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      s.buckets.emplace_back(kBounds[i], cumulative);
    }
    cumulative += counts_[kBounds.size()].load(std::memory_order_relaxed);
    s.value = double(cumulative);
    s.sum = double(sum_us_.load(std::memory_order_relaxed)) / 1e6;
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

}  // namespace l7tap::agent
