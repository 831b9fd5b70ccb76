#pragma once
// The Prometheus side: transaction histograms, self-metrics, and the /metrics HTTP endpoint. Bounded: label
// values per service are capped (http_route, server_address, dns_question_name), the number of series is
// capped (past it, a metric's observations go to its overflow series), and series not updated for the TTL
// leave /metrics. Label names follow the OpenTelemetry semantic conventions, dots as underscores.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/connection_tracker.h"
#include "agent/label_budget.h"
#include "agent/sample.h"
#include "agent/table_stats.h"
#include "common/result.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace l7tap::agent {

// Latency buckets in seconds: sub-millisecond up to 10 s.
const std::vector<double>& DefaultBuckets();

struct MetricsOptions {
  std::string listen = "0.0.0.0:9464";
  size_t max_series = 20000;                 // histogram series, all metrics together
  uint64_t series_ttl_ns = 600'000'000'000;  // a series not updated this long is removed
  size_t max_routes_per_service = 100;       // then http_route="/_other"
  size_t max_values_per_service = 100;       // server_address, dns_question_name: then "_other"
  size_t max_services = 4096;                // services whose label values are tracked
  bool dns_name_label = false;               // dns_question_name as a label
  // Bucket bounds (validated: agent/bucket_spec.h): every transaction histogram's, then per metric name.
  // Empty: DefaultBuckets().
  std::vector<double> buckets;
  std::map<std::string, std::vector<double>> metric_buckets;
  std::function<std::string(std::string_view target)> route;  // target -> http_route (default TemplateRoute)
};

class Metrics {
 public:
  // Starts serving /metrics on `options.listen` (ADDR:PORT); empty: not served.
  static Result<std::unique_ptr<Metrics>> Start(const MetricsOptions& options, SampleSource self_metrics,
                                                TableRegistry& tables);
  ~Metrics();

  // HTTP/1 and HTTP/2 exchanges to http_{server,client}_request_duration_seconds; gRPC calls (HTTP/2 with a
  // gRPC content-type) to rpc_{server,client}_duration_seconds instead.
  void Record(const TransactionRecord& r);
  // Client lookups go to dns_lookup_duration_seconds, answers given by a traced server to
  // dns_server_request_duration_seconds. With dns_name_label, the question name is a label too.
  void RecordDns(const DnsRecord& r);
  // Removes series and label values unused since now - TTL.
  void Expire(uint64_t now_ns);
  // l7tap_series_dropped_total{metric}.
  std::vector<Sample> Samples() const;
  const prometheus::Registry& registry() const { return *registry_; }  // what /metrics serves (tests)
  size_t series() const { return series_.size(); }

  static constexpr std::string_view kOverflow = "_overflow";

 private:
  using Family = prometheus::Family<prometheus::Histogram>;
  using LabelView = std::pair<std::string_view, std::string_view>;
  struct Series {
    prometheus::Histogram* histogram;
    Family* family;
    uint64_t last_ns;
  };
  explicit Metrics(const MetricsOptions& options, TableRegistry& tables);
  prometheus::Histogram& HistogramFor(Family& family, std::span<const LabelView> labels, uint64_t now_ns);
  prometheus::Histogram& Add(Family& family, std::span<const LabelView> labels, std::string key,
                             uint64_t now_ns);
  void RecordGrpc(const TransactionRecord& r);
  // container_id within the service's budget; "" (host processes) is never counted against it.
  std::string_view ContainerLabel(std::string_view service, std::string_view id, uint64_t now_ns);

  MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  Family* server_ = nullptr;
  Family* client_ = nullptr;
  Family* dns_lookup_ = nullptr;
  Family* dns_server_ = nullptr;
  Family* rpc_server_ = nullptr;
  Family* rpc_client_ = nullptr;
  // Label values (joined) -> the family's histogram. prometheus-cpp's Family::Add builds a histogram and a
  // label map on every call before finding the existing one: most of the agent's cost per transaction.
  std::unordered_map<std::string, Series> series_;
  TableStats& series_table_;
  LabelBudget routes_;
  LabelBudget addresses_;
  LabelBudget dns_names_;
  LabelBudget rpc_methods_;  // "service/method" of gRPC calls
  LabelBudget containers_;   // container_id
  // Per family: observations folded into its overflow series. Filled at construction only (the metrics
  // thread reads it).
  std::unordered_map<const Family*, std::atomic<uint64_t>> dropped_;
  std::unordered_map<const Family*, std::vector<double>> buckets_;  // each family's bounds
  std::shared_ptr<class SelfMetricsCollectable> self_;
};

}  // namespace l7tap::agent
