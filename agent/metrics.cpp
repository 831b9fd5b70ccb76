#include "agent/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "agent/bucket_spec.h"
#include "agent/http_method.h"
#include "agent/log.h"
#include "protocols/dns_message.h"
#include "protocols/grpc_path.h"
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
      f.type = s.histogram ? prometheus::MetricType::Histogram
               : s.counter ? prometheus::MetricType::Counter
                           : prometheus::MetricType::Gauge;
      prometheus::ClientMetric m;
      for (const auto& [k, v] : s.labels) m.label.push_back({k, v});
      if (s.histogram) {
        m.histogram.sample_count = uint64_t(s.value);
        m.histogram.sample_sum = s.sum;
        for (const auto& [bound, count] : s.buckets) m.histogram.bucket.push_back({count, bound});
        m.histogram.bucket.push_back({uint64_t(s.value), std::numeric_limits<double>::infinity()});
      } else {
        (s.counter ? m.counter.value : m.gauge.value) = s.value;
      }
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
constexpr size_t kFamilies = 6;  // each keeps one series of the budget for its overflow

double Seconds(const protocols::HttpTransaction& t) {
  return t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e9 : 0.0;
}

}  // namespace

Metrics::Metrics(const MetricsOptions& options, TableRegistry& tables)
    : options_(options),
      series_table_(tables.Add("metric_series", options.max_series, {Eviction::kFull, Eviction::kIdle})),
      routes_(tables.Add("http_routes", 0, {Eviction::kFull, Eviction::kIdle}),
              options.max_routes_per_service, options.max_services, "/_other"),
      addresses_(tables.Add("server_addresses", 0, {Eviction::kFull, Eviction::kIdle}),
                 options.max_values_per_service, options.max_services, "_other"),
      dns_names_(tables.Add("dns_question_names", 0, {Eviction::kFull, Eviction::kIdle}),
                 options.max_values_per_service, options.max_services, "_other"),
      rpc_methods_(tables.Add("rpc_methods", 0, {Eviction::kFull, Eviction::kIdle}),
                   options.max_routes_per_service, options.max_services, "_other/_other"),
      containers_(tables.Add("container_id_values", 0, {Eviction::kFull, Eviction::kIdle}),
                  options.max_values_per_service, options.max_services, "_other") {
  if (!options_.route)
    options_.route = [](std::string_view target) { return protocols::TemplateRoute(target); };
}

Result<std::unique_ptr<Metrics>> Metrics::Start(const MetricsOptions& options, SampleSource self_metrics,
                                                TableRegistry& tables) {
  // ParseArgs checked them already; a wrong list here would make prometheus-cpp's histograms wrong silently.
  if (!options.buckets.empty())
    if (auto ok = ValidateBuckets(options.buckets, "buckets"); !ok) return Error{ok.error()};
  for (const auto& [name, bounds] : options.metric_buckets)
    if (auto ok = ValidateBuckets(bounds, "buckets " + name); !ok) return Error{ok.error()};
  std::unique_ptr<Metrics> m(new Metrics(options, tables));
  m->registry_ = std::make_shared<prometheus::Registry>();
  auto family = [&m](const char* name, const char* help) {
    return &prometheus::BuildHistogram().Name(name).Help(help).Register(*m->registry_);
  };
  m->server_ =
      family("http_server_request_duration_seconds",
             "Duration of HTTP requests served by processes on this node (first request byte read to "
             "last response byte written)");
  m->client_ =
      family("http_client_request_duration_seconds",
             "Duration of HTTP requests made by processes on this node (first request byte written to "
             "last response byte read)");
  m->dns_lookup_ =
      family("dns_lookup_duration_seconds",
             "Duration of DNS lookups made by processes on this node (query sent to answer received)");
  m->dns_server_ =
      family("dns_server_request_duration_seconds",
             "Duration of DNS queries answered by servers on this node (query received to answer sent)");
  m->rpc_server_ =
      family("rpc_server_duration_seconds",
             "Duration of gRPC calls served by processes on this node (first request frame read to the "
             "response's end of stream written), streaming calls once");
  m->rpc_client_ =
      family("rpc_client_duration_seconds",
             "Duration of gRPC calls made by processes on this node (first request frame written to the "
             "response's end of stream read), streaming calls once");
  for (const Family* f :
       {m->server_, m->client_, m->dns_lookup_, m->dns_server_, m->rpc_server_, m->rpc_client_}) {
    m->dropped_[f] = 0;
    const auto own = options.metric_buckets.find(f->GetName());
    m->buckets_[f] = own != options.metric_buckets.end() ? own->second
                     : !options.buckets.empty()          ? options.buckets
                                                         : DefaultBuckets();
  }
  m->self_ = std::make_shared<SelfMetricsCollectable>(std::move(self_metrics));
  return m;
}

std::string Metrics::Exposition() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : self_->Collect()) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

Metrics::~Metrics() = default;

prometheus::Histogram& Metrics::HistogramFor(Family& family, std::span<const LabelView> labels,
                                             uint64_t now_ns) {
  std::string key = family.GetName();
  for (const auto& [name, value] : labels) {  // length-prefixed: any byte may appear in a value
    const uint32_t n = uint32_t(name.size() + value.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof(n)).append(name).append(value);
  }
  if (auto it = series_.find(key); it != series_.end()) {
    it->second.last_ns = now_ns;
    return *it->second.histogram;
  }
  if (series_.size() + kFamilies < options_.max_series) return Add(family, labels, std::move(key), now_ns);
  // Over budget: the metric's overflow series, every label "_overflow".
  series_table_.Evicted(Eviction::kFull);
  dropped_.at(&family)++;
  std::vector<LabelView> overflow(labels.begin(), labels.end());
  for (auto& [name, value] : overflow) value = kOverflow;
  std::string overflow_key = family.GetName() + '\0' + std::string(kOverflow);
  if (auto it = series_.find(overflow_key); it != series_.end()) {
    it->second.last_ns = now_ns;
    return *it->second.histogram;
  }
  return Add(family, overflow, std::move(overflow_key), now_ns);
}

prometheus::Histogram& Metrics::Add(Family& family, std::span<const LabelView> labels, std::string key,
                                    uint64_t now_ns) {
  prometheus::Labels map;
  for (const auto& [name, value] : labels) map.emplace(name, value);
  prometheus::Histogram* h = &family.Add(map, buckets_.at(&family));
  series_.emplace(std::move(key), Series{h, &family, now_ns});
  series_table_.set_entries(series_.size());
  return *h;
}

void Metrics::Expire(uint64_t now_ns) {
  if (now_ns < options_.series_ttl_ns) return;
  const uint64_t before = now_ns - options_.series_ttl_ns;
  for (auto it = series_.begin(); it != series_.end();) {
    if (it->second.last_ns >= before) {
      ++it;
      continue;
    }
    it->second.family->Remove(it->second.histogram);
    it = series_.erase(it);
    series_table_.Evicted(Eviction::kIdle);
  }
  series_table_.set_entries(series_.size());
  routes_.Expire(before);
  addresses_.Expire(before);
  dns_names_.Expire(before);
  rpc_methods_.Expire(before);
  containers_.Expire(before);
}

std::string_view Metrics::ContainerLabel(std::string_view service, std::string_view id, uint64_t now_ns) {
  return id.empty() ? std::string_view() : containers_.Admit(service, id, now_ns);
}

std::vector<Sample> Metrics::Samples() const {
  std::vector<Sample> out;
  for (const auto& [family, dropped] : dropped_) {
    out.push_back({"l7tap_series_dropped_total",
                   "Observations recorded in a metric's overflow series (every label \"_overflow\") because "
                   "--max-series was reached",
                   true,
                   {{"metric", family->GetName()}},
                   double(dropped.load(std::memory_order_relaxed))});
  }
  return out;
}

void Metrics::Record(const TransactionRecord& r) {
  const auto& t = r.http;
  if (t.grpc) return RecordGrpc(r);
  const bool server = t.role == protocols::Role::kServer;
  const uint64_t now = t.end_ns;
  // 0: the stream ended before a status was seen, or its header block could not be decoded.
  const std::string status = t.status ? std::to_string(t.status) : std::string(),
                    port = std::to_string(r.server_port);
  bool over = false;
  // An HTTP/2 stream whose :path could not be decoded has no route (never the "/" an empty target templates
  // to).
  const std::string_view route = t.target.empty() && t.version == protocols::HttpVersion::k2
                                     ? std::string_view()
                                     : routes_.Admit(r.service_name, options_.route(t.target), now, &over);
  if (over) {
    Logf(LogLevel::kWarn,
         "%s has more than %zu distinct http_route values; further ones are recorded as "
         "\"/_other\" (template them with --route PATTERN, or raise --max-routes-per-service)",
         r.service_name.c_str(), routes_.per_service());
  }
  std::vector<LabelView> labels = {
      {"http_request_method", StandardMethod(t.method)},
      {"http_response_status_code", status},
      {"http_route", route},
      {"network_protocol_version", protocols::HttpVersionName(t.version)},
      {"service_name", r.service_name},
      {"server_port", port},
      {"container_id", ContainerLabel(r.service_name, r.container_id, now)},
  };
  // Servers have no server_address label (it would be their own address).
  if (!server) labels.push_back({"server_address", addresses_.Admit(r.service_name, r.server_address, now)});
  // Only streams that ended early carry error_type.
  if (t.end != protocols::StreamEnd::kComplete)
    labels.push_back({"error_type", protocols::StreamEndName(t.end)});
  HistogramFor(server ? *server_ : *client_, labels, now).Observe(Seconds(t));
}

void Metrics::RecordGrpc(const TransactionRecord& r) {
  const auto& t = r.http;
  const bool server = t.role == protocols::Role::kServer;
  const uint64_t now = t.end_ns;
  const protocols::GrpcMethod m = protocols::SplitGrpcPath(t.target);
  std::string joined;
  if (!m.service.empty()) joined.append(m.service).append("/").append(m.method);
  // One budget for the pair: a service with generated method names stays bounded as a whole.
  const std::string_view admitted =
      joined.empty() ? std::string_view("_OTHER/_OTHER") : rpc_methods_.Admit(r.service_name, joined, now);
  const size_t slash = admitted.find('/');
  const std::string status = t.grpc_status >= 0 ? std::to_string(t.grpc_status) : std::string(),
                    port = std::to_string(r.server_port);
  std::vector<LabelView> labels = {
      {"rpc_system", "grpc"},
      {"rpc_service", admitted.substr(0, slash)},
      {"rpc_method", admitted.substr(slash + 1)},
      {"rpc_grpc_status_code", status},
      {"service_name", r.service_name},
      {"server_port", port},
      {"container_id", ContainerLabel(r.service_name, r.container_id, now)},
  };
  if (!server) labels.push_back({"server_address", addresses_.Admit(r.service_name, r.server_address, now)});
  if (t.end != protocols::StreamEnd::kComplete)
    labels.push_back({"error_type", protocols::StreamEndName(t.end)});
  HistogramFor(server ? *rpc_server_ : *rpc_client_, labels, now).Observe(Seconds(t));
}

void Metrics::RecordDns(const DnsRecord& r) {
  const auto& t = r.dns;
  const uint64_t now = t.end_ns;
  const bool server = t.role == protocols::Role::kServer;
  const std::string port = std::to_string(r.server_port);
  std::vector<LabelView> labels = {
      {"dns_question_type", protocols::DnsTypeName(t.type)},
      {"dns_response_code", protocols::DnsRcodeName(t.rcode)},
      {"service_name", r.service_name},
      {"server_port", port},
      {"container_id", ContainerLabel(r.service_name, r.container_id, now)},
  };
  // Lookups: the server asked (a datagram's peer: one socket may ask several). Servers have none (their own).
  if (!server) labels.push_back({"server_address", addresses_.Admit(r.service_name, r.server_address, now)});
  if (options_.dns_name_label)
    labels.push_back({"dns_question_name", dns_names_.Admit(r.service_name, t.name, now)});
  const double seconds = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e9 : 0.0;
  HistogramFor(server ? *dns_server_ : *dns_lookup_, labels, now).Observe(seconds);
}

}  // namespace l7tap::agent
