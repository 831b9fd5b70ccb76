// FindGoKeyLogHook on every Go fixture (fixtures/go): each toolchain x {default, stripped, pie, stripped-pie}
// x {server, client}, the gRPC builds (default and stripped, oldest and newest toolchain) and the h2c server.
// The expected entry is crypto/tls.(*Config).writeKeyLog in the .symtab of the file or of its unstripped twin
// (readelf), mapped to a file offset through the file's own PT_LOADs.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "symbolizer/tls_keylog_hook.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

namespace t = testing;

constexpr const char* kWriteKeyLog = "crypto/tls.(*Config).writeKeyLog";

struct GoCase {
  std::string path;
  std::string twin;  // the unstripped build of the same source, toolchain and mode (itself when unstripped)
};

std::vector<GoCase> GoCases(const std::vector<t::GoToolchain>& toolchains) {
  std::vector<GoCase> cases;
  const std::string dir = L7TAP_GO_FIXTURES_DIR;
  for (const t::GoToolchain& toolchain : toolchains) {
    for (const std::string program : {"server", "client"}) {
      for (const std::string variant : {"default", "pie"}) {
        const std::string twin = t::GoFixture(toolchain, variant, program);
        cases.push_back({twin, twin});
        cases.push_back(
            {t::GoFixture(toolchain, variant == "pie" ? "stripped-pie" : "stripped", program), twin});
      }
    }
  }
  // As fixtures/go/CMakeLists.txt builds them: gRPC with the oldest and newest toolchain, h2c with the
  // newest.
  std::vector<t::GoToolchain> grpc{toolchains.front()};
  if (toolchains.size() > 1) grpc.push_back(toolchains.back());
  for (const t::GoToolchain& toolchain : grpc) {
    for (const std::string program : {"server", "client"}) {
      const std::string twin = dir + "/grpc/go" + toolchain.version + "-default-" + program;
      cases.push_back({twin, twin});
      cases.push_back({dir + "/grpc/go" + toolchain.version + "-stripped-" + program, twin});
    }
  }
  const std::string h2c = dir + "/h2c/go" + toolchains.back().version + "-h2c-server";
  cases.push_back({h2c, h2c});
  return cases;
}

class GoKeyLogHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    toolchains_ = t::GoToolchains();
    ASSERT_FALSE(toolchains_.empty())
        << "no Go toolchain was found at configure time (make deps installs them)";
  }
  std::vector<t::GoToolchain> toolchains_;
};

TEST_F(GoKeyLogHookTest, EveryFixtureGivesWriteKeyLogsEntry) {
  std::map<std::string, uint64_t> twin_address;
  for (const GoCase& c : GoCases(toolchains_)) {
    if (!twin_address.contains(c.twin)) {
      const auto symbols = t::ReadelfFunctions(c.twin, ".symtab");
      ASSERT_TRUE(symbols.functions.contains(kWriteKeyLog)) << c.twin;
      twin_address[c.twin] = symbols.functions.at(kWriteKeyLog);
    }
    const bool stripped = c.path != c.twin;
    EXPECT_EQ(t::ReadelfHasSymtab(c.path), !stripped) << c.path;
    auto elf = t::MustOpen(c.path);
    ASSERT_NE(elf, nullptr);
    auto hook = FindGoKeyLogHook(*elf);
    ASSERT_TRUE(hook.ok()) << hook.error();
    EXPECT_EQ(hook->kind, KeyLogHookKind::kGoWriteKeyLog) << c.path;
    EXPECT_EQ(hook->offset, t::SegmentOffset(t::ReadelfLoads(c.path), twin_address[c.twin])) << c.path;
    EXPECT_EQ(hook->source, stripped ? "pclntab" : "symtab") << c.path;
    EXPECT_EQ(hook->thunk_offset, std::nullopt);
    // A Go entry is its stack check (lea into r12, or cmp with the stack guard): single-stepped.
    const auto lines = t::Objdump(c.twin, twin_address[c.twin], twin_address[c.twin] + 16);
    ASSERT_FALSE(lines.empty()) << c.twin;
    EXPECT_EQ(hook->instruction.substr(0, hook->instruction.find(' ')), lines[0].mnemonic) << c.path;
    EXPECT_TRUE(hook->single_step) << c.path << " " << hook->instruction;
  }
}

TEST_F(GoKeyLogHookTest, FilesWithoutGoTlsSayWhy) {
  const t::GoToolchain& newest = toolchains_.back();
  struct Case {
    std::string path;
    std::string error_after_path;
  };
  for (const Case& c :
       {Case{t::GoFixture(newest, "default", "resolver"),
             ": Go binary without crypto/tls (no crypto/tls.(*Config).writeKeyLog): no TLS "
             "secrets to capture"},
        Case{t::GoFixture(newest, "arm64", "server"), ": not x86-64 (e_machine 183)"},
        Case{t::kLs, ": not a Go binary"}, Case{L7TAP_FIXTURE_HTTP_SERVER_STATIC, ": not a Go binary"}}) {
    auto elf = t::MustOpen(c.path);
    ASSERT_NE(elf, nullptr);
    auto hook = FindGoKeyLogHook(*elf);
    ASSERT_FALSE(hook.ok()) << c.path;
    EXPECT_EQ(hook.error().rfind(c.path + c.error_after_path, 0), 0u) << hook.error();
    EXPECT_EQ(hook.error().find('\n'), std::string::npos) << hook.error();
  }
}

}  // namespace
}  // namespace l7tap::symbolizer
