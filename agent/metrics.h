#pragma once
// The Prometheus side: transaction histograms, self-metrics, and the /metrics HTTP endpoint.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/connection_tracker.h"
#include "common/result.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace l7tap::agent {

// One self-metric sample, produced at scrape time.
struct Sample {
  std::string name;
  std::string help;
  bool counter = true;  // else gauge
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};
using SampleSource = std::function<std::vector<Sample>()>;

// Latency buckets in seconds: sub-millisecond up to 10 s.
const std::vector<double>& DefaultBuckets();

class Metrics {
 public:
  // Starts serving /metrics on `listen` (ADDR:PORT).
  static Result<std::unique_ptr<Metrics>> Start(const std::string& listen, SampleSource self_metrics);
  ~Metrics();

  void Record(const TransactionRecord& r);
  // Client lookups go to dns_lookup_duration_seconds, answers given by a traced server to
  // dns_server_request_duration_seconds. With name_label, the question name is a label too, at most
  // kMaxDnsNamesPerProcess distinct names per process (then "other").
  void RecordDns(const DnsRecord& r);
  void SetDnsNameLabel(bool on) { dns_name_label_ = on; }
  // A process exited: its name budget goes (a later process may reuse the pid).
  void ForgetProcess(uint32_t pid) { dns_names_.erase(pid); }
  static constexpr size_t kMaxDnsNamesPerProcess = 100;
  const prometheus::Registry& registry() const { return *registry_; }  // what /metrics serves (tests)

 private:
  Metrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Histogram>* server_ = nullptr;
  prometheus::Family<prometheus::Histogram>* client_ = nullptr;
  prometheus::Family<prometheus::Histogram>* dns_lookup_ = nullptr;
  prometheus::Family<prometheus::Histogram>* dns_server_ = nullptr;
  // Label values (joined) -> the family's histogram. prometheus-cpp's Family::Add builds a histogram and a
  // label map on every call before finding the existing one: most of the agent's cost per transaction.
  // Histograms are never removed, so the pointers stay valid; label values are bounded, so is this cache.
  std::unordered_map<std::string, prometheus::Histogram*> histograms_;
  using LabelView = std::pair<std::string_view, std::string_view>;
  prometheus::Histogram& HistogramFor(prometheus::Family<prometheus::Histogram>& family,
                                      std::span<const LabelView> labels);
  bool dns_name_label_ = false;
  std::map<uint32_t, std::set<std::string>> dns_names_;  // per process: names given their own label value
  std::shared_ptr<class SelfMetricsCollectable> self_;
};

}  // namespace l7tap::agent
