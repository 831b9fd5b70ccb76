#pragma once
// One self-metric sample, produced at scrape time by whatever keeps the numbers.
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace l7tap::agent {

struct Sample {
  std::string name;
  std::string help;
  bool counter = true;  // else gauge
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;  // histograms: the count
  // A histogram: (upper bound, cumulative count) per bucket, +Inf being `value`; `counter` is ignored.
  bool histogram = false;
  std::vector<std::pair<double, uint64_t>> buckets;
  double sum = 0;
};
using SampleSource = std::function<std::vector<Sample>()>;

}  // namespace l7tap::agent
