#include "agent/symbols_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "symbolizer/address_table.h"
#include "symbolizer/tls_library.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::agent {
namespace {

namespace testing = symbolizer::testing;

struct Outcome {
  int status;
  std::string out;
  std::string err;
};

Outcome Symbols(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = RunSymbolsCommand(args, out, err);
  return {status, out.str(), err.str()};
}

std::string Hex(uint64_t value) {
  std::ostringstream text;
  text << "0x" << std::hex << value;
  return text.str();
}

TEST(SymbolsCommandTest, DescribesSharedLibssl) {
  const Outcome run = Symbols({testing::kLibssl});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const std::string build_id = testing::ReadelfBuildId(testing::kLibssl);
  const auto symbols = testing::ReadelfFunctions(testing::kLibssl, ".dynsym");
  const auto loads = testing::ReadelfLoads(testing::kLibssl);
  const std::string read_offset = Hex(testing::SegmentOffset(loads, symbols.functions.at("SSL_read")));
  EXPECT_NE(run.out.find("path: " + std::string(testing::kLibssl) + "\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("build-id: " + build_id + "\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("x86_64: yes\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("symtab: no\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("tls: OpenSSL " + testing::OpensslVersion() + "\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("function: SSL_read " + read_offset + " dynsym\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("function: SSL_write_ex "), std::string::npos) << run.out;
}

TEST(SymbolsCommandTest, TableOutputRoundTripsThroughParse) {
  const Outcome run = Symbols({"--table", testing::kLibssl});
  ASSERT_EQ(run.status, 0) << run.err;
  const std::string build_id = testing::ReadelfBuildId(testing::kLibssl);
  auto table = symbolizer::AddressTable::Parse(run.out, "symbols --table");
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_EQ(table->size(), std::size(symbolizer::kTlsFunctions));
  const auto symbols = testing::ReadelfFunctions(testing::kLibssl, ".dynsym");
  const auto loads = testing::ReadelfLoads(testing::kLibssl);
  for (const char* function : symbolizer::kTlsFunctions) {
    EXPECT_EQ(table->Offset(build_id, function),
              testing::SegmentOffset(loads, symbols.functions.at(function)))
        << function;
  }
}

TEST(SymbolsCommandTest, StrippedBinaryNeedsAndUsesASymbolTable) {
  const std::string stripped = L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED;
  Outcome run = Symbols({stripped});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.out.find("symtab: no\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("tls: none\n"), std::string::npos) << run.out;
  EXPECT_EQ(run.err,
            "l7tap symbols: " + stripped +
                ": no SSL_read/SSL_write symbols (stripped?); derive an address table from an unstripped "
                "build with 'l7tap symbols --table <unstripped binary>' and pass it with --symbol-table\n");

  // The workflow the hint describes.
  const Outcome derived = Symbols({L7TAP_FIXTURE_HTTP_SERVER_STATIC, "--table"});
  ASSERT_EQ(derived.status, 0) << derived.err;
  const std::string table = testing::WriteTempFile("derived_table.txt", derived.out);
  run = Symbols({stripped, "--symbol-table", table});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("tls: OpenSSL " + testing::OpensslVersion() + "\n"), std::string::npos) << run.out;
  const Outcome unstripped = Symbols({L7TAP_FIXTURE_HTTP_SERVER_STATIC});
  ASSERT_EQ(unstripped.status, 0) << unstripped.err;
  // Same functions at the same offsets; only the source differs.
  std::istringstream lines(unstripped.out);
  int functions = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("function: ", 0) != 0) continue;
    ++functions;
    const std::string prefix = line.substr(0, line.rfind(' '));
    EXPECT_EQ(line.substr(line.rfind(' ') + 1), "symtab");
    EXPECT_NE(run.out.find(prefix + " address-table\n"), std::string::npos) << prefix << "\n" << run.out;
  }
  EXPECT_EQ(functions, int(std::size(symbolizer::kTlsFunctions)));
  // --table works on the stripped binary too, given the table: it reproduces the same lines.
  const Outcome again = Symbols({"--table", "--symbol-table=" + table, stripped});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, derived.out);
}

TEST(SymbolsCommandTest, ReportsWhyAFileCannotBeUsed) {
  Outcome run = Symbols({testing::kLs});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.out.find("tls: none\n"), std::string::npos) << run.out;
  EXPECT_EQ(
      run.err.rfind(std::string("l7tap symbols: ") + testing::kLs + ": no SSL_read/SSL_write symbols", 0), 0u)
      << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1);

  run = Symbols({"--table", testing::kLs});
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("no SSL_read/SSL_write symbols"), std::string::npos) << run.err;

  const std::string missing = ::testing::TempDir() + "symbolizer_missing_binary";
  run = Symbols({missing});
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, "l7tap symbols: " + missing + ": no such file\n");

  run = Symbols({testing::kLibssl, "--symbol-table", missing});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find(missing + ": cannot read symbol table"), std::string::npos) << run.err;
}

// The whole line of `out` that starts with `prefix`; "" when there is none.
std::string LineStarting(const std::string& out, const std::string& prefix) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(SymbolsCommandTest, PrintsTheKeyLogHook) {
  const std::string unstripped = L7TAP_FIXTURE_HTTP_SERVER_STATIC;
  const auto symbols = testing::ReadelfFunctions(unstripped, ".symtab");
  const auto loads = testing::ReadelfLoads(unstripped);
  const std::string nss = Hex(testing::SegmentOffset(loads, symbols.functions.at("nss_keylog_int")));
  const std::string thunk = Hex(testing::SegmentOffset(loads, symbols.functions.at("ssl_log_secret")));
  const std::string nss_registers =
      "keylog-registers: rdi=label rsi=ssl rdx=client_random rcx=random_len r8=secret r9=secret_len\n";

  Outcome run = Symbols({unstripped});
  ASSERT_EQ(run.status, 0) << run.err;
  std::string line = LineStarting(run.out, "keylog: ");
  EXPECT_EQ(line.rfind("keylog: nss_keylog_int " + nss + " symtab '", 0), 0u) << run.out;
  EXPECT_TRUE(EndsWith(line, "' emulated")) << line;  // push %r15
  EXPECT_NE(run.out.find(nss_registers), std::string::npos) << run.out;

  // Stripped: from the code, through ssl_log_secret's tail jump. The exit status stays the SSL probes' (which
  // need an address table here).
  run = Symbols({L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED});
  EXPECT_EQ(run.status, 1);
  line = LineStarting(run.out, "keylog: ");
  EXPECT_EQ(line.rfind("keylog: nss_keylog_int " + nss + " code '", 0), 0u) << run.out;
  EXPECT_TRUE(EndsWith(line, "' emulated (tail-called by ssl_log_secret at " + thunk + ")")) << line;
  EXPECT_NE(run.out.find(nss_registers), std::string::npos) << run.out;

  const auto toolchains = testing::GoToolchains();
  ASSERT_FALSE(toolchains.empty()) << "no Go toolchain was found at configure time";
  const std::string go = testing::GoFixture(toolchains.back(), "stripped", "server");
  const std::string twin = testing::GoFixture(toolchains.back(), "default", "server");
  const std::string write_key_log = Hex(testing::SegmentOffset(
      testing::ReadelfLoads(go),
      testing::ReadelfFunctions(twin, ".symtab").functions.at("crypto/tls.(*Config).writeKeyLog")));
  run = Symbols({go});
  ASSERT_EQ(run.status, 0) << run.err;
  line = LineStarting(run.out, "keylog: ");
  EXPECT_EQ(line.rfind("keylog: crypto/tls.(*Config).writeKeyLog " + write_key_log + " pclntab '", 0), 0u)
      << run.out;
  EXPECT_TRUE(EndsWith(line, "' single-step")) << line;  // the stack check
  EXPECT_NE(run.out.find("keylog-registers: rax=config rbx=label.ptr rcx=label.len rdi=client_random.ptr "
                         "rsi=client_random.len r8=client_random.cap r9=secret.ptr r10=secret.len "
                         "r11=secret.cap\n"),
            std::string::npos)
      << run.out;

  run = Symbols({testing::kLs});
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(LineStarting(run.out, "keylog: ")
                .rfind(std::string("keylog: none (") + testing::kLs + ": no OpenSSL key-log code: ", 0),
            0u)
      << run.out;
  EXPECT_EQ(LineStarting(run.out, "keylog-registers: "), "");
}

TEST(SymbolsCommandTest, BadUsageExitsTwo) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{},
                                               {"--bogus", testing::kLibssl},
                                               {testing::kLibssl, testing::kLs},
                                               {testing::kLibssl, "--symbol-table"}}) {
    const Outcome run = Symbols(args);
    EXPECT_EQ(run.status, 2);
    EXPECT_NE(run.err.find("usage: l7tap symbols PATH"), std::string::npos) << run.err;
  }
  const Outcome help = Symbols({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_EQ(help.out, SymbolsUsage());
}

}  // namespace
}  // namespace l7tap::agent
