// Probe placement on real binaries, checked against objdump's disassembly (binutils, not Capstone): every
// chosen point is an instruction the kernel emulates, and the straight line from where a call is sure to pass
// to the point neither branches nor writes a register the probe program reads.
#include "symbolizer/probe_placement.h"

#include <gtest/gtest.h>

#include <sstream>

#include "symbolizer/go_binary.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

namespace t = testing;

using Line = t::ObjdumpLine;
using t::Hex;
using t::Objdump;

bool EmulatedMnemonic(const Line& l) {
  if (l.mnemonic.starts_with("nop")) return true;
  if (l.mnemonic == "push") return l.operands.starts_with("%");  // push %reg
  if (l.mnemonic == "call" || l.mnemonic == "jmp" || (l.mnemonic.size() >= 2 && l.mnemonic[0] == 'j'))
    return !l.operands.starts_with("*");  // direct targets only
  return false;
}

// AT&T syntax: the destination is the last operand.
bool WritesAny(const Line& l, const std::vector<std::string>& regs) {
  const std::string dest =
      l.operands.substr(l.operands.rfind(',') == std::string::npos ? 0 : l.operands.rfind(',') + 1);
  for (const std::string& r : regs)
    if (dest == r) return true;
  return false;
}

void ExpectStraightLineTo(const std::string& path, uint64_t from, uint64_t to,
                          const std::vector<std::string>& regs) {
  auto lines = Objdump(path, from, to + 16);
  while (!lines.empty() && lines.back().address > to) lines.pop_back();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().address, to) << path;
  EXPECT_TRUE(EmulatedMnemonic(lines.back()))
      << path << " " << lines.back().mnemonic << " " << lines.back().operands;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    const Line& l = lines[i];
    EXPECT_FALSE(l.mnemonic[0] == 'j' || l.mnemonic == "call" || l.mnemonic == "ret")
        << path << " " << Hex(l.address);
    EXPECT_FALSE(WritesAny(l, regs)) << path << " " << Hex(l.address) << " " << l.mnemonic << " "
                                     << l.operands;
  }
}

const std::vector<std::string> kGoRegs = {"%rax", "%eax", "%ax", "%al", "%rbx", "%ebx",  "%bx",   "%bl",
                                          "%rcx", "%ecx", "%cx", "%cl", "%r14", "%r14d", "%r14w", "%r14b"};

TEST(ProbePlacementTest, GoProbesSitOnEmulatedInstructionsWithArgumentsIntact) {
  const auto toolchains = t::GoToolchains();
  if (toolchains.empty())
    L7TAP_MISSING_DEPENDENCY("no Go toolchain was found at configure time (make deps installs them)");
  for (const auto& toolchain : toolchains) {
    for (const char* variant : {"default", "stripped", "pie", "stripped-pie"}) {
      for (const char* program : {"server", "client"}) {
        const std::string path = t::GoFixture(toolchain, variant, program);
        auto elf = t::MustOpen(path);
        ASSERT_NE(elf, nullptr);
        auto binary = InspectGoBinary(*elf);
        ASSERT_TRUE(binary.ok()) << binary.error();
        for (const GoTlsFunction& f : binary->functions) {
          SCOPED_TRACE(path + " " + f.name);
          EXPECT_TRUE(f.probe_emulated);
          EXPECT_GE(f.probe_offset, f.body_offset);
          const uint64_t body = *elf->VirtualAddress(f.body_offset);
          const uint64_t probe = *elf->VirtualAddress(f.probe_offset);
          ExpectStraightLineTo(path, body, probe, kGoRegs);
        }
      }
    }
  }
}

TEST(ProbePlacementTest, OpensslWrappersShareAnEmulatedWorker) {
  auto elf = t::MustOpen(t::kLibssl);
  ASSERT_NE(elf, nullptr);
  std::map<std::string, uint64_t> entries;
  for (const char* name : {"SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex", "SSL_do_handshake"})
    entries[name] = *elf->FileOffset(*elf->FunctionAddress(name));
  auto plan = PlaceTlsProbes(*elf, entries, /*optimized=*/true);
  ASSERT_TRUE(plan.ok()) << plan.error();
  EXPECT_TRUE(plan->single_step.empty());
  for (auto [worker, plain, ex] : {std::tuple{kTlsReadWorker, "SSL_read", "SSL_read_ex"},
                                   std::tuple{kTlsWriteWorker, "SSL_write", "SSL_write_ex"}}) {
    SCOPED_TRACE(worker);
    ASSERT_TRUE(plan->offsets.contains(worker));
    EXPECT_FALSE(plan->offsets.contains(plain));
    EXPECT_FALSE(plan->offsets.contains(ex));
    const uint64_t target = *elf->VirtualAddress(plan->offsets.at(worker));
    // objdump: both wrappers call the worker; the _ex one first touches none of its four arguments.
    for (const char* wrapper : {plain, ex}) {
      const uint64_t start = *elf->FunctionAddress(wrapper);
      const auto lines = Objdump(t::kLibssl, start, start + 80);
      bool calls = false;
      for (const Line& l : lines) {
        if (l.mnemonic == "call" && l.operands.starts_with(Hex(target).substr(2))) {
          calls = true;
          break;
        }
        if (std::string(wrapper) == ex) {
          EXPECT_FALSE(WritesAny(l, {"%rdi", "%edi", "%rsi", "%esi", "%rdx", "%edx", "%rcx", "%ecx"}))
              << l.mnemonic << " " << l.operands;
        }
      }
      EXPECT_TRUE(calls) << wrapper << " does not call " << Hex(target);
    }
    const auto worker_head = Objdump(t::kLibssl, target, target + 4);
    ASSERT_FALSE(worker_head.empty());
    EXPECT_EQ(worker_head[0].mnemonic, "push");
  }
  // Entry placement keeps the exported functions and marks the single-stepped ones (sub $0x18,%rsp).
  auto entry = PlaceTlsProbes(*elf, entries, /*optimized=*/false);
  ASSERT_TRUE(entry.ok()) << entry.error();
  EXPECT_EQ(entry->offsets, entries);
  EXPECT_TRUE(entry->single_step.contains("SSL_read"));
  EXPECT_FALSE(entry->single_step.contains("SSL_do_handshake"));  // push %rbx
}

}  // namespace
}  // namespace l7tap::symbolizer
