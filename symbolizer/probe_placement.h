#pragma once
// Where a uprobe costs least. The kernel emulates a few x86 instructions in place (nop, push reg, call, jmp,
// jcc): a probe on one costs one trap. Any other instruction is single-stepped out of line, a second trap and
// 10-20x the cost. This picks, for each function l7tap probes, an attach point on an emulated instruction
// when disassembly (Capstone) proves it equivalent, and says why.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

// One instruction, as the placement reasons about it.
struct Instruction {
  uint64_t address = 0;
  std::string text;       // "push r13"
  bool emulated = false;  // the kernel runs it in place (no single-step)
};

// The instruction at `vaddr`.
Result<Instruction> DecodeInstruction(const ElfFile& elf, uint64_t vaddr);

// Registers a probe program reads at its attach point (x86-64 Capstone register ids are not exposed here).
enum class ArgRegs { kSysV4, kGoReadWrite };  // rdi rsi rdx rcx | rax rbx rcx r14

// From `start` (an instruction every call executes once), the first emulated instruction reached on every
// path with `regs` unchanged: a straight-line walk that stops at the first instruction writing one of them,
// any branch or call that is not itself the answer, or `max_instructions`. nullopt when there is none.
Result<std::optional<Instruction>> FindEmulatedPoint(const ElfFile& elf, uint64_t start, uint64_t end,
                                                     ArgRegs regs, int max_instructions = 24);

// Two thin wrappers (SSL_read and SSL_read_ex) that call one worker: the worker's entry when `ex_wrapper`
// passes its four arguments through unchanged to a direct call to the same target as `plain_wrapper`'s first
// direct call, and that target starts with an emulated instruction. Probing the worker (entry and return)
// then covers both APIs with one cheap pair of hits; its arguments are the _ex ones (ssl, buf, num, &bytes).
Result<std::optional<Instruction>> FindSharedWorker(const ElfFile& elf, uint64_t plain_wrapper,
                                                    uint64_t ex_wrapper);

// The TLS library's probe plan: which functions get an entry probe and a uretprobe, at which file offsets.
inline constexpr const char* kTlsReadWorker = "ssl_read_worker";    // called by SSL_read and SSL_read_ex
inline constexpr const char* kTlsWriteWorker = "ssl_write_worker";  // called by SSL_write and SSL_write_ex
struct TlsPlacement {
  std::map<std::string, uint64_t> offsets;    // function (or worker) -> file offset of the entry probe
  std::map<std::string, Instruction> at;      // the instruction there
  std::set<std::string> single_step;          // those whose instruction the kernel single-steps
  std::map<std::string, std::string> reason;  // why, per function
};
// `entry_offsets`: the exported functions' entries (InspectTlsLibrary). Optimized: each read/write pair whose
// wrappers share a worker with an emulated entry is replaced by that worker; uretprobes need a function's
// entry, so every other function keeps its own.
Result<TlsPlacement> PlaceTlsProbes(const ElfFile& elf, const std::map<std::string, uint64_t>& entry_offsets,
                                    bool optimized);

}  // namespace l7tap::symbolizer
