#pragma once
// Histogram bucket bounds chosen by the user (--buckets, the config file's buckets:): parsed and checked
// here, applied by Metrics. Unset, the OpenTelemetry semantic conventions' defaults stay (DefaultBuckets()).
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

// More bounds make every series bigger on every scrape; 64 is far past any real need.
inline constexpr size_t kMaxBucketBounds = 64;

struct BucketSpec {
  std::string metric;  // empty: every transaction histogram
  std::vector<double> bounds;
};

// The histograms whose buckets can be chosen (the transaction histograms; the self-metrics keep theirs).
std::span<const std::string_view> BucketMetrics();

// "0.005,0.01,0.1" (every transaction histogram) or "METRIC=0.005,0.01,0.1" (one of BucketMetrics()).
// Errors name the flag: "--buckets SPEC: ...".
Result<BucketSpec> ParseBucketSpec(std::string_view spec);

struct Buckets {
  std::vector<double> all;                                // every transaction histogram's; empty: defaults
  std::map<std::string, std::vector<double>> per_metric;  // wins over `all`
};

// Every value --buckets was given (flags, L7TAP_BUCKETS, the config file's list or map of lists): the
// METRIC=LIST ones per metric (each metric once), the others joined into the list for every histogram (so a
// config file's `buckets: [0.01, 0.1]` is one list).
Result<Buckets> ParseBucketSpecs(std::span<const std::string> specs);

// Bounds in seconds: 1 to kMaxBucketBounds of them, finite, positive, strictly increasing. Errors start with
// `what` (e.g. "--buckets 0.1,0.05" or "buckets.dns_lookup_duration_seconds").
Result<Ok> ValidateBuckets(std::span<const double> bounds, std::string_view what);

}  // namespace l7tap::agent
