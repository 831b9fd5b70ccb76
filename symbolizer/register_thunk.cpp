#include "symbolizer/register_thunk.h"

#include <cstdio>
#include <string>

#include "symbolizer/x86_decoder.h"

namespace l7tap::symbolizer {
namespace {

constexpr uint64_t kWindowBytes = 256;

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// The instruction only writes its first operand, a register other than the stack pointer, from registers,
// constants or memory it reads.
bool IsRegisterSetup(const cs_insn* insn) {
  const cs_x86& x = insn->detail->x86;
  if (x.op_count >= 1 && x.operands[0].type == X86_OP_REG && FullRegister(x.operands[0].reg) == X86_REG_RSP)
    return false;
  switch (insn->id) {
    case X86_INS_MOV:
    case X86_INS_MOVABS:
    case X86_INS_MOVZX:
    case X86_INS_MOVSX:
    case X86_INS_MOVSXD:
    case X86_INS_LEA:
      return x.op_count == 2 && x.operands[0].type == X86_OP_REG &&
             FullRegister(x.operands[0].reg) != X86_REG_INVALID;
    case X86_INS_XOR:  // xor r, r: zero
      return x.op_count == 2 && x.operands[0].type == X86_OP_REG && x.operands[1].type == X86_OP_REG &&
             x.operands[0].reg == x.operands[1].reg && FullRegister(x.operands[0].reg) != X86_REG_INVALID;
    default:
      return false;
  }
}

// The constant the instruction leaves in its destination, if it is one.
std::optional<int64_t> ConstantWritten(const cs_insn* insn) {
  const cs_x86& x = insn->detail->x86;
  const uint8_t size = x.operands[0].size;  // a 32-bit destination zero-extends; 8 and 16 bits merge
  if (size != 4 && size != 8) return std::nullopt;
  if (insn->id == X86_INS_XOR) return 0;
  if ((insn->id == X86_INS_MOV || insn->id == X86_INS_MOVABS) && x.operands[1].type == X86_OP_IMM)
    return size == 4 ? int64_t(uint32_t(x.operands[1].imm)) : x.operands[1].imm;
  return std::nullopt;
}

}  // namespace

Result<std::optional<RegisterThunk>> FindRegisterThunk(const ElfFile& elf, uint64_t vaddr,
                                                       int max_instructions) {
  X86Decoder decoder(elf);
  if (auto ready = decoder.Ready(); !ready) return Error{ready.error()};
  if (!decoder.Seek(vaddr, kWindowBytes)) return Error{elf.path() + ": no code at " + Hex(vaddr)};
  std::map<x86_reg, int64_t> constants;  // full register -> constant it holds
  for (int i = 0; i < max_instructions; ++i) {
    const cs_insn* insn = decoder.Next();
    if (insn == nullptr) break;
    if (insn->id == X86_INS_ENDBR64 || insn->id == X86_INS_NOP) continue;
    if (insn->id == X86_INS_JMP) {
      if (!HasImmediateTarget(insn)) break;
      RegisterThunk thunk;
      thunk.jump = insn->address;
      thunk.target = uint64_t(insn->detail->x86.operands[0].imm);
      const auto offset = elf.FileOffset(thunk.target);
      if (!offset || !elf.IsExecutableOffset(*offset)) break;
      for (int argument = 0; argument < 6; ++argument) {
        if (auto it = constants.find(SysVArgumentRegister(argument)); it != constants.end())
          thunk.constant_arguments[argument] = it->second;
      }
      return std::optional<RegisterThunk>(thunk);
    }
    if (!IsRegisterSetup(insn)) break;
    const x86_reg written = FullRegister(insn->detail->x86.operands[0].reg);
    const cs_x86_op& source = insn->detail->x86.operands[1];
    if (auto constant = ConstantWritten(insn)) {
      constants[written] = *constant;
    } else if (insn->id == X86_INS_MOV && source.type == X86_OP_REG && source.size == 8 &&
               constants.contains(FullRegister(source.reg))) {
      constants[written] = constants[FullRegister(source.reg)];
    } else {
      constants.erase(written);
    }
  }
  return std::optional<RegisterThunk>();
}

}  // namespace l7tap::symbolizer
