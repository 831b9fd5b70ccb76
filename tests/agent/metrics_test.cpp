// Histogram series per label set: Metrics caches series in front of prometheus-cpp, so one label set must
// always reach the same series and two different ones never share one.
#include "agent/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <limits>
#include <map>

#include "agent/connection_tracker.h"
#include "protocols/http_route.h"
#include "protocols/route_patterns.h"

namespace l7tap::agent {
namespace {

// family name -> (labels as "k=v,k=v") -> sample count
using Counts = std::map<std::string, std::map<std::string, uint64_t>>;

Counts Collect(const Metrics& m) {
  Counts out;
  for (const auto& family : m.registry().Collect())
    for (const auto& metric : family.metric) {
      std::string labels;
      for (const auto& l : metric.label) labels += l.name + "=" + l.value + ",";
      out[family.name][labels] = metric.histogram.sample_count;
    }
  return out;
}

TransactionRecord Http(protocols::Role role, std::string target, std::string service, std::string address) {
  TransactionRecord r;
  r.http.role = role;
  r.http.start_ns = 1'000;
  r.http.end_ns = 2'000'000;
  r.http.method = "GET";
  r.http.target = std::move(target);
  r.http.status = 200;
  r.service_name = std::move(service);
  r.server_port = 8080;
  r.server_address = std::move(address);
  return r;
}

MetricsOptions Options() { return MetricsOptions{}; }

TEST(MetricsTest, OneSeriesPerLabelSet) {
  TableRegistry tables;
  auto m = Metrics::Start(
      Options(), [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  for (int i = 0; i < 3; ++i) (*m)->Record(Http(protocols::Role::kServer, "/a", "svc", ""));
  (*m)->Record(Http(protocols::Role::kServer, "/b", "svc", ""));
  // Label sets whose names and values, run together, read the same are still different label sets.
  (*m)->Record(Http(protocols::Role::kServer, "/aservice_name", "", ""));
  (*m)->Record(Http(protocols::Role::kServer, "/a", "service_name", ""));
  (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.1"));
  (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.1"));
  (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.2"));

  const std::string common = "container_id=,http_request_method=GET,http_response_status_code=200,";
  const Counts expected = {
      {"http_server_request_duration_seconds",
       {{common + "http_route=/a,network_protocol_version=1.1,server_port=8080,service_name=svc,", 3},
        {common + "http_route=/b,network_protocol_version=1.1,server_port=8080,service_name=svc,", 1},
        {common + "http_route=/aservice_name,network_protocol_version=1.1,server_port=8080,service_name=,",
         1},
        {common + "http_route=/a,network_protocol_version=1.1,server_port=8080,service_name=service_name,",
         1}}},
      {"http_client_request_duration_seconds",
       {{common + "http_route=/"
                  "a,network_protocol_version=1.1,server_address=10.0.0.1,server_port=8080,service_name=svc,",
         2},
        {common + "http_route=/"
                  "a,network_protocol_version=1.1,server_address=10.0.0.2,server_port=8080,service_name=svc,",
         1}}},
  };
  Counts got = Collect(**m);
  EXPECT_EQ(got["http_server_request_duration_seconds"], expected.at("http_server_request_duration_seconds"));
  EXPECT_EQ(got["http_client_request_duration_seconds"], expected.at("http_client_request_duration_seconds"));
}

TransactionRecord At(TransactionRecord r, uint64_t end_ns) {
  r.http.end_ns = end_ns;
  return r;
}

uint64_t Total(const Counts& c, const std::string& family) {
  uint64_t n = 0;
  if (auto it = c.find(family); it != c.end())
    for (const auto& [labels, count] : it->second) n += count;
  return n;
}

// 2000 user names under one path: the heuristics keep names (they could be words), the per-service cap
// bounds them, and a --route pattern makes them one route.
TEST(MetricsTest, RoutesPerServiceAreCappedThenOther) {
  TableRegistry tables;
  MetricsOptions o = Options();
  o.max_routes_per_service = 100;
  auto m = Metrics::Start(
      o, [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  for (int i = 0; i < 2000; ++i)
    (*m)->Record(Http(protocols::Role::kServer,
                      "/users/user" + std::string(1, char('a' + i % 26)) +
                          std::string(1, char('a' + i / 26 % 26)) + std::string(1, char('a' + i / 676)) +
                          "/profile",
                      "svc", ""));
  (*m)->Record(Http(protocols::Role::kServer, "/users/x/profile", "other-svc", ""));  // its own budget
  const Counts got = Collect(**m);
  const auto& server = got.at("http_server_request_duration_seconds");
  EXPECT_EQ(server.size(), 102u);  // 100 routes, "/_other", and other-svc's route
  const std::string common = "container_id=,http_request_method=GET,http_response_status_code=200,";
  EXPECT_EQ(server.at(common +
                      "http_route=/_other,network_protocol_version=1.1,server_port=8080,service_name=svc,"),
            1900u);
  EXPECT_EQ(Total(got, "http_server_request_duration_seconds"), 2001u);
  const TableStats* routes = tables.Find("http_routes");
  ASSERT_NE(routes, nullptr);
  EXPECT_EQ(routes->entries(), 101u);
  EXPECT_EQ(routes->evicted(Eviction::kFull), 1900u);

  TableRegistry tables2;
  MetricsOptions with_pattern = o;
  auto patterns = protocols::RoutePatterns::Parse({"/users/{name}/profile"});
  ASSERT_TRUE(patterns.ok()) << patterns.error();
  with_pattern.route = [&](std::string_view target) { return protocols::RouteFor(target, *patterns); };
  auto m2 = Metrics::Start(
      with_pattern, [] { return std::vector<Sample>{}; }, tables2);
  ASSERT_TRUE(m2.ok()) << m2.error();
  for (int i = 0; i < 2000; ++i)
    (*m2)->Record(
        Http(protocols::Role::kServer, "/users/name" + std::to_string(i % 7) + "x/profile", "svc", ""));
  const Counts got2 = Collect(**m2);
  ASSERT_EQ(got2.at("http_server_request_duration_seconds").size(), 1u);
  EXPECT_EQ(
      got2.at("http_server_request_duration_seconds").begin()->first,
      common +
          "http_route=/users/{name}/profile,network_protocol_version=1.1,server_port=8080,service_name=svc,");
}

// Past --max-series, observations go to the metric's overflow series, counted; nothing is lost.
TEST(MetricsTest, SeriesPastTheBudgetGoToTheOverflowSeries) {
  TableRegistry tables;
  MetricsOptions o = Options();
  o.max_series = 100;
  o.max_routes_per_service = 100000;
  auto m = Metrics::Start(
      o, [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  for (int i = 0; i < 500; ++i)
    (*m)->Record(Http(protocols::Role::kServer, "/r", "svc" + std::to_string(i), ""));
  const Counts got = Collect(**m);
  const auto& server = got.at("http_server_request_duration_seconds");
  // 94 (the budget less one overflow series for each of the 6 metrics) and the overflow one.
  EXPECT_EQ(server.size(), 95u);
  EXPECT_EQ(server.at("container_id=_overflow,http_request_method=_overflow,"
                      "http_response_status_code=_overflow,http_route=_overflow,"
                      "network_protocol_version=_overflow,server_port=_overflow,service_name=_overflow,"),
            406u);
  EXPECT_EQ(Total(got, "http_server_request_duration_seconds"), 500u);
  EXPECT_EQ((*m)->series(), 95u);
  double dropped = 0;
  for (const Sample& s : (*m)->Samples())
    if (s.labels.at(0).second == "http_server_request_duration_seconds") dropped = s.value;
  EXPECT_EQ(dropped, 406);
}

// Series not updated for the TTL leave /metrics; label values make room again.
TEST(MetricsTest, IdleSeriesExpire) {
  TableRegistry tables;
  MetricsOptions o = Options();
  o.series_ttl_ns = 1000;
  o.max_routes_per_service = 2;
  auto m = Metrics::Start(
      o, [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  (*m)->Record(At(Http(protocols::Role::kServer, "/old", "svc", ""), 10'000));
  (*m)->Record(At(Http(protocols::Role::kServer, "/new", "svc", ""), 20'000));
  (*m)->Record(At(Http(protocols::Role::kServer, "/third", "svc", ""), 20'000));  // over 2 routes: /_other
  (*m)->Expire(20'500);
  const Counts got = Collect(**m);
  const std::string common = "container_id=,http_request_method=GET,http_response_status_code=200,";
  EXPECT_EQ(
      got.at("http_server_request_duration_seconds"),
      (std::map<std::string, uint64_t>{
          {common + "http_route=/_other,network_protocol_version=1.1,server_port=8080,service_name=svc,", 1},
          {common + "http_route=/new,network_protocol_version=1.1,server_port=8080,service_name=svc,", 1}}));
  EXPECT_EQ(tables.Find("metric_series")->evicted(Eviction::kIdle), 1u);
  (*m)->Record(At(Http(protocols::Role::kServer, "/third", "svc", ""), 21'000));  // /old's route slot is free
  EXPECT_EQ(Collect(**m)
                .at("http_server_request_duration_seconds")
                .count(common +
                       "http_route=/third,network_protocol_version=1.1,server_port=8080,service_name=svc,"),
            1u);
}

// HTTP/2: its version label, error_type only on streams that ended early, an empty status and route when
// they are unknown; gRPC calls go to the rpc histograms only.
TEST(MetricsTest, Http2AndGrpcLabels) {
  TableRegistry tables;
  auto m = Metrics::Start(
      Options(), [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  TransactionRecord ok = Http(protocols::Role::kServer, "/a", "svc", "");
  ok.http.version = protocols::HttpVersion::k2;
  TransactionRecord reset = ok;
  reset.http.end = protocols::StreamEnd::kReset;
  reset.http.status = 0;
  TransactionRecord unknown = ok;
  unknown.http.target.clear();
  unknown.http.method.clear();
  TransactionRecord call = ok;
  call.http.method = "POST";
  call.http.target = "/l7tap.test.Echo/Unary";
  call.http.grpc = true;
  call.http.grpc_status = 5;
  TransactionRecord client_call = call;
  client_call.http.role = protocols::Role::kClient;
  client_call.server_address = "10.0.0.1";
  for (const auto* r : {&ok, &reset, &unknown, &call, &client_call}) (*m)->Record(*r);
  const Counts got = Collect(**m);
  EXPECT_EQ(got.at("http_server_request_duration_seconds"),
            (std::map<std::string, uint64_t>{
                {"container_id=,http_request_method=GET,http_response_status_code=200,http_route=/a,"
                 "network_protocol_version=2,server_port=8080,service_name=svc,",
                 1},
                {"container_id=,error_type=rst_stream,http_request_method=GET,http_response_status_code=,"
                 "http_route=/a,network_protocol_version=2,server_port=8080,service_name=svc,",
                 1},
                {"container_id=,http_request_method=_OTHER,http_response_status_code=200,http_route=,"
                 "network_protocol_version=2,server_port=8080,service_name=svc,",
                 1}}));
  EXPECT_EQ(got.at("rpc_server_duration_seconds"),
            (std::map<std::string, uint64_t>{
                {"container_id=,rpc_grpc_status_code=5,rpc_method=Unary,rpc_service=l7tap.test.Echo,"
                 "rpc_system=grpc,server_port=8080,service_name=svc,",
                 1}}));
  EXPECT_EQ(got.at("rpc_client_duration_seconds"),
            (std::map<std::string, uint64_t>{
                {"container_id=,rpc_grpc_status_code=5,rpc_method=Unary,rpc_service=l7tap.test.Echo,"
                 "rpc_system=grpc,server_address=10.0.0.1,server_port=8080,"
                 "service_name=svc,",
                 1}}));
}

// container_id on every family, "" for host processes; at most --max-values-per-service ids per service.
TEST(MetricsTest, ContainerIdLabel) {
  TableRegistry tables;
  MetricsOptions o = Options();
  o.max_values_per_service = 2;
  auto m = Metrics::Start(
      o, [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string ids[] = {std::string(64, 'a'), std::string(64, 'b'), std::string(64, 'c')};
  for (const std::string& id : ids) {
    TransactionRecord r = Http(protocols::Role::kServer, "/a", "svc", "");
    r.container_id = id;
    (*m)->Record(r);
  }
  (*m)->Record(Http(protocols::Role::kServer, "/a", "svc", ""));  // a host process: never over budget
  TransactionRecord call = Http(protocols::Role::kServer, "/l7tap.test.Echo/Unary", "svc", "");
  call.http.grpc = true;
  call.container_id = ids[0];
  (*m)->Record(call);
  DnsRecord dns;
  dns.dns.role = protocols::Role::kClient;
  dns.service_name = "svc";
  dns.container_id = ids[1];
  (*m)->RecordDns(dns);
  const Counts got = Collect(**m);
  const std::string rest =
      ",http_request_method=GET,http_response_status_code=200,http_route=/a,network_protocol_version=1.1,"
      "server_port=8080,service_name=svc,";
  EXPECT_EQ(got.at("http_server_request_duration_seconds"),
            (std::map<std::string, uint64_t>{{"container_id=" + ids[0] + rest, 1},
                                             {"container_id=" + ids[1] + rest, 1},
                                             {"container_id=_other" + rest, 1},
                                             {"container_id=" + rest, 1}}));
  EXPECT_EQ(got.at("rpc_server_duration_seconds").begin()->first.substr(0, 13 + 64),
            "container_id=" + ids[0]);
  EXPECT_EQ(got.at("dns_lookup_duration_seconds").begin()->first.substr(0, 13 + 64),
            "container_id=" + ids[1]);
  EXPECT_EQ(tables.Find("container_id_values")->evicted(Eviction::kFull), 1u);
}

TEST(MetricsTest, ServerAddressesPerServiceAreCapped) {
  TableRegistry tables;
  MetricsOptions o = Options();
  o.max_values_per_service = 3;
  auto m = Metrics::Start(
      o, [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  for (int i = 0; i < 10; ++i)
    (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0." + std::to_string(i)));
  const Counts got = Collect(**m);
  const std::string common =
      "container_id=,http_request_method=GET,http_response_status_code=200,http_route=/"
      "a,network_protocol_version=1.1,";
  EXPECT_EQ(got.at("http_client_request_duration_seconds").size(), 4u);
  EXPECT_EQ(got.at("http_client_request_duration_seconds")
                .at(common + "server_address=_other,server_port=8080,service_name=svc,"),
            7u);
}

// What /metrics serves: the histograms and the self-metrics in one text exposition.
TEST(MetricsTest, ExpositionHasHistogramsAndSelfMetrics) {
  TableRegistry tables;
  auto m = Metrics::Start(
      Options(),
      [] {
        return std::vector<Sample>{
            {"l7tap_events_lost_total", "Events lost", true, {{"reason", "ringbuf_full"}}, 3}};
      },
      tables);
  ASSERT_TRUE(m.ok()) << m.error();
  (*m)->Record(Http(protocols::Role::kServer, "/a", "svc", ""));
  const std::string text = (*m)->Exposition();
  EXPECT_NE(text.find("# TYPE http_server_request_duration_seconds histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("http_server_request_duration_seconds_count{"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP l7tap_events_lost_total Events lost\n# TYPE l7tap_events_lost_total counter\n"
                      "l7tap_events_lost_total{reason=\"ringbuf_full\"} 3\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace l7tap::agent

namespace l7tap::agent {
namespace {

// Bucket upper bounds (without +Inf) of each family's first series.
std::map<std::string, std::vector<double>> Bounds(const Metrics& m) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& family : m.registry().Collect()) {
    if (family.metric.empty()) continue;
    auto& bounds = out[family.name];
    for (const auto& b : family.metric.front().histogram.bucket)
      if (b.upper_bound != std::numeric_limits<double>::infinity()) bounds.push_back(b.upper_bound);
  }
  return out;
}

TEST(MetricsTest, BucketsDefaultThenEveryHistogramThenPerMetric) {
  auto record = [](Metrics& m) {
    m.Record(Http(protocols::Role::kServer, "/a", "svc", ""));
    m.Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.1"));
  };
  {
    TableRegistry tables;
    auto m = Metrics::Start(
        Options(), [] { return std::vector<Sample>{}; }, tables);
    ASSERT_TRUE(m.ok()) << m.error();
    record(**m);
    const auto bounds = Bounds(**m);
    EXPECT_EQ(bounds.at("http_server_request_duration_seconds"), DefaultBuckets());
    EXPECT_EQ(bounds.at("http_client_request_duration_seconds"), DefaultBuckets());
  }
  TableRegistry tables;
  MetricsOptions o = Options();
  o.buckets = {0.01, 0.1, 1};
  o.metric_buckets["http_client_request_duration_seconds"] = {0.5, 5};
  auto m = Metrics::Start(
      o, [] { return std::vector<Sample>{}; }, tables);
  ASSERT_TRUE(m.ok()) << m.error();
  record(**m);
  const auto bounds = Bounds(**m);
  EXPECT_EQ(bounds.at("http_server_request_duration_seconds"), (std::vector<double>{0.01, 0.1, 1}));
  EXPECT_EQ(bounds.at("http_client_request_duration_seconds"), (std::vector<double>{0.5, 5}));

  TableRegistry tables2;
  MetricsOptions bad = Options();
  bad.metric_buckets["dns_lookup_duration_seconds"] = {1, 0.5};
  auto refused = Metrics::Start(
      bad, [] { return std::vector<Sample>{}; }, tables2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(),
            "buckets dns_lookup_duration_seconds: bucket bounds must be strictly increasing (0.5 after 1)");
}

}  // namespace
}  // namespace l7tap::agent
