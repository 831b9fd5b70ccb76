#include "agent/config.h"

#include <gtest/gtest.h>

#include <vector>

namespace l7tap::agent {
namespace {

Result<Config> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "l7tap");
  return ParseArgs(int(args.size()), const_cast<char**>(args.data()));
}

TEST(ConfigTest, Defaults) {
  auto c = Parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "0.0.0.0:9464");
  EXPECT_EQ(c->syscall_probes, SyscallBackendChoice::kAuto);
  EXPECT_EQ(c->max_payload_bytes, 4096u);
  EXPECT_FALSE(c->print);
  EXPECT_TRUE(c->pids.empty());
  EXPECT_EQ(c->event_batch_ms, 10u);
}

TEST(ConfigTest, AllFlagsBothSpellings) {
  auto c =
      Parse({"--listen", "127.0.0.1:9999", "--print", "--syscall-probes=tracepoint", "--max-payload-bytes",
             "8192", "--pid", "12", "--pid=34", "--ringbuf-mib", "16", "--event-batch-ms=0"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->listen, "127.0.0.1:9999");
  EXPECT_TRUE(c->print);
  EXPECT_EQ(c->syscall_probes, SyscallBackendChoice::kTracepoint);
  EXPECT_EQ(c->max_payload_bytes, 8192u);
  EXPECT_EQ(c->pids, (std::vector<uint32_t>{12, 34}));
  EXPECT_EQ(c->ringbuf_kib, 16u << 10);
  EXPECT_EQ(c->event_batch_ms, 0u);
}

TEST(ConfigTest, Bounds) {
  auto c = Parse({"--ringbuf-kib", "4", "--max-connections=20000", "--conn-idle-timeout", "30", "--route",
                  "/users/{name}", "--route=/static/*", "--max-routes-per-service", "7",
                  "--max-values-per-service=9", "--max-series", "500", "--series-ttl=60",
                  "--max-traced-binaries", "3"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->ringbuf_kib, 4u);
  EXPECT_EQ(c->max_connections, 20000u);
  EXPECT_EQ(c->conn_idle_timeout_s, 30u);
  EXPECT_EQ(c->routes, (std::vector<std::string>{"/users/{name}", "/static/*"}));
  EXPECT_EQ(c->max_routes_per_service, 7u);
  EXPECT_EQ(c->max_values_per_service, 9u);
  EXPECT_EQ(c->max_series, 500u);
  EXPECT_EQ(c->series_ttl_s, 60u);
  EXPECT_EQ(c->max_traced_binaries, 3u);
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->ringbuf_kib, 8u << 10);
  EXPECT_EQ(defaults->max_connections, 65536u);
  EXPECT_EQ(defaults->conn_idle_timeout_s, 600u);
  EXPECT_EQ(defaults->max_routes_per_service, 100u);
  EXPECT_EQ(defaults->max_series, 20000u);
  EXPECT_EQ(defaults->series_ttl_s, 600u);
}

TEST(ConfigTest, BadValuesNameTheFlag) {
  for (auto args : std::vector<std::vector<const char*>>{{"--syscall-probes", "fentry"},
                                                         {"--max-payload-bytes", "1000000"},
                                                         {"--max-payload-bytes", "12x"},
                                                         {"--pid", "0"},
                                                         {"--listen", "9464"},
                                                         {"--ringbuf-mib", "3"},
                                                         {"--event-batch-ms", "1001"},
                                                         {"--event-batch-ms", "-1"},
                                                         {"--pid"},
                                                         {"--dns-ports", "0"},
                                                         {"--dns-ports", "70000"},
                                                         {"--dns-timeout", "0"},
                                                         {"--dns-timeout", "5s"},
                                                         {"--probe-placement", "cheap"},
                                                         {"--ringbuf-kib", "2"},
                                                         {"--ringbuf-kib", "12"},
                                                         {"--max-connections", "1"},
                                                         {"--conn-idle-timeout", "0"},
                                                         {"--max-series", "10"},
                                                         {"--series-ttl", "x"},
                                                         {"--max-routes-per-service", "0"},
                                                         {"--route"}}) {
    auto c = Parse(args);
    ASSERT_FALSE(c.ok()) << args[0];
    EXPECT_NE(c.error().find(args[0]), std::string::npos) << c.error();
  }
  auto unknown = Parse({"--bogus"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("--bogus"), std::string::npos);
}

TEST(ConfigTest, DnsFlags) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->dns_ports.empty());  // the probes' default: 53
  EXPECT_EQ(defaults->dns_timeout_ms, 5000u);
  EXPECT_FALSE(defaults->dns_name_label);
  auto c = Parse({"--dns-ports", "53", "--dns-ports=5353", "--dns-timeout", "0.25", "--dns-name-label"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->dns_ports, (std::vector<uint16_t>{53, 5353}));
  EXPECT_EQ(c->dns_timeout_ms, 250u);
  EXPECT_TRUE(c->dns_name_label);
}

TEST(ConfigTest, ProbeKindsCanBeTurnedOff) {
  EXPECT_EQ(Parse({"--syscall-probes=off"})->syscall_probes, SyscallBackendChoice::kOff);
  EXPECT_FALSE(Parse({"--tls-probes", "off"})->tls_probes);
  EXPECT_TRUE(Parse({})->tls_probes);
  EXPECT_FALSE(Parse({"--tls-probes", "maybe"}).ok());
}

TEST(ConfigTest, PidNamespaceIsRefusedUnlessAllowed) {
  EXPECT_FALSE(Parse({})->allow_pid_namespace);
  EXPECT_TRUE(Parse({"--allow-pid-namespace"})->allow_pid_namespace);
}

TEST(ConfigTest, ProbePlacement) {
  EXPECT_EQ(Parse({})->probe_placement, ProbePlacement::kOptimized);
  EXPECT_EQ(Parse({"--probe-placement=entry"})->probe_placement, ProbePlacement::kEntry);
  EXPECT_EQ(Parse({"--probe-placement", "optimized"})->probe_placement, ProbePlacement::kOptimized);
}

TEST(ConfigTest, HelpListsEveryFlag) {
  std::string help = HelpText();
  for (const char* flag :
       {"--listen", "--print", "--syscall-probes", "--max-payload-bytes", "--pid", "--help", "--ringbuf-mib",
        "--verbose", "--symbol-table", "--dns-ports", "--dns-timeout", "--dns-name-label",
        "--probe-placement", "--tls-probes", "--event-batch-ms", "--allow-pid-namespace"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace l7tap::agent
