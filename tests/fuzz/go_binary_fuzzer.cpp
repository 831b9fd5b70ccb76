// The Go inspection on arbitrary ELF bytes: build information, pclntab (names and entries), DWARF struct
// offsets and InspectGoBinary (entries, RETs, probe points), with the table's offsets and DWARF's.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_dwarf_offsets.h"
#include "symbolizer/go_pclntab.h"
#include "tests/fuzz/fuzz_file.h"

using l7tap::symbolizer::ElfFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path =
      l7tap::fuzz::WriteInputFile(std::string_view(reinterpret_cast<const char*>(data), size));
  auto elf = ElfFile::Open(path);
  if (!elf.ok()) return 0;
  const ElfFile& file = **elf;

  if (auto build = l7tap::symbolizer::ReadGoBuildInfo(file)) {
    if (build->version.empty() || (build->ptr_size != 4 && build->ptr_size != 8)) std::abort();
    (void)l7tap::symbolizer::IsGoTooOld(*build);
  }
  if (auto table = l7tap::symbolizer::GoPclntab::Read(file)) {
    for (const char* name : l7tap::symbolizer::kGoTlsFunctions) (void)(*table)->Find(name);
    (void)(*table)->Find("runtime.main");
  }
  (void)l7tap::symbolizer::GoFunctionAddress(file, "main.main");
  (void)l7tap::symbolizer::ReadGoFdOffsetsFromDwarf(file);
  for (auto order :
       {l7tap::symbolizer::GoOffsetsOrder::kTableFirst, l7tap::symbolizer::GoOffsetsOrder::kDwarfFirst}) {
    auto binary = l7tap::symbolizer::InspectGoBinary(file, order);
    if (!binary) continue;
    for (const auto& function : binary->functions) {
      // Probe points lie in the function, at or after its entry.
      if (function.probe_offset < function.offset || function.body_offset < function.offset) std::abort();
      for (uint64_t ret : function.return_offsets) {
        if (ret < function.offset) std::abort();
      }
    }
  }
  if (file.Changed()) std::abort();  // the input file never changes
  return 0;
}
