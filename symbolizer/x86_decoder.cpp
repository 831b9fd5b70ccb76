#include "symbolizer/x86_decoder.h"

#include <algorithm>

namespace l7tap::symbolizer {
namespace {

struct Aliases {
  x86_reg full;
  x86_reg parts[4];  // X86_REG_INVALID pads
};
constexpr Aliases kGeneralRegisters[] = {
    {X86_REG_RAX, {X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH}},
    {X86_REG_RBX, {X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH}},
    {X86_REG_RCX, {X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH}},
    {X86_REG_RDX, {X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH}},
    {X86_REG_RSI, {X86_REG_ESI, X86_REG_SI, X86_REG_SIL, X86_REG_INVALID}},
    {X86_REG_RDI, {X86_REG_EDI, X86_REG_DI, X86_REG_DIL, X86_REG_INVALID}},
    {X86_REG_RBP, {X86_REG_EBP, X86_REG_BP, X86_REG_BPL, X86_REG_INVALID}},
    {X86_REG_RSP, {X86_REG_ESP, X86_REG_SP, X86_REG_SPL, X86_REG_INVALID}},
    {X86_REG_R8, {X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, X86_REG_INVALID}},
    {X86_REG_R9, {X86_REG_R9D, X86_REG_R9W, X86_REG_R9B, X86_REG_INVALID}},
    {X86_REG_R10, {X86_REG_R10D, X86_REG_R10W, X86_REG_R10B, X86_REG_INVALID}},
    {X86_REG_R11, {X86_REG_R11D, X86_REG_R11W, X86_REG_R11B, X86_REG_INVALID}},
    {X86_REG_R12, {X86_REG_R12D, X86_REG_R12W, X86_REG_R12B, X86_REG_INVALID}},
    {X86_REG_R13, {X86_REG_R13D, X86_REG_R13W, X86_REG_R13B, X86_REG_INVALID}},
    {X86_REG_R14, {X86_REG_R14D, X86_REG_R14W, X86_REG_R14B, X86_REG_INVALID}},
    {X86_REG_R15, {X86_REG_R15D, X86_REG_R15W, X86_REG_R15B, X86_REG_INVALID}},
};

}  // namespace

X86Decoder::X86Decoder(const ElfFile& elf) : elf_(elf), code_ranges_(elf.ExecutableRanges()) {
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) {
    handle_ = 0;
    return;
  }
  cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
  insn_ = cs_malloc(handle_);
}

X86Decoder::~X86Decoder() {
  if (insn_ != nullptr) cs_free(insn_, 1);
  if (handle_ != 0) cs_close(&handle_);
}

Result<Ok> X86Decoder::Ready() const {
  if (!elf_.is_x86_64()) return Error{elf_.path() + ": not x86-64, cannot disassemble"};
  if (handle_ == 0 || insn_ == nullptr) return Error{"cannot start the Capstone disassembler (x86-64)"};
  return Ok{};
}

bool X86Decoder::Seek(uint64_t vaddr, uint64_t window) {
  code_ = nullptr;
  left_ = 0;
  address_ = vaddr;
  for (const ElfFile::CodeRange& range : code_ranges_) {
    if (vaddr < range.vaddr || vaddr - range.vaddr >= range.size) continue;
    // The window, shortened where the segment's bytes end.
    const uint64_t size = std::min(window, range.size - (vaddr - range.vaddr));
    if (auto bytes = elf_.BytesAt(vaddr, size)) {
      code_ = reinterpret_cast<const uint8_t*>(bytes->data());
      left_ = bytes->size();
    }
    break;
  }
  return code_ != nullptr;
}

const cs_insn* X86Decoder::Next() {
  if (insn_ == nullptr || left_ == 0 || !cs_disasm_iter(handle_, &code_, &left_, &address_, insn_)) {
    left_ = 0;
    return nullptr;
  }
  return insn_;
}

bool X86Decoder::Writes(const cs_insn* insn, x86_reg full) const {
  cs_regs read, written;
  uint8_t nread = 0, nwritten = 0;
  if (cs_regs_access(handle_, insn, read, &nread, written, &nwritten) != CS_ERR_OK) return true;  // unsure
  for (uint8_t i = 0; i < nwritten; ++i) {
    if (FullRegister(static_cast<x86_reg>(written[i])) == full) return true;
  }
  return false;
}

x86_reg FullRegister(x86_reg reg) {
  for (const Aliases& aliases : kGeneralRegisters) {
    if (reg == aliases.full) return aliases.full;
    if (std::find(std::begin(aliases.parts), std::end(aliases.parts), reg) != std::end(aliases.parts) &&
        reg != X86_REG_INVALID)
      return aliases.full;
  }
  return X86_REG_INVALID;
}

x86_reg SysVArgumentRegister(int index) {
  constexpr x86_reg kArguments[] = {X86_REG_RDI, X86_REG_RSI, X86_REG_RDX,
                                    X86_REG_RCX, X86_REG_R8,  X86_REG_R9};
  return index >= 0 && index < 6 ? kArguments[index] : X86_REG_INVALID;
}

bool HasImmediateTarget(const cs_insn* insn) {
  const cs_x86& x = insn->detail->x86;
  return x.op_count == 1 && x.operands[0].type == X86_OP_IMM;
}

bool IsControlTransfer(const cs_insn* insn) {
  for (uint8_t i = 0; i < insn->detail->groups_count; ++i) {
    const uint8_t group = insn->detail->groups[i];
    if (group == CS_GRP_JUMP || group == CS_GRP_CALL || group == CS_GRP_RET || group == CS_GRP_INT ||
        group == CS_GRP_IRET)
      return true;
  }
  return false;
}

}  // namespace l7tap::symbolizer
