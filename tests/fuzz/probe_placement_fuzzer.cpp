// The disassembly-based finders on arbitrary code: RETs, the Go stack check, one instruction, the emulated
// probe point, the shared TLS worker and the whole TLS placement. The input is a 9-byte header, then the
// code, which is wrapped in a minimal ELF (fuzz_file.h). Header: four 16-bit little-endian positions A, B, C,
// D (relative to 16 bytes before the code: a position may fall before it, in the ELF headers, or past its
// end), then a flags byte: bit 0: Go argument registers rather than SysV; bits 1-7: instruction budget.
// A = start, B = end of the function walked; C, D = the two wrappers of FindSharedWorker.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "symbolizer/elf_file.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/ret_finder.h"
#include "tests/fuzz/fuzz_file.h"

namespace s = l7tap::symbolizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 9;
  if (size < kHeader) return 0;
  uint64_t at[4];
  for (int i = 0; i < 4; ++i) {
    at[i] = l7tap::fuzz::kTinyElfBase + l7tap::fuzz::kTinyElfCodeOffset - 16 +
            (data[2 * i] | data[2 * i + 1] << 8);
  }
  const uint8_t flags = data[8];
  const std::string_view code(reinterpret_cast<const char*>(data + kHeader), size - kHeader);
  auto elf = s::ElfFile::Open(l7tap::fuzz::WriteInputFile(l7tap::fuzz::TinyElf(code)));
  if (!elf.ok()) std::abort();  // a well-formed ELF whatever the code
  const s::ElfFile& file = **elf;
  const uint64_t start = at[0];
  const uint64_t end = at[1];

  if (auto returns = s::FindReturns(file, start, end)) {
    uint64_t previous = 0;
    for (uint64_t ret : *returns) {
      if (ret < start || ret >= end || ret < previous) std::abort();  // in the range, ascending
      previous = ret + 1;
    }
  }
  if (auto body = s::FindGoStackCheckEnd(file, start, end); body && *body) {
    if (**body <= start || **body > end) std::abort();
  }
  if (auto insn = s::DecodeInstruction(file, start); insn && (insn->address != start || insn->text.empty())) {
    std::abort();
  }
  const auto regs = (flags & 1) != 0 ? s::ArgRegs::kGoReadWrite : s::ArgRegs::kSysV4;
  if (auto point = s::FindEmulatedPoint(file, start, end, regs, flags >> 1); point && *point) {
    if ((*point)->address < start || (*point)->address >= end || !(*point)->emulated) std::abort();
  }
  (void)s::FindSharedWorker(file, at[2], at[3]);

  std::map<std::string, uint64_t> entries;
  const char* names[] = {"SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex"};
  for (int i = 0; i < 4; ++i) {
    if (auto offset = file.FileOffset(at[(i + 2) % 4])) entries[names[i]] = *offset;
  }
  for (bool optimized : {false, true}) (void)s::PlaceTlsProbes(file, entries, optimized);
  if (file.Changed()) std::abort();
  return 0;
}
