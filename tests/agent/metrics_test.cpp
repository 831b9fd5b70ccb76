// Histogram series per label set: Metrics caches series in front of prometheus-cpp, so one label set must
// always reach the same series and two different ones never share one.
#include "agent/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>

#include "agent/connection_tracker.h"

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

TEST(MetricsTest, OneSeriesPerLabelSet) {
  auto m = Metrics::Start("127.0.0.1:0", [] { return std::vector<Sample>{}; });
  ASSERT_TRUE(m.ok()) << m.error();
  for (int i = 0; i < 3; ++i) (*m)->Record(Http(protocols::Role::kServer, "/a", "svc", ""));
  (*m)->Record(Http(protocols::Role::kServer, "/b", "svc", ""));
  // Label sets whose names and values, run together, read the same are still different label sets.
  (*m)->Record(Http(protocols::Role::kServer, "/aservice_name", "", ""));
  (*m)->Record(Http(protocols::Role::kServer, "/a", "service_name", ""));
  (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.1"));
  (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.1"));
  (*m)->Record(Http(protocols::Role::kClient, "/a", "svc", "10.0.0.2"));

  const std::string common = "http_request_method=GET,http_response_status_code=200,";
  const Counts expected = {
      {"http_server_request_duration_seconds",
       {{common + "http_route=/a,server_port=8080,service_name=svc,", 3},
        {common + "http_route=/b,server_port=8080,service_name=svc,", 1},
        {common + "http_route=/aservice_name,server_port=8080,service_name=,", 1},
        {common + "http_route=/a,server_port=8080,service_name=service_name,", 1}}},
      {"http_client_request_duration_seconds",
       {{common + "http_route=/a,server_address=10.0.0.1,server_port=8080,service_name=svc,", 2},
        {common + "http_route=/a,server_address=10.0.0.2,server_port=8080,service_name=svc,", 1}}},
  };
  Counts got = Collect(**m);
  EXPECT_EQ(got["http_server_request_duration_seconds"], expected.at("http_server_request_duration_seconds"));
  EXPECT_EQ(got["http_client_request_duration_seconds"], expected.at("http_client_request_duration_seconds"));
}

}  // namespace
}  // namespace l7tap::agent
