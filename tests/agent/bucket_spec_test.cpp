// --buckets: what is accepted, and that every malformed list is refused with a message naming the flag.
#include "agent/bucket_spec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "agent/config.h"

namespace l7tap::agent {
namespace {

TEST(BucketSpecTest, ListForEveryHistogram) {
  auto s = ParseBucketSpec("0.005,0.01, 0.1,1,2.5e1");
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->metric, "");
  EXPECT_EQ(s->bounds, (std::vector<double>{0.005, 0.01, 0.1, 1, 25}));
}

TEST(BucketSpecTest, ListForOneMetric) {
  auto s = ParseBucketSpec("dns_lookup_duration_seconds=0.001,0.01");
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->metric, "dns_lookup_duration_seconds");
  EXPECT_EQ(s->bounds, (std::vector<double>{0.001, 0.01}));
  for (std::string_view m : BucketMetrics()) EXPECT_TRUE(ParseBucketSpec(std::string(m) + "=1").ok()) << m;
}

void ExpectRefused(const std::string& spec, const std::string& why) {
  auto s = ParseBucketSpec(spec);
  ASSERT_FALSE(s.ok()) << spec;
  EXPECT_EQ(s.error().rfind("--buckets " + spec + ": ", 0), 0u) << s.error();
  EXPECT_NE(s.error().find(why), std::string::npos) << s.error();
}

TEST(BucketSpecTest, RefusesMalformedLists) {
  ExpectRefused("", "expected comma-separated bucket bounds");
  ExpectRefused("http_server_request_duration_seconds=", "expected comma-separated bucket bounds");
  ExpectRefused("0.1,,0.2", "\"\" is not a number");
  ExpectRefused("0.1,", "\"\" is not a number");
  ExpectRefused("0.1,abc", "\"abc\" is not a number");
  ExpectRefused("0.1s", "\"0.1s\" is not a number");
  ExpectRefused("0.1,0.05", "strictly increasing (0.05 after 0.1)");
  ExpectRefused("0.1,0.1", "strictly increasing (0.1 after 0.1)");
  ExpectRefused("0,1", "bucket bound 0 is not a positive");
  ExpectRefused("-1,1", "bucket bound -1 is not a positive");
  ExpectRefused("1,inf", "bucket bound inf is not a positive");
  ExpectRefused("1,nan", "bucket bound nan is not a positive");
  ExpectRefused("http_server_duration=0.1", "unknown histogram \"http_server_duration\"");
  ExpectRefused("l7tap_event_lag_seconds=0.1", "expected one of http_server_request_duration_seconds");
}

TEST(BucketSpecTest, AtMost64Bounds) {
  std::string spec;
  for (int i = 1; i <= 64; ++i) spec += (i > 1 ? "," : "") + std::to_string(i);
  auto s = ParseBucketSpec(spec);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->bounds.size(), 64u);
  ExpectRefused(spec + ",65", "65 bucket bounds, at most 64");
}

TEST(BucketSpecTest, ValidateNamesItsSource) {
  const double bad[] = {1, std::numeric_limits<double>::infinity()};
  auto r = ValidateBuckets(bad, "buckets.dns_lookup_duration_seconds");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            "buckets.dns_lookup_duration_seconds: bucket bound inf is not a positive number of seconds");
  EXPECT_FALSE(ValidateBuckets({}, "buckets").ok());
}

Result<Config> Parse(std::vector<std::string> args) {
  std::vector<char*> argv = {const_cast<char*>("l7tap")};
  for (auto& a : args) argv.push_back(a.data());
  return ParseArgs(int(argv.size()), argv.data());
}

TEST(BucketSpecTest, Flag) {
  auto c = Parse({"--buckets", "0.01,0.1", "--buckets=dns_lookup_duration_seconds=0.5,1", "--buckets",
                  "rpc_server_duration_seconds=2"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->buckets, (std::vector<double>{0.01, 0.1}));
  EXPECT_EQ(c->metric_buckets.size(), 2u);
  EXPECT_EQ(c->metric_buckets["dns_lookup_duration_seconds"], (std::vector<double>{0.5, 1}));
  EXPECT_EQ(c->metric_buckets["rpc_server_duration_seconds"], (std::vector<double>{2}));
  auto d = Parse({});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->buckets.empty());
  EXPECT_TRUE(d->metric_buckets.empty());
  // Lists without a metric join up: a config file's `buckets: [0.1, 0.2]` arrives as two values.
  auto joined = Parse({"--buckets", "0.1", "--buckets", "0.2"});
  ASSERT_TRUE(joined.ok()) << joined.error();
  EXPECT_EQ(joined->buckets, (std::vector<double>{0.1, 0.2}));
  auto twice_metric =
      Parse({"--buckets", "dns_lookup_duration_seconds=0.1", "--buckets", "dns_lookup_duration_seconds=0.2"});
  ASSERT_FALSE(twice_metric.ok());
  EXPECT_NE(twice_metric.error().find("dns_lookup_duration_seconds given twice"), std::string::npos);
  auto bad = Parse({"--buckets", "0.2,0.1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "--buckets 0.2,0.1: bucket bounds must be strictly increasing (0.1 after 0.2)");
}

TEST(BucketSpecTest, Specs) {
  const std::vector<std::string> specs = {"0.01", "0.1", "dns_lookup_duration_seconds=0.5,1", "1"};
  auto b = ParseBucketSpecs(specs);
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->all, (std::vector<double>{0.01, 0.1, 1}));
  EXPECT_EQ(b->per_metric.at("dns_lookup_duration_seconds"), (std::vector<double>{0.5, 1}));
  auto none = ParseBucketSpecs({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->all.empty());
  EXPECT_TRUE(none->per_metric.empty());
  const std::vector<std::string> bad = {"0.1", "0.05"};
  auto refused = ParseBucketSpecs(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(),
            "--buckets 0.1,0.05: bucket bounds must be strictly increasing (0.05 after 0.1)");
}

// The config file's forms (a list, or a map of metric to list) and L7TAP_BUCKETS reach the same fields.
TEST(BucketSpecTest, ConfigFileAndEnvironment) {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "l7tap-buckets-test.yml").string();
  std::ofstream(path) << "buckets: [0.01, 0.1, 1]\n";
  auto list = Parse({"--config", path});
  ASSERT_TRUE(list.ok()) << list.error();
  EXPECT_EQ(list->buckets, (std::vector<double>{0.01, 0.1, 1}));
  std::ofstream(path) << "buckets:\n  dns_lookup_duration_seconds: [0.001, 0.01]\n"
                         "  http_server_request_duration_seconds: [0.5]\n";
  auto map = Parse({"--config", path});
  ASSERT_TRUE(map.ok()) << map.error();
  EXPECT_TRUE(map->buckets.empty());
  EXPECT_EQ(map->metric_buckets["dns_lookup_duration_seconds"], (std::vector<double>{0.001, 0.01}));
  EXPECT_EQ(map->metric_buckets["http_server_request_duration_seconds"], (std::vector<double>{0.5}));
  std::ofstream(path) << "buckets: [0.1, 0.01]\n";
  auto bad = Parse({"--config", path});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "--buckets 0.1,0.01: bucket bounds must be strictly increasing (0.01 after 0.1)");
  std::filesystem::remove(path);

  setenv("L7TAP_BUCKETS", "0.2,2", 1);
  auto env = Parse({});
  unsetenv("L7TAP_BUCKETS");
  ASSERT_TRUE(env.ok()) << env.error();
  EXPECT_EQ(env->buckets, (std::vector<double>{0.2, 2}));
}

}  // namespace
}  // namespace l7tap::agent
