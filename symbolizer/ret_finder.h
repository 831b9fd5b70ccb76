#pragma once
// RET instructions of a function, by disassembly (Capstone, x86-64): where uprobes stand in for uretprobes
// on Go, whose moving goroutine stacks break return-address patching.
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

// The virtual address of every RET (near return, with or without an immediate) in [start_vaddr, end_vaddr),
// in address order, by a linear sweep from start_vaddr; a byte that does not decode is skipped. The range
// must lie in the file bytes of one executable segment. Errors name the path: not x86-64, range not
// executable file bytes, disassembler failure.
Result<std::vector<uint64_t>> FindReturns(const ElfFile& elf, uint64_t start_vaddr, uint64_t end_vaddr);

}  // namespace l7tap::symbolizer
