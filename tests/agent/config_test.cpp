#include "agent/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  EXPECT_EQ(c->listen, ":9464");
  EXPECT_EQ(c->syscall_probes, SyscallBackendChoice::kAuto);
  EXPECT_EQ(c->max_payload_bytes, 4096u);
  EXPECT_FALSE(c->print);
  EXPECT_TRUE(c->selection.pids.empty());
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
  EXPECT_EQ(c->selection.pids, (std::vector<uint32_t>{12, 34}));
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
                                                         {"--listen", "localhost:9464"},
                                                         {"--listen", "[::1]9464"},
                                                         {"--listen", "unix:metrics.sock"},
                                                         {"--web-config"},
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

TEST(ConfigTest, LastOfARepeatedFlagWins) {
  auto c = Parse(
      {"--max-connections", "100", "--max-connections=200", "--listen", "10.0.0.1:1", "--listen", ":2"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->max_connections, 200u);
  EXPECT_EQ(c->listen, ":2");
}

TEST(ConfigTest, LogLevelAndFormat) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->log_level, LogLevel::kInfo);
  EXPECT_EQ(defaults->log_format, LogFormat::kText);
  auto c = Parse({"--log-level", "warn", "--log-format=json"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->log_level, LogLevel::kWarn);
  EXPECT_EQ(c->log_format, LogFormat::kJson);
  EXPECT_FALSE(Parse({"--log-level", "trace"}).ok());
  EXPECT_FALSE(Parse({"--log-format", "xml"}).ok());
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

// A YAML file in the test's scratch directory, removed at the end of the test.
class ConfigFileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name : {"L7TAP_MAX_CONNECTIONS", "L7TAP_PID", "L7TAP_PRINT", "L7TAP_CONFIG"})
      unsetenv(name);
    std::filesystem::remove(path_);
  }
  const char* Write(const std::string& yaml) {
    std::ofstream(path_) << yaml;
    return path_.c_str();
  }
  std::string path_ = (std::filesystem::path(::testing::TempDir()) / "l7tap-config-test.yml").string();
};

TEST_F(ConfigFileTest, FileSetsWhatFlagsDoNot) {
  const char* file = Write(
      "listen: 127.0.0.1:9999\n"
      "max_connections: 2048\n"  // underscores read as dashes
      "series-ttl: 60\n"
      "print: true\n"
      "pid: [12, 34]\n"
      "route: ['/users/{name}', '/static/*']\n"
      "syscall-probes: tracepoint\n"
      "dns-timeout: 0.25\n"
      "ringbuf-kib: 64\n");
  auto c = Parse({"--config", file});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->listen, "127.0.0.1:9999");
  EXPECT_EQ(c->max_connections, 2048u);
  EXPECT_EQ(c->series_ttl_s, 60u);
  EXPECT_TRUE(c->print);
  EXPECT_EQ(c->selection.pids, (std::vector<uint32_t>{12, 34}));
  EXPECT_EQ(c->routes, (std::vector<std::string>{"/users/{name}", "/static/*"}));
  EXPECT_EQ(c->syscall_probes, SyscallBackendChoice::kTracepoint);
  EXPECT_EQ(c->dns_timeout_ms, 250u);
  EXPECT_EQ(c->ringbuf_kib, 64u);
  EXPECT_EQ(c->max_payload_bytes, 4096u);  // not in the file: the default
}

TEST_F(ConfigFileTest, FlagBeatsEnvironmentBeatsFile) {
  const char* file = Write("max-connections: 2048\npid: [1]\nprint: false\nseries-ttl: 60\n");
  setenv("L7TAP_MAX_CONNECTIONS", "4096", 1);
  setenv("L7TAP_PID", "5,6", 1);
  setenv("L7TAP_PRINT", "true", 1);
  auto c = Parse({"--config", file, "--max-connections", "8192"});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->max_connections, 8192u);                         // flag
  EXPECT_EQ(c->selection.pids, (std::vector<uint32_t>{5, 6}));  // environment over file
  EXPECT_TRUE(c->print);                                        // environment over file
  EXPECT_EQ(c->series_ttl_s, 60u);                              // file over default
  auto env_only = Parse({});
  ASSERT_TRUE(env_only.ok()) << env_only.error();
  EXPECT_EQ(env_only->max_connections, 4096u);
}

TEST_F(ConfigFileTest, ConfigFileFromTheEnvironment) {
  setenv("L7TAP_CONFIG", Write("max-series: 500\n"), 1);
  auto c = Parse({});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->max_series, 500u);
}

TEST_F(ConfigFileTest, BadFilesNameTheKeyAndTheFix) {
  struct Case {
    std::string yaml, expect;
  };
  for (const Case& k : std::vector<Case>{{"bogus: 1\n", "unknown key 'bogus'"},
                                         {"help: true\n", "unknown key 'help'"},
                                         {"config: other.yml\n", "unknown key 'config'"},
                                         {"max-connections: 1\n", "max-connections"},
                                         {"pid: [1, x]\n", "pid"},
                                         {"print: maybe\n", "print"},
                                         {"print: [true, false]\n", "print"},
                                         {"listen:\n", "listen: no value"},
                                         {"route: [[a]]\n", "route"},
                                         {"- a\n- b\n", "expected a map"},
                                         {"a: [\n", "not valid YAML"}}) {
    auto c = Parse({"--config", Write(k.yaml)});
    ASSERT_FALSE(c.ok()) << k.yaml;
    EXPECT_NE(c.error().find(k.expect), std::string::npos) << k.yaml << " -> " << c.error();
    EXPECT_NE(c.error().find(path_), std::string::npos) << c.error();
  }
  auto missing = Parse({"--config", "/nonexistent/l7tap.yml"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("/nonexistent/l7tap.yml"), std::string::npos);
}

TEST_F(ConfigFileTest, BadEnvironmentValueNamesTheVariable) {
  setenv("L7TAP_MAX_CONNECTIONS", "3", 1);
  auto c = Parse({});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("L7TAP_MAX_CONNECTIONS"), std::string::npos) << c.error();
}

TEST_F(ConfigFileTest, EmptyFileSetsNothing) {
  auto c = Parse({"--config", Write("")});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->max_connections, 65536u);
}

}  // namespace
}  // namespace l7tap::agent
