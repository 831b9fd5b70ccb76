// FindReturns on crypto/tls.(*Conn).Read/Write of the Go fixtures: every address holds a RET byte, and the
// count equals objdump's over the same range (objdump run and parsed here).
#include "symbolizer/ret_finder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "symbolizer/go_binary.h"
#include "symbolizer/go_pclntab.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

namespace t = testing;

// Fixture paths from L7TAP_GO_TOOLCHAINS ("1.19=/usr/lib/go-1.19,...") x the four variants x server/client.
std::vector<std::string> GoFixturePaths() {
  std::vector<std::string> paths;
  std::istringstream list(L7TAP_GO_TOOLCHAINS);
  std::string item;
  while (std::getline(list, item, ',')) {
    const std::string version = item.substr(0, item.find('='));
    for (const char* variant : {"default", "stripped", "pie", "stripped-pie"}) {
      for (const char* program : {"server", "client"}) {
        paths.push_back(std::string(L7TAP_GO_FIXTURES_DIR) + "/go" + version + "-" + variant + "-" + program);
      }
    }
  }
  return paths;
}

using t::Hex;

// Addresses of the `ret` lines objdump disassembles in [start, stop).
std::vector<uint64_t> ObjdumpReturns(const std::string& path, uint64_t start, uint64_t stop) {
  std::vector<uint64_t> returns;
  for (const auto& l : t::Objdump(path, start, stop))
    if (l.mnemonic == "ret" || l.mnemonic == "retq") returns.push_back(l.address);
  return returns;
}

unsigned char ByteAt(const std::string& path, uint64_t offset) {
  std::ifstream file(path, std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.get(byte);
  EXPECT_TRUE(file.good()) << path << " @" << offset;
  return static_cast<unsigned char>(byte);
}

// Calls `check` for crypto/tls.(*Conn).Read and Write (from the pclntab) of every Go fixture.
void ForEachGoTlsFunction(const std::function<void(const std::string& path, const ElfFile& elf,
                                                   const char* name, const GoFunction& f)>& check) {
  const auto paths = GoFixturePaths();
  if (paths.empty())
    L7TAP_MISSING_DEPENDENCY("no Go toolchain was found at configure time (make deps installs them)");
  for (const std::string& path : paths) {
    auto elf = t::MustOpen(path);
    ASSERT_NE(elf, nullptr);
    auto table = GoPclntab::Read(*elf);
    ASSERT_TRUE(table.ok()) << table.error();
    for (const char* name : kGoTlsFunctions) {
      auto function = (*table)->Find(name);
      ASSERT_TRUE(function.has_value()) << path << " " << name;
      check(path, *elf, name, *function);
    }
  }
}

TEST(RetFinderTest, GoTlsFunctionsReturnsMatchObjdump) {
  ForEachGoTlsFunction(
      [](const std::string& path, const ElfFile& elf, const char* name, const GoFunction& f) {
        const GoFunction* function = &f;
        auto returns = FindReturns(elf, function->address, function->end);
        ASSERT_TRUE(returns.ok()) << returns.error();
        EXPECT_FALSE(returns->empty()) << path << " " << name;
        for (uint64_t address : *returns) {
          auto offset = elf.FileOffset(address);
          ASSERT_TRUE(offset.has_value());
          EXPECT_EQ(ByteAt(path, *offset), 0xc3) << path << " " << name << " " << Hex(address);
        }
        EXPECT_EQ(*returns, ObjdumpReturns(path, function->address, function->end)) << path << " " << name;
      });
}

// Past the stack check: objdump shows `cmp 0x10(%r14),...` then `jbe` forward, and the probe address is the
// instruction after that jbe.
TEST(RetFinderTest, GoStackCheckEndMatchesObjdump) {
  ForEachGoTlsFunction(
      [](const std::string& path, const ElfFile& elf, const char* name, const GoFunction& f) {
        const GoFunction* function = &f;
        auto end = FindGoStackCheckEnd(elf, function->address, function->end);
        ASSERT_TRUE(end.ok()) << end.error();
        ASSERT_TRUE(end->has_value()) << path << " " << name;
        auto head = t::Objdump(path, function->address, function->end);
        if (head.size() > 4) head.resize(4);
        size_t jbe = 0;
        while (jbe < head.size() && head[jbe].mnemonic != "jbe") ++jbe;
        ASSERT_TRUE(jbe >= 1 && jbe + 1 < head.size()) << path << " " << name;
        EXPECT_EQ(head[jbe - 1].mnemonic, "cmp");
        EXPECT_EQ(head[jbe - 1].operands.rfind("0x10(%r14),", 0), 0u) << head[jbe - 1].operands;
        EXPECT_EQ(**end, head[jbe + 1].address) << path << " " << name;
      });
  // A C function has no Go stack check.
  auto libssl = t::MustOpen(t::kLibssl);
  ASSERT_NE(libssl, nullptr);
  auto symbol = libssl->FindFunction("SSL_read");
  ASSERT_TRUE(symbol.has_value());
  auto none = FindGoStackCheckEnd(*libssl, symbol->address, symbol->address + symbol->size);
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_FALSE(none->has_value());
}

TEST(RetFinderTest, RejectsRangesOutsideExecutableBytes) {
  auto elf = t::MustOpen(t::kLs);
  ASSERT_NE(elf, nullptr);
  auto empty = FindReturns(*elf, 0x1000, 0x1000);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().rfind(std::string(t::kLs) + ": ", 0), 0u) << empty.error();
  auto unmapped = FindReturns(*elf, 0xfff0000000, 0xfff0000100);
  ASSERT_FALSE(unmapped.ok());
  EXPECT_NE(unmapped.error().find("not in executable file bytes"), std::string::npos) << unmapped.error();
}

TEST(RetFinderTest, FindsReturnsOfACFunction) {
  // A non-Go function: SSL_read in libssl (its .dynsym size bounds it), checked against objdump too.
  auto elf = t::MustOpen(t::kLibssl);
  ASSERT_NE(elf, nullptr);
  auto symbol = elf->FindFunction("SSL_read");
  ASSERT_TRUE(symbol.has_value());
  auto returns = FindReturns(*elf, symbol->address, symbol->address + symbol->size);
  ASSERT_TRUE(returns.ok()) << returns.error();
  EXPECT_EQ(*returns, ObjdumpReturns(t::kLibssl, symbol->address, symbol->address + symbol->size));
}

}  // namespace
}  // namespace l7tap::symbolizer
