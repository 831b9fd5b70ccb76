#include "agent/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>

#include "protocols/dns_message.h"
#include "protocols/http_route.h"

namespace l7tap::agent {

const std::vector<double>& DefaultBuckets() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                              0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return buckets;
}

class SelfMetricsCollectable : public prometheus::Collectable {
 public:
  explicit SelfMetricsCollectable(SampleSource source) : source_(std::move(source)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::map<std::string, prometheus::MetricFamily> families;
    for (const Sample& s : source_()) {
      auto& f = families[s.name];
      f.name = s.name;
      f.help = s.help;
      f.type = s.counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
      prometheus::ClientMetric m;
      for (const auto& [k, v] : s.labels) m.label.push_back({k, v});
      (s.counter ? m.counter.value : m.gauge.value) = s.value;
      f.metric.push_back(std::move(m));
    }
    std::vector<prometheus::MetricFamily> out;
    for (auto& [name, f] : families) out.push_back(std::move(f));
    return out;
  }

 private:
  SampleSource source_;
};

namespace {

// OpenTelemetry's rule: methods outside the known set become _OTHER, so the label stays bounded.
std::string_view MethodLabel(std::string_view m) {
  static constexpr std::string_view known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                               "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view k : known)
    if (m == k) return k;
  return "_OTHER";
}

}  // namespace

Result<std::unique_ptr<Metrics>> Metrics::Start(const std::string& listen, SampleSource self_metrics) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  m->server_ = &prometheus::BuildHistogram()
                    .Name("http_server_request_duration_seconds")
                    .Help(
                        "Duration of HTTP requests served by processes on this node (first request byte "
                        "read to last response byte written)")
                    .Register(*m->registry_);
  m->client_ = &prometheus::BuildHistogram()
                    .Name("http_client_request_duration_seconds")
                    .Help(
                        "Duration of HTTP requests made by processes on this node (first request byte "
                        "written to last response byte read)")
                    .Register(*m->registry_);
  m->dns_lookup_ = &prometheus::BuildHistogram()
                        .Name("dns_lookup_duration_seconds")
                        .Help(
                            "Duration of DNS lookups made by processes on this node (query sent to answer "
                            "received)")
                        .Register(*m->registry_);
  m->dns_server_ = &prometheus::BuildHistogram()
                        .Name("dns_server_request_duration_seconds")
                        .Help(
                            "Duration of DNS queries answered by servers on this node (query received to "
                            "answer sent)")
                        .Register(*m->registry_);
  m->self_ = std::make_shared<SelfMetricsCollectable>(std::move(self_metrics));
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return Error{"cannot serve /metrics on " + listen + " (" + e.what() +
                 "): choose a free address with --listen ADDR:PORT"};
  }
  m->exposer_->RegisterCollectable(m->registry_);
  m->exposer_->RegisterCollectable(m->self_);
  return m;
}

Metrics::~Metrics() = default;

prometheus::Histogram& Metrics::HistogramFor(prometheus::Family<prometheus::Histogram>& family,
                                             std::span<const LabelView> labels) {
  std::string key = family.GetName();
  for (const auto& [name, value] : labels) {  // length-prefixed: any byte may appear in a value
    const uint32_t n = uint32_t(name.size() + value.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof(n)).append(name).append(value);
  }
  auto [it, inserted] = histograms_.try_emplace(std::move(key), nullptr);
  if (inserted) {
    prometheus::Labels map;
    for (const auto& [name, value] : labels) map.emplace(name, value);
    it->second = &family.Add(map, DefaultBuckets());
  }
  return *it->second;
}

void Metrics::Record(const TransactionRecord& r) {
  const auto& t = r.http;
  const bool server = t.role == protocols::Role::kServer;
  const std::string status = std::to_string(t.status), port = std::to_string(r.server_port);
  const std::string route = protocols::TemplateRoute(t.target);
  const LabelView labels[] = {
      {"http_request_method", MethodLabel(t.method)},
      {"http_response_status_code", status},
      {"http_route", route},
      {"service_name", r.service_name},
      {"server_port", port},
      {"server_address", r.server_address},
  };
  const double seconds = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e9 : 0.0;
  // Servers have no server_address label (it would be their own address).
  HistogramFor(server ? *server_ : *client_, std::span(labels).first(server ? 5 : 6)).Observe(seconds);
}

void Metrics::RecordDns(const DnsRecord& r) {
  const auto& t = r.dns;
  std::string_view name;
  if (dns_name_label_) {
    auto& names = dns_names_[r.pid];
    if (names.size() < kMaxDnsNamesPerProcess) names.insert(t.name);
    name = names.contains(t.name) ? std::string_view(t.name) : "other";
  }
  const LabelView labels[] = {
      {"dns_question_type", protocols::DnsTypeName(t.type)},
      {"dns_response_code", protocols::DnsRcodeName(t.rcode)},
      {"service_name", r.service_name},
      {"dns_question_name", name},
  };
  auto& family = t.role == protocols::Role::kServer ? *dns_server_ : *dns_lookup_;
  const double seconds = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e9 : 0.0;
  HistogramFor(family, std::span(labels).first(dns_name_label_ ? 4 : 3)).Observe(seconds);
}

}  // namespace l7tap::agent
