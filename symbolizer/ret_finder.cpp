#include "symbolizer/ret_finder.h"

#include <capstone/capstone.h>

#include <cstdio>
#include <string>

namespace l7tap::symbolizer {
namespace {

constexpr uint64_t kMaxFunctionBytes = 64ull << 20;

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

class Disassembler {
 public:
  Disassembler() { ok_ = cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) == CS_ERR_OK; }
  ~Disassembler() {
    if (insn_ != nullptr) cs_free(insn_, 1);
    if (ok_) cs_close(&handle_);
  }
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;

  bool ok() {
    if (ok_ && insn_ == nullptr) insn_ = cs_malloc(handle_);
    return ok_ && insn_ != nullptr;
  }
  csh handle() const { return handle_; }
  cs_insn* insn() const { return insn_; }

 private:
  csh handle_ = 0;
  bool ok_ = false;
  cs_insn* insn_ = nullptr;
};

}  // namespace

Result<std::vector<uint64_t>> FindReturns(const ElfFile& elf, uint64_t start_vaddr, uint64_t end_vaddr) {
  const std::string range = Hex(start_vaddr) + "-" + Hex(end_vaddr);
  if (!elf.is_x86_64()) return Error{elf.path() + ": not x86-64, cannot disassemble"};
  if (end_vaddr <= start_vaddr || end_vaddr - start_vaddr > kMaxFunctionBytes) {
    return Error{elf.path() + ": bad function range " + range};
  }
  auto start = elf.FileOffset(start_vaddr);
  if (!start || !elf.IsExecutableOffset(*start)) {
    return Error{elf.path() + ": " + Hex(start_vaddr) + " is not in executable file bytes"};
  }
  auto code = elf.BytesAt(start_vaddr, end_vaddr - start_vaddr);
  if (!code) return Error{elf.path() + ": function range " + range + " is not all in the file"};

  Disassembler disassembler;
  if (!disassembler.ok()) return Error{"cannot start the Capstone disassembler (x86-64)"};
  std::vector<uint64_t> returns;
  const auto* bytes = reinterpret_cast<const uint8_t*>(code->data());
  size_t size = code->size();
  uint64_t address = start_vaddr;
  while (size > 0) {
    if (!cs_disasm_iter(disassembler.handle(), &bytes, &size, &address, disassembler.insn())) {
      ++bytes;  // undecodable: skip one byte
      --size;
      ++address;
      continue;
    }
    if (disassembler.insn()->id == X86_INS_RET) returns.push_back(disassembler.insn()->address);
  }
  return returns;
}

}  // namespace l7tap::symbolizer
