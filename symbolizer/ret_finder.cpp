#include "symbolizer/ret_finder.h"

#include <capstone/capstone.h>

#include <algorithm>
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

Result<std::optional<uint64_t>> FindGoStackCheckEnd(const ElfFile& elf, uint64_t start_vaddr,
                                                    uint64_t end_vaddr) {
  if (!elf.is_x86_64()) return Error{elf.path() + ": not x86-64, cannot disassemble"};
  constexpr uint64_t kPrologueBytes = 32;  // lea (5) + cmp (4) + jbe (6), with room
  const uint64_t size = end_vaddr > start_vaddr ? std::min(end_vaddr - start_vaddr, kPrologueBytes) : 0;
  auto code = size > 0 ? elf.BytesAt(start_vaddr, size) : std::nullopt;
  if (!code) return Error{elf.path() + ": function at " + Hex(start_vaddr) + " is not in the file"};

  csh handle = 0;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK)
    return Error{"cannot start the Capstone disassembler (x86-64)"};
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insn = nullptr;
  const size_t count =
      cs_disasm(handle, reinterpret_cast<const uint8_t*>(code->data()), code->size(), start_vaddr, 3, &insn);
  std::optional<uint64_t> end;
  size_t i = 0;
  auto operands = [&](size_t k) -> const cs_x86& { return insn[k].detail->x86; };
  // Optional: lea -N(%rsp),%r12 (frames larger than the small-frame slack).
  if (i < count && insn[i].id == X86_INS_LEA && operands(i).op_count == 2 &&
      operands(i).operands[0].type == X86_OP_REG && operands(i).operands[0].reg == X86_REG_R12 &&
      operands(i).operands[1].type == X86_OP_MEM && operands(i).operands[1].mem.base == X86_REG_RSP)
    ++i;
  // cmp 0x10(%r14),%rsp|%r12: g.stackguard0 against the (prospective) stack pointer.
  bool check = false;
  if (i < count && insn[i].id == X86_INS_CMP && operands(i).op_count == 2) {
    const cs_x86_op* ops = operands(i).operands;
    for (int m = 0; m < 2; ++m) {
      const cs_x86_op& mem = ops[m];
      const cs_x86_op& reg = ops[1 - m];
      if (mem.type == X86_OP_MEM && mem.mem.base == X86_REG_R14 && mem.mem.disp == 0x10 &&
          mem.mem.index == X86_REG_INVALID && reg.type == X86_OP_REG &&
          (reg.reg == X86_REG_RSP || (reg.reg == X86_REG_R12 && i == 1)))
        check = true;
    }
    ++i;
  }
  if (check && i < count && insn[i].id == X86_INS_JBE && operands(i).op_count == 1 &&
      operands(i).operands[0].type == X86_OP_IMM) {
    const uint64_t target = uint64_t(operands(i).operands[0].imm);
    if (target > insn[i].address && target < end_vaddr) end = insn[i].address + insn[i].size;
  }
  if (count > 0) cs_free(insn, count);
  cs_close(&handle);
  return end;
}

}  // namespace l7tap::symbolizer
