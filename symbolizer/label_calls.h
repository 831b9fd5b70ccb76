#pragma once
// Direct calls that pass the address of a datum (a string constant) as an argument, found without symbols: a
// byte scan of the executable segments for the instructions that put that address in a register (a
// RIP-relative lea; in position-dependent code also a mov of a 32-bit immediate), each confirmed by Capstone
// and followed to the first call of its basic block. A scan of the raw bytes, not a disassembly of all the
// code, so a 40 MB .text costs one pass over memory.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

struct LabelCall {
  uint64_t data = 0;    // which of the addresses looked for the call receives
  uint64_t load = 0;    // the instruction that put it in a register
  uint64_t call = 0;    // the call instruction
  uint64_t target = 0;  // the called function's entry (in executable file bytes)
};

// Calls that find one of `data` (virtual addresses) in SysV integer argument `argument` (0: rdi, 1: rsi, ...
// 5: r9): in the register loaded, or in one it was copied to by a 64-bit mov, written by nothing in between,
// with no branch before the call. At most `max_results`, in the address order of the loads. Errors: not
// x86-64, Capstone failed to start.
Result<std::vector<LabelCall>> FindCallsPassing(const ElfFile& elf, const std::vector<uint64_t>& data,
                                                int argument, size_t max_results = 4096);

}  // namespace l7tap::symbolizer
