// Go build info, pclntab lookups and l7tap symbols on the Go fixtures (fixtures/go), every toolchain found at
// configure time x {default, stripped, pie, stripped-pie}. Expected values are computed at test time: the
// version from `<toolchain>/bin/go version`, addresses from the .symtab (readelf) of the unstripped twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "agent/symbols_command.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_pclntab.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

namespace t = testing;

using Toolchain = t::GoToolchain;
std::vector<Toolchain> Toolchains() { return t::GoToolchains(); }
std::string Fixture(const Toolchain& toolchain, const std::string& variant, const std::string& program) {
  return t::GoFixture(toolchain, variant, program);
}
std::string ToolchainVersion(const Toolchain& toolchain) { return t::GoToolchainVersion(toolchain); }

const std::vector<std::string> kVariants = {"default", "stripped", "pie", "stripped-pie"};
const std::vector<std::string> kPrograms = {"server", "client"};

// The unstripped build of the same toolchain and mode.
std::string Twin(const std::string& variant) {
  return variant == "stripped-pie" ? "pie" : variant == "stripped" ? "default" : variant;
}

class GoFixtures : public ::testing::Test {
 protected:
  void SetUp() override {
    toolchains_ = Toolchains();
    if (toolchains_.empty())
      L7TAP_MISSING_DEPENDENCY("no Go toolchain was found at configure time (make deps installs them)");
  }
  std::vector<Toolchain> toolchains_;
};

TEST_F(GoFixtures, BuildInfoGivesTheToolchainVersion) {
  for (const Toolchain& toolchain : toolchains_) {
    const std::string expected = ToolchainVersion(toolchain);
    int major = 0, minor = 0;
    ASSERT_TRUE(ParseGoVersion(expected, major, minor)) << expected;
    EXPECT_EQ(std::to_string(major) + "." + std::to_string(minor), toolchain.version);
    for (const std::string& variant : kVariants) {
      for (const std::string& program : kPrograms) {
        const std::string path = Fixture(toolchain, variant, program);
        auto elf = t::MustOpen(path);
        ASSERT_NE(elf, nullptr);
        auto info = ReadGoBuildInfo(*elf);
        ASSERT_TRUE(info.ok()) << info.error();
        EXPECT_TRUE(info->is_go);
        EXPECT_EQ(info->version, expected) << path;
        EXPECT_EQ(info->major, major) << path;
        EXPECT_EQ(info->minor, minor) << path;
        EXPECT_EQ(info->ptr_size, 8) << path;
      }
    }
  }
}

TEST(GoBuildInfoTest, NonGoElfIsNotAGoBinary) {
  for (const std::string& path :
       {std::string(t::kLs), std::string(t::kLibssl), std::string(L7TAP_FIXTURE_HTTP_SERVER)}) {
    auto elf = t::MustOpen(path);
    ASSERT_NE(elf, nullptr);
    auto info = ReadGoBuildInfo(*elf);
    ASSERT_FALSE(info.ok()) << path;
    EXPECT_EQ(info.error().rfind(path + ": not a Go binary", 0), 0u) << info.error();
    EXPECT_EQ(info.error().find('\n'), std::string::npos);
    auto pclntab = GoPclntab::Read(*elf);
    ASSERT_FALSE(pclntab.ok());
    EXPECT_EQ(pclntab.error().rfind(path + ": ", 0), 0u) << pclntab.error();
    EXPECT_EQ(GoFunctionAddress(*elf, "crypto/tls.(*Conn).Read"), std::nullopt);
  }
}

TEST(GoBuildInfoTest, ParsesVersionTexts) {
  int major = 0, minor = 0;
  EXPECT_TRUE(ParseGoVersion("go1.22.12", major, minor));
  EXPECT_EQ(major, 1);
  EXPECT_EQ(minor, 22);
  EXPECT_TRUE(ParseGoVersion("go1.23rc1", major, minor));
  EXPECT_EQ(minor, 23);
  EXPECT_TRUE(ParseGoVersion("devel go1.24-0123abcd Tue Jan 1 2030", major, minor));
  EXPECT_EQ(minor, 24);
  EXPECT_FALSE(ParseGoVersion("gopher", major, minor));
}

TEST_F(GoFixtures, PclntabAddressesEqualTheUnstrippedTwinsSymtab) {
  for (const Toolchain& toolchain : toolchains_) {
    for (const std::string& variant : kVariants) {
      for (const std::string& program : kPrograms) {
        const std::string path = Fixture(toolchain, variant, program);
        const std::string twin = Fixture(toolchain, Twin(variant), program);
        const auto symbols = t::ReadelfFunctions(twin, ".symtab");
        ASSERT_FALSE(symbols.functions.empty()) << twin;
        EXPECT_EQ(t::ReadelfHasSymtab(path), variant.find("stripped") == std::string::npos) << path;
        std::vector<uint64_t> starts;
        for (const auto& [name, address] : symbols.functions) starts.push_back(address);
        std::sort(starts.begin(), starts.end());

        auto elf = t::MustOpen(path);
        ASSERT_NE(elf, nullptr);
        auto table = GoPclntab::Read(*elf);
        ASSERT_TRUE(table.ok()) << table.error();
        EXPECT_GT((*table)->function_count(), 1000u) << path;
        for (const char* name : kGoTlsFunctions) {
          const uint64_t expected = symbols.functions.at(name);
          auto function = (*table)->Find(name);
          ASSERT_TRUE(function.has_value()) << path << " " << name;
          EXPECT_EQ(function->address, expected) << path << " " << name;
          EXPECT_EQ(GoFunctionAddress(*elf, name), expected) << path << " " << name;
          // The end is the next function's entry.
          auto next = std::upper_bound(starts.begin(), starts.end(), expected);
          ASSERT_NE(next, starts.end());
          EXPECT_EQ(function->end, *next) << path << " " << name;
        }
        EXPECT_EQ((*table)->Find("crypto/tls.(*Conn).NoSuchMethod"), std::nullopt);
        EXPECT_EQ((*table)->Find("main.main").has_value(), true) << path;
      }
    }
  }
}

TEST_F(GoFixtures, InspectGoBinaryUsesSymtabOrPclntab) {
  for (const Toolchain& toolchain : toolchains_) {
    for (const std::string& variant : kVariants) {
      const std::string path = Fixture(toolchain, variant, "server");
      const std::string twin = Fixture(toolchain, Twin(variant), "server");
      const auto symbols = t::ReadelfFunctions(twin, ".symtab");
      const auto loads = t::ReadelfLoads(path);
      auto elf = t::MustOpen(path);
      ASSERT_NE(elf, nullptr);
      auto binary = InspectGoBinary(*elf);
      ASSERT_TRUE(binary.ok()) << binary.error();
      ASSERT_EQ(binary->functions.size(), std::size(kGoTlsFunctions)) << path;
      for (const GoTlsFunction& function : binary->functions) {
        EXPECT_EQ(function.source, variant.find("stripped") == std::string::npos ? "symtab" : "pclntab");
        EXPECT_EQ(function.address, symbols.functions.at(function.name)) << path;
        EXPECT_EQ(function.offset, t::SegmentOffset(loads, function.address)) << path;
        EXPECT_FALSE(function.return_offsets.empty()) << path << " " << function.name;
        for (uint64_t offset : function.return_offsets) {
          EXPECT_GT(offset, function.offset);
          EXPECT_LT(offset, function.offset + (function.end - function.address));
        }
      }
    }
  }
}

using t::Hex;

TEST_F(GoFixtures, SymbolsCommandPrintsGoVersionFunctionsReturnsAndFdOffsets) {
  for (const Toolchain& toolchain : toolchains_) {
    const std::string expected_version = ToolchainVersion(toolchain);
    for (const std::string& variant : kVariants) {
      const std::string path = Fixture(toolchain, variant, "client");
      std::ostringstream out, err;
      ASSERT_EQ(agent::RunSymbolsCommand({path}, out, err), 0) << err.str();
      EXPECT_EQ(err.str(), "");
      const std::string text = out.str();
      EXPECT_NE(text.find("tls: none\n"), std::string::npos) << text;
      EXPECT_NE(text.find("go: " + expected_version + "\n"), std::string::npos) << text;
      const auto symbols = t::ReadelfFunctions(Fixture(toolchain, Twin(variant), "client"), ".symtab");
      const auto loads = t::ReadelfLoads(path);
      const std::string source = variant.find("stripped") == std::string::npos ? "symtab" : "pclntab";
      auto elf = t::MustOpen(path);
      ASSERT_NE(elf, nullptr);
      auto binary = InspectGoBinary(*elf);
      ASSERT_TRUE(binary.ok()) << binary.error();
      for (const GoTlsFunction& function : binary->functions) {
        const std::string offset = Hex(t::SegmentOffset(loads, symbols.functions.at(function.name)));
        EXPECT_NE(text.find("function: " + function.name + " " + offset + " " + source + "\n"),
                  std::string::npos)
            << text;
        std::string returns;
        for (uint64_t ret : function.return_offsets) returns += (returns.empty() ? "" : ",") + Hex(ret);
        EXPECT_NE(text.find("returns: " + function.name + " " + returns + "\n"), std::string::npos) << text;
        EXPECT_NE(
            text.find("probe: " + function.name + " " + Hex(function.body_offset) + " past-stack-check\n"),
            std::string::npos)
            << text;
      }
      // The offsets' values are checked in go_fd_offsets_test.cpp; here, that they are shown with their
      // source.
      const GoFdOffsets& fd = binary->fd_offsets;
      EXPECT_EQ(fd.source,
                variant.find("stripped") == std::string::npos ? "dwarf" : "table go" + toolchain.version);
      EXPECT_NE(text.find("fd offsets: tls.Conn.conn=" + Hex(fd.tls_conn_conn) +
                          " net.conn.fd=" + Hex(fd.net_conn_fd) + " netFD.pfd=" + Hex(fd.net_fd_pfd) +
                          " poll.FD.Sysfd=" + Hex(fd.poll_fd_sysfd) + " (" + fd.source + ")\n"),
                std::string::npos)
          << text;
    }
  }
}

// A Go binary for another architecture (arm64, cross-built by fixtures/go): refused with a reason, by the
// symbolizer and by l7tap symbols.
TEST_F(GoFixtures, OtherArchitecturesAreRefused) {
  const std::string arm64 =
      std::string(L7TAP_GO_FIXTURES_DIR) + "/go" + toolchains_.back().version + "-arm64-server";
  auto elf = t::MustOpen(arm64);
  ASSERT_NE(elf, nullptr);
  auto build = ReadGoBuildInfo(*elf);
  ASSERT_TRUE(build.ok()) << build.error();
  EXPECT_EQ(build->version, ToolchainVersion(toolchains_.back()));
  auto binary = InspectGoBinary(*elf);
  ASSERT_FALSE(binary.ok());
  EXPECT_NE(binary.error().find(arm64 + ": not x86-64"), std::string::npos) << binary.error();
  std::ostringstream out, err;
  EXPECT_EQ(agent::RunSymbolsCommand({arm64}, out, err), 1);
  EXPECT_NE(err.str().find("not x86-64"), std::string::npos) << err.str();
}

TEST_F(GoFixtures, PclntabIndexIsFast) {
  // The largest fixture; the ≥ 20 MB figure is measured by the benchmark, not gated here.
  const std::string path = Fixture(toolchains_.back(), "stripped-pie", "server");
  auto elf = t::MustOpen(path);
  ASSERT_NE(elf, nullptr);
  const auto start = std::chrono::steady_clock::now();
  auto binary = InspectGoBinary(*elf);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(binary.ok()) << binary.error();
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 200) << path;
}

}  // namespace
}  // namespace l7tap::symbolizer
