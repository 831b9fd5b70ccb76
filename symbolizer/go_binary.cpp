#include "symbolizer/go_binary.h"

#include <optional>

#include "symbolizer/go_pclntab.h"
#include "symbolizer/ret_finder.h"

namespace l7tap::symbolizer {

Result<GoBinary> InspectGoBinary(const ElfFile& elf) {
  auto build = ReadGoBuildInfo(elf);
  if (!build) return Error{build.error()};
  GoBinary binary;
  binary.build = std::move(*build);
  if (!elf.is_x86_64())
    return Error{elf.path() + ": not x86-64 (e_machine " + std::to_string(elf.machine()) + ")"};

  auto pclntab = GoPclntab::Read(elf);
  for (const char* name : kGoTlsFunctions) {
    GoTlsFunction function;
    function.name = name;
    std::optional<GoFunction> from_pclntab;
    if (pclntab) from_pclntab = (*pclntab)->Find(name);
    if (auto symbol = elf.FindFunction(name); symbol && symbol->table == SymbolTable::kSymtab) {
      function.source = "symtab";
      function.address = symbol->address;
      function.end = symbol->size > 0 ? symbol->address + symbol->size : 0;
      if (function.end == 0 && from_pclntab && from_pclntab->address == symbol->address) {
        function.end = from_pclntab->end;
      }
    } else if (from_pclntab) {
      function.source = "pclntab";
      function.address = from_pclntab->address;
      function.end = from_pclntab->end;
    } else if (!pclntab && !elf.has_symtab()) {
      return Error{pclntab.error()};
    } else {
      continue;  // not linked in
    }
    auto offset = elf.FileOffset(function.address);
    if (!offset) return Error{elf.path() + ": " + function.name + " is outside the file's loaded bytes"};
    function.offset = *offset;
    auto returns = FindReturns(elf, function.address, function.end);
    if (!returns) return Error{returns.error()};
    for (uint64_t address : *returns)
      function.return_offsets.push_back(*offset + (address - function.address));
    binary.functions.push_back(std::move(function));
  }
  return binary;
}

}  // namespace l7tap::symbolizer
