#include "agent/bucket_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace l7tap::agent {
namespace {

constexpr std::string_view kMetrics[] = {
    "http_server_request_duration_seconds", "http_client_request_duration_seconds",
    "rpc_server_duration_seconds",          "rpc_client_duration_seconds",
    "dns_lookup_duration_seconds",          "dns_server_request_duration_seconds",
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::string Format(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string MetricList() {
  std::string out;
  for (std::string_view m : kMetrics) out.append(out.empty() ? "" : ", ").append(m);
  return out;
}

}  // namespace

std::span<const std::string_view> BucketMetrics() { return kMetrics; }

Result<Ok> ValidateBuckets(std::span<const double> bounds, std::string_view what) {
  const std::string prefix(what);
  if (bounds.empty()) return Error{prefix + ": expected at least one bucket bound (seconds)"};
  if (bounds.size() > kMaxBucketBounds)
    return Error{prefix + ": " + std::to_string(bounds.size()) + " bucket bounds, at most " +
                 std::to_string(kMaxBucketBounds)};
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || bounds[i] <= 0)
      return Error{prefix + ": bucket bound " + Format(bounds[i]) + " is not a positive number of seconds"};
    if (i > 0 && bounds[i] <= bounds[i - 1])
      return Error{prefix + ": bucket bounds must be strictly increasing (" + Format(bounds[i]) + " after " +
                   Format(bounds[i - 1]) + ")"};
  }
  return Ok{};
}

Result<BucketSpec> ParseBucketSpec(std::string_view spec) {
  const std::string what = "--buckets " + std::string(spec);
  BucketSpec out;
  std::string_view list = spec;
  if (const size_t eq = spec.find('='); eq != std::string_view::npos) {
    const std::string_view metric = Trim(spec.substr(0, eq));
    if (std::find(std::begin(kMetrics), std::end(kMetrics), metric) == std::end(kMetrics))
      return Error{what + ": unknown histogram \"" + std::string(metric) + "\" (expected one of " +
                   MetricList() + ")"};
    out.metric = std::string(metric);
    list = spec.substr(eq + 1);
  }
  if (Trim(list).empty()) return Error{what + ": expected comma-separated bucket bounds in seconds"};
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string_view item = Trim(list.substr(start, comma - start));
    double v = 0;
    const auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      return Error{what + ": \"" + std::string(item) + "\" is not a number of seconds"};
    out.bounds.push_back(v);
    start = comma + 1;
  }
  if (auto ok = ValidateBuckets(out.bounds, what); !ok) return Error{ok.error()};
  return out;
}

Result<Buckets> ParseBucketSpecs(std::span<const std::string> specs) {
  Buckets out;
  std::string all;
  for (const std::string& spec : specs) {
    if (spec.find('=') == std::string::npos) {
      all.append(all.empty() ? "" : ",").append(spec);
      continue;
    }
    auto one = ParseBucketSpec(spec);
    if (!one) return Error{one.error()};
    if (out.per_metric.contains(one->metric))
      return Error{"--buckets " + spec + ": " + one->metric + " given twice"};
    out.per_metric[one->metric] = std::move(one->bounds);
  }
  if (!all.empty()) {
    auto one = ParseBucketSpec(all);
    if (!one) return Error{one.error()};
    out.all = std::move(one->bounds);
  }
  return out;
}

}  // namespace l7tap::agent
