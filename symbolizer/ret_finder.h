#pragma once
// RET instructions of a function, by disassembly (Capstone, x86-64): where uprobes stand in for uretprobes
// on Go, whose moving goroutine stacks break return-address patching.
#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

// The virtual address of every RET (near return, with or without an immediate) in [start_vaddr, end_vaddr),
// in address order, by a linear sweep from start_vaddr; a byte that does not decode is skipped. The range
// must lie in the file bytes of one executable segment. Errors name the path: not x86-64, range not
// executable file bytes, disassembler failure.
Result<std::vector<uint64_t>> FindReturns(const ElfFile& elf, uint64_t start_vaddr, uint64_t end_vaddr);

// A Go function (register ABI, x86-64) starts by comparing its stack pointer with the goroutine's stack guard
// and branching to a morestack call that, after growing the stack, jumps back to the entry: an entry uprobe
// can fire twice for one call. This returns the address right after that check (`[lea -N(%rsp),%r12;] cmp
// 0x10(%r14),%rsp|%r12; jbe L` with L inside the function), which every call reaches exactly once with its
// argument registers untouched; nullopt when the function has no such check (NOSPLIT functions).
Result<std::optional<uint64_t>> FindGoStackCheckEnd(const ElfFile& elf, uint64_t start_vaddr,
                                                    uint64_t end_vaddr);

}  // namespace l7tap::symbolizer
