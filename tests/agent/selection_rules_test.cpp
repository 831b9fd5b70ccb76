#include "agent/selection_rules.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "agent/config.h"
#include "probes/events.h"

namespace l7tap::agent {
namespace {

Result<Config> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "l7tap");
  return ParseArgs(int(args.size()), const_cast<char**>(args.data()));
}

const std::string kId = "5e2a3c0d9f1b4a6e8c7d2f0a1b3e5c7d9f2a4b6c8e0d1f3a5b7c9e2d4f6a8b0c";

TEST(ExeMatchesTest, GlobWithoutSlashMatchesTheFileName) {
  EXPECT_TRUE(ExeMatches("nginx", "/usr/sbin/nginx"));
  EXPECT_TRUE(ExeMatches("python3*", "/usr/bin/python3.11"));
  EXPECT_TRUE(ExeMatches("http_[sc]*", "/work/build/fixtures/http_client"));
  EXPECT_FALSE(ExeMatches("nginx", "/usr/sbin/nginx-debug"));
  EXPECT_FALSE(ExeMatches("sbin", "/usr/sbin/nginx"));  // a directory is not the name
  EXPECT_FALSE(ExeMatches("nginx", ""));
}

TEST(ExeMatchesTest, GlobWithSlashMatchesTheWholePath) {
  EXPECT_TRUE(ExeMatches("/usr/sbin/*", "/usr/sbin/nginx"));
  EXPECT_FALSE(ExeMatches("/usr/*", "/usr/sbin/nginx"));  // '*' stays within a component
  EXPECT_TRUE(ExeMatches("/usr/*/nginx", "/usr/sbin/nginx"));
  EXPECT_FALSE(ExeMatches("sbin/nginx", "/usr/sbin/nginx"));  // not a suffix match
  EXPECT_TRUE(ExeMatches("*/nginx", "x/nginx"));
}

TEST(ContainerIdMatchesTest, FullIdOrPrefix) {
  EXPECT_TRUE(ContainerIdMatches(kId, kId));
  EXPECT_TRUE(ContainerIdMatches(kId.substr(0, 12), kId));
  EXPECT_FALSE(ContainerIdMatches("5e2a3c0d9f1c", kId));
  EXPECT_FALSE(ContainerIdMatches(kId.substr(0, 12), ""));  // host processes have none
  EXPECT_FALSE(ContainerIdMatches("", kId));
}

TEST(ExecVerdictTest, SelectsAndExcludesIndependently) {
  SelectionRules r;
  r.exes = {"http_server"};
  r.exclude_exes = {"/opt/*"};
  r.container_ids = {kId.substr(0, 12)};
  EXPECT_EQ(ExecVerdict(r, "/build/http_server", ""), L7TAP_SEL_MATCH);
  EXPECT_EQ(ExecVerdict(r, "/opt/http_server", ""), L7TAP_SEL_MATCH | L7TAP_SEL_EXCLUDED);
  EXPECT_EQ(ExecVerdict(r, "/opt/other", ""), L7TAP_SEL_EXCLUDED);
  EXPECT_EQ(ExecVerdict(r, "/bin/sh", kId), L7TAP_SEL_MATCH);
  EXPECT_EQ(ExecVerdict(r, "/bin/sh", ""), 0);
  r.exclude_container_ids = {kId};
  EXPECT_EQ(ExecVerdict(r, "/bin/sh", kId), L7TAP_SEL_MATCH | L7TAP_SEL_EXCLUDED);
}

TEST(SelectionRulesTest, WhatNeedsAVerdict) {
  SelectionRules r;
  EXPECT_FALSE(r.filters_processes());
  r.ports = {80};  // ports filter connections, not processes
  EXPECT_FALSE(r.filters_processes());
  r.exclude_exes = {"sshd"};
  EXPECT_TRUE(r.filters_processes());
  EXPECT_FALSE(r.selects_processes());
  EXPECT_TRUE(r.decides_at_exec());
  SelectionRules t;
  t.pid_trees = {1};
  EXPECT_TRUE(t.selects_processes());
  EXPECT_FALSE(t.decides_at_exec());
  SelectionRules c;
  c.cgroups = {"/sys/fs/cgroup/x"};
  EXPECT_TRUE(c.selects_processes());
  EXPECT_FALSE(c.decides_at_exec());
}

TEST(SelectionFlagsTest, ParsedRepeatable) {
  auto c = Parse({"--pid",
                  "7",
                  "--pid-tree=8",
                  "--pid-tree",
                  "9",
                  "--exclude-pid",
                  "10",
                  "--exe",
                  "nginx",
                  "--exclude-exe=/opt/*",
                  "--container-id",
                  kId.c_str(),
                  "--exclude-container-id",
                  "abcd",
                  "--cgroup",
                  "/sys/fs/cgroup/a",
                  "--exclude-cgroup",
                  "/sys/fs/cgroup/b",
                  "--port",
                  "80",
                  "--port=443",
                  "--exclude-port",
                  "22"});
  ASSERT_TRUE(c.ok()) << c.error();
  const SelectionRules& r = c->selection;
  EXPECT_EQ(r.pids, (std::vector<uint32_t>{7}));
  EXPECT_EQ(r.pid_trees, (std::vector<uint32_t>{8, 9}));
  EXPECT_EQ(r.exclude_pids, (std::vector<uint32_t>{10}));
  EXPECT_EQ(r.exes, (std::vector<std::string>{"nginx"}));
  EXPECT_EQ(r.exclude_exes, (std::vector<std::string>{"/opt/*"}));
  EXPECT_EQ(r.container_ids, (std::vector<std::string>{kId}));
  EXPECT_EQ(r.exclude_container_ids, (std::vector<std::string>{"abcd"}));
  EXPECT_EQ(r.cgroups, (std::vector<std::string>{"/sys/fs/cgroup/a"}));
  EXPECT_EQ(r.exclude_cgroups, (std::vector<std::string>{"/sys/fs/cgroup/b"}));
  EXPECT_EQ(r.ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(r.exclude_ports, (std::vector<uint16_t>{22}));
}

TEST(SelectionFlagsTest, FromTheEnvironmentCommaSeparated) {
  setenv("L7TAP_PORT", "80,443", 1);
  setenv("L7TAP_EXCLUDE_EXE", "sshd", 1);
  auto c = Parse({"--port", "8080"});  // the flag wins over its variable
  auto e = Parse({});
  unsetenv("L7TAP_PORT");
  unsetenv("L7TAP_EXCLUDE_EXE");
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_EQ(c->selection.ports, (std::vector<uint16_t>{8080}));
  EXPECT_EQ(e->selection.ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(e->selection.exclude_exes, (std::vector<std::string>{"sshd"}));
}

TEST(SelectionFlagsTest, RejectedWithTheReason) {
  struct Case {
    std::vector<const char*> args;
    std::string message;
  };
  const std::string too_long = kId + "0";
  for (const Case& t : std::vector<Case>{
           {{"--pid-tree", "0"}, "--pid-tree: Value 0 not in range 1 to 4194304 (see --help)"},
           {{"--exclude-pid", "x"}, "--exclude-pid: Value x not in range 1 to 4194304 (see --help)"},
           {{"--port", "0"}, "--port: Value 0 not in range 1 to 65535 (see --help)"},
           {{"--exclude-port", "65536"}, "--exclude-port: Value 65536 not in range 1 to 65535 (see --help)"},
           {{"--port", "80", "--exclude-port", "80"}, "--port 80 is also given to --exclude-port"},
           {{"--container-id", "abc"},
            "--container-id abc: expected a container id, 4 to 64 lowercase hex digits (a prefix of the full "
            "id)"},
           {{"--exclude-container-id", "ABCD"},
            "--exclude-container-id ABCD: expected a container id, 4 to 64 lowercase hex digits (a prefix of "
            "the "
            "full id)"},
           {{"--container-id", too_long.c_str()},
            "--container-id " + too_long +
                ": expected a container id, 4 to 64 lowercase hex digits (a prefix of the full id)"},
           {{"--exe", ""}, "--exe: expected a glob, e.g. nginx or /usr/sbin/*"},
           {{"--cgroup"}, "--cgroup: 1 required PATH missing (see --help)"},
       }) {
    auto c = Parse(t.args);
    ASSERT_FALSE(c.ok()) << t.args[0];
    EXPECT_EQ(c.error(), t.message);
  }
  std::vector<std::string> many;
  std::vector<const char*> args;
  for (int i = 0; i <= L7TAP_MAX_CGROUPS; ++i) many.push_back("/sys/fs/cgroup/" + std::to_string(i));
  for (const std::string& m : many) args.insert(args.end(), {"--cgroup", m.c_str()});
  auto c = Parse(args);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), "--cgroup: at most " + std::to_string(L7TAP_MAX_CGROUPS) + " values");
}

TEST(SelectionFlagsTest, HelpNamesEach) {
  const std::string help = HelpText();
  for (const char* flag : {"--pid-tree", "--exe", "--container-id", "--cgroup", "--port", "--exclude-pid",
                           "--exclude-exe", "--exclude-container-id", "--exclude-cgroup", "--exclude-port"})
    EXPECT_NE(help.find(std::string("\n  ") + flag + " "), std::string::npos) << flag;
}

}  // namespace
}  // namespace l7tap::agent
