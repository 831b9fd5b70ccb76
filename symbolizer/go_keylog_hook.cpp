// FindGoKeyLogHook (tls_keylog_hook.h): crypto/tls.(*Config).writeKeyLog in a Go executable.
#include <optional>

#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_pclntab.h"
#include "symbolizer/tls_keylog_hook.h"

namespace l7tap::symbolizer {
namespace {

constexpr const char* kWriteKeyLog = "crypto/tls.(*Config).writeKeyLog";

Result<KeyLogHook> Find(const ElfFile& elf) {
  const std::string& path = elf.path();
  auto build = ReadGoBuildInfo(elf);
  if (!build) return Error{build.error()};
  if (IsGoTooOld(*build)) {
    return Error{path + ": Go " + build->version + " is older than 1." + std::to_string(kGoRegisterAbiMinor) +
                 " (register ABI needed)"};
  }
  if (!elf.is_x86_64()) return Error{path + ": not x86-64 (e_machine " + std::to_string(elf.machine()) + ")"};

  // As InspectGoBinary: .symtab when the binary keeps it, else the pclntab, which stripping keeps.
  if (auto symbol = elf.FindFunction(kWriteKeyLog); symbol && symbol->table == SymbolTable::kSymtab) {
    return KeyLogHookAt(elf, KeyLogHookKind::kGoWriteKeyLog, symbol->address, "symtab");
  }
  auto pclntab = GoPclntab::Read(elf);
  if (!pclntab) {
    if (!elf.has_symtab()) return Error{pclntab.error()};
    return Error{path + ": no " + kWriteKeyLog + " in .symtab and " + pclntab.error()};
  }
  if (auto function = (*pclntab)->Find(kWriteKeyLog)) {
    return KeyLogHookAt(elf, KeyLogHookKind::kGoWriteKeyLog, function->address, "pclntab");
  }
  if ((*pclntab)->Find(kGoTlsFunctions[0])) {
    return Error{path + ": links crypto/tls but not " + kWriteKeyLog +
                 " (inlined or dropped by this Go version's linker); TLS secrets cannot be captured here"};
  }
  return Error{path + ": Go binary without crypto/tls (no " + kWriteKeyLog + "): no TLS secrets to capture"};
}

}  // namespace

Result<KeyLogHook> FindGoKeyLogHook(const ElfFile& elf) { return elf.Checked(Find(elf)); }

}  // namespace l7tap::symbolizer
