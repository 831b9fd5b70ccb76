#include "symbolizer/go_binary.h"

#include <optional>

#include "symbolizer/go_dwarf_offsets.h"
#include "symbolizer/go_fd_offsets_table.h"
#include "symbolizer/go_pclntab.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/ret_finder.h"

namespace l7tap::symbolizer {
namespace {

// DWARF first, else the built-in table by version (or the table first when asked, DWARF only without an
// entry).
Result<GoFdOffsets> FindFdOffsets(const ElfFile& elf, const GoBuildInfo& build, GoOffsetsOrder order) {
  auto from_table = GoFdOffsetsFromTable(build.major, build.minor);
  if (order == GoOffsetsOrder::kTableFirst && from_table) return from_table;
  auto from_dwarf = ReadGoFdOffsetsFromDwarf(elf);
  if (!from_dwarf) return Error{from_dwarf.error()};
  if (*from_dwarf) return std::move(**from_dwarf);
  if (from_table) return from_table;
  const bool has_dwarf = elf.FindSection({".debug_info", ".zdebug_info"}).has_value();
  return Error{
      elf.path() + ": no struct offsets to find a Go TLS connection's socket: " +
      (has_dwarf ? "its DWARF does not describe crypto/tls.Conn, net.conn, net.netFD and internal/poll.FD"
                 : "no DWARF (built with -ldflags=-w, or stripped)") +
      ", and " + from_table.error() + "; rebuild it without -s/-w so it keeps its DWARF, or with Go 1." +
      std::to_string(GoFdOffsetsTableVersions().front()) + " or newer"};
}

}  // namespace

bool IsGoTooOld(const GoBuildInfo& build) { return build.major == 1 && build.minor < kGoRegisterAbiMinor; }

namespace {

Result<GoBinary> Inspect(const ElfFile& elf, GoOffsetsOrder order) {
  auto build = ReadGoBuildInfo(elf);
  if (!build) return Error{build.error()};
  GoBinary binary;
  binary.build = std::move(*build);
  if (IsGoTooOld(binary.build)) {
    return Error{elf.path() + ": Go " + binary.build.version + " is older than 1." +
                 std::to_string(kGoRegisterAbiMinor) + " (register ABI needed)"};
  }
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
    auto body = FindGoStackCheckEnd(elf, function.address, function.end);
    if (!body) return Error{body.error()};
    function.body_offset = *body ? *offset + (**body - function.address) : *offset;
    const uint64_t body_vaddr = *body ? **body : function.address;
    auto body_insn = DecodeInstruction(elf, body_vaddr);
    if (!body_insn) return Error{body_insn.error()};
    function.body_emulated = body_insn->emulated;
    function.body_instruction = body_insn->text;
    auto point = FindEmulatedPoint(elf, body_vaddr, function.end, ArgRegs::kGoReadWrite);
    if (!point) return Error{point.error()};
    const Instruction& chosen = *point ? **point : *body_insn;
    function.probe_offset = *offset + (chosen.address - function.address);
    function.probe_emulated = chosen.emulated;
    function.probe_instruction = chosen.text;
    auto returns = FindReturns(elf, function.address, function.end);
    if (!returns) return Error{returns.error()};
    for (uint64_t address : *returns)
      function.return_offsets.push_back(*offset + (address - function.address));
    binary.functions.push_back(std::move(function));
  }
  if (!binary.functions.empty()) {
    auto offsets = FindFdOffsets(elf, binary.build, order);
    if (!offsets) return Error{offsets.error()};
    binary.fd_offsets = std::move(*offsets);
  }
  return binary;
}

}  // namespace

Result<GoBinary> InspectGoBinary(const ElfFile& elf, GoOffsetsOrder order) {
  return elf.Checked(Inspect(elf, order));
}

}  // namespace l7tap::symbolizer
