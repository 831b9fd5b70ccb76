#include "symbolizer/probe_placement.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace l7tap::symbolizer {
namespace {

constexpr uint64_t kWindowBytes = 256;  // how far a walk looks from its start

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// Conditional jumps with a relative target: emulated like jmp.
constexpr x86_insn kJcc[] = {X86_INS_JAE, X86_INS_JA,  X86_INS_JBE, X86_INS_JB,  X86_INS_JE,  X86_INS_JGE,
                             X86_INS_JG,  X86_INS_JLE, X86_INS_JL,  X86_INS_JNE, X86_INS_JNO, X86_INS_JNP,
                             X86_INS_JNS, X86_INS_JO,  X86_INS_JP,  X86_INS_JS};

// Each argument register with every name that writes part of it.
using RegSet = std::vector<std::vector<x86_reg>>;
const RegSet kSysV4 = {{X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
                       {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL},
                       {X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH},
                       {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH}};
const RegSet kGo = {{X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH},
                    {X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH},
                    {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH},
                    {X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B}};

// Decodes forward from one address, with operand details.
class Walker {
 public:
  Walker(const ElfFile& elf, uint64_t start, uint64_t end) : elf_(elf), address_(start), end_(end) {
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) return;
    cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
    insn_ = cs_malloc(handle_);
    const uint64_t size = std::min(end_ > start ? end_ - start : 0, kWindowBytes);
    if (auto bytes = size ? elf.BytesAt(start, size) : std::nullopt) {
      code_ = reinterpret_cast<const uint8_t*>(bytes->data());
      left_ = bytes->size();
    }
  }
  ~Walker() {
    if (insn_) cs_free(insn_, 1);
    if (handle_) cs_close(&handle_);
  }
  Walker(const Walker&) = delete;
  Walker& operator=(const Walker&) = delete;

  Result<Ok> Ready() const {
    if (!elf_.is_x86_64()) return Error{elf_.path() + ": not x86-64, cannot disassemble"};
    if (!handle_ || !insn_) return Error{"cannot start the Capstone disassembler (x86-64)"};
    if (!code_) return Error{elf_.path() + ": no code at " + Hex(address_)};
    return Ok{};
  }
  // The next instruction, or nullptr at the end of the window or on bytes that do not decode.
  const cs_insn* Next() {
    if (left_ == 0 || !cs_disasm_iter(handle_, &code_, &left_, &address_, insn_)) return nullptr;
    return insn_;
  }
  bool Writes(const cs_insn* insn, const RegSet& regs) const {
    cs_regs read, written;
    uint8_t nread = 0, nwritten = 0;
    if (cs_regs_access(handle_, insn, read, &nread, written, &nwritten) != CS_ERR_OK) return true;  // unsure
    for (uint8_t i = 0; i < nwritten; ++i)
      for (const auto& aliases : regs)
        for (x86_reg r : aliases)
          if (written[i] == r) return true;
    return false;
  }

 private:
  const ElfFile& elf_;
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
  const uint8_t* code_ = nullptr;
  size_t left_ = 0;
  uint64_t address_;
  uint64_t end_;
};

bool HasImmediateTarget(const cs_insn* insn) {
  const cs_x86& x = insn->detail->x86;
  return x.op_count == 1 && x.operands[0].type == X86_OP_IMM;
}

bool IsEmulated(const cs_insn* insn) {
  // The kernel refuses or single-steps what it does not know: operand-size (0x66) prefixed branches, and nops
  // other than 0x90 and the 0f 1f family.
  for (uint8_t b : insn->detail->x86.prefix)
    if (b == 0x66) return false;
  switch (insn->id) {
    case X86_INS_NOP:
      return insn->bytes[0] == 0x90 || (insn->size >= 2 && insn->bytes[0] == 0x0f && insn->bytes[1] == 0x1f);
    case X86_INS_PUSH: {
      const cs_x86& x = insn->detail->x86;
      return x.op_count == 1 && x.operands[0].type == X86_OP_REG;
    }
    case X86_INS_CALL:
    case X86_INS_JMP:
      return HasImmediateTarget(insn);
    default:
      return std::find(std::begin(kJcc), std::end(kJcc), insn->id) != std::end(kJcc) &&
             HasImmediateTarget(insn);
  }
}

bool IsControlTransfer(const cs_insn* insn) {
  for (uint8_t i = 0; i < insn->detail->groups_count; ++i) {
    const uint8_t g = insn->detail->groups[i];
    if (g == CS_GRP_JUMP || g == CS_GRP_CALL || g == CS_GRP_RET || g == CS_GRP_INT || g == CS_GRP_IRET)
      return true;
  }
  return false;
}

// Direct jump and call targets of the whole function [start, end), by a linear sweep.
Result<std::vector<uint64_t>> BranchTargets(const ElfFile& elf, uint64_t start, uint64_t end) {
  std::vector<uint64_t> targets;
  for (uint64_t at = start; at < end;) {  // Walker windows are bounded: walk the function window by window
    Walker walk(elf, at, end);
    if (auto ready = walk.Ready(); !ready) return Error{ready.error()};
    uint64_t next = at;
    while (const cs_insn* insn = walk.Next()) {
      next = insn->address + insn->size;
      for (uint8_t i = 0; i < insn->detail->groups_count; ++i) {
        const uint8_t g = insn->detail->groups[i];
        if ((g == CS_GRP_JUMP || g == CS_GRP_CALL) && HasImmediateTarget(insn))
          targets.push_back(uint64_t(insn->detail->x86.operands[0].imm));
      }
    }
    if (next == at) ++next;  // undecodable byte: skip it
    at = next;
  }
  return targets;
}

Instruction Describe(const cs_insn* insn) {
  Instruction out;
  out.address = insn->address;
  out.text = std::string(insn->mnemonic) + (insn->op_str[0] ? " " : "") + insn->op_str;
  out.emulated = IsEmulated(insn);
  return out;
}

// The target of the first direct call (or tail jump, when `allow_jump`) on the fall-through path from
// `start`, if none of `preserved` is written before it and, unless `allow_branches`, nothing branches before
// it.
Result<std::optional<uint64_t>> FirstDirectCall(const ElfFile& elf, uint64_t start, const RegSet& preserved,
                                                bool allow_branches, bool allow_jump) {
  Walker walk(elf, start, start + kWindowBytes);
  if (auto ready = walk.Ready(); !ready) return Error{ready.error()};
  for (int i = 0; i < 32; ++i) {
    const cs_insn* insn = walk.Next();
    if (!insn) break;
    if ((insn->id == X86_INS_CALL || (allow_jump && insn->id == X86_INS_JMP)) && HasImmediateTarget(insn))
      return std::optional<uint64_t>(uint64_t(insn->detail->x86.operands[0].imm));
    if (walk.Writes(insn, preserved)) break;
    const bool jcc = std::find(std::begin(kJcc), std::end(kJcc), insn->id) != std::end(kJcc);
    if (IsControlTransfer(insn) && !(allow_branches && jcc)) break;
  }
  return std::optional<uint64_t>();
}

}  // namespace

Result<Instruction> DecodeInstruction(const ElfFile& elf, uint64_t vaddr) {
  Walker walk(elf, vaddr, vaddr + 16);
  if (auto ready = walk.Ready(); !ready) return Error{ready.error()};
  const cs_insn* insn = walk.Next();
  if (!insn) return Error{elf.path() + ": no instruction decodes at " + Hex(vaddr)};
  return Describe(insn);
}

Result<std::optional<Instruction>> FindEmulatedPoint(const ElfFile& elf, uint64_t start, uint64_t end,
                                                     ArgRegs regs, int max_instructions) {
  Walker walk(elf, start, end);
  if (auto ready = walk.Ready(); !ready) return Error{ready.error()};
  const RegSet& set = regs == ArgRegs::kSysV4 ? kSysV4 : kGo;
  for (int i = 0; i < max_instructions; ++i) {
    const cs_insn* insn = walk.Next();
    if (!insn) break;
    if (IsEmulated(insn)) {
      // Reached once per call only if nothing in the function jumps back into the stretch walked.
      auto targets = BranchTargets(elf, start, end);
      if (!targets) return Error{targets.error()};
      for (uint64_t t : *targets)
        if (t > start && t <= insn->address) return std::optional<Instruction>();
      return std::optional<Instruction>(Describe(insn));
    }
    // Past this, a path might skip the point, or the program would read a changed register.
    if (IsControlTransfer(insn) || walk.Writes(insn, set)) break;
  }
  return std::optional<Instruction>();
}

Result<std::optional<Instruction>> FindSharedWorker(const ElfFile& elf, uint64_t plain_wrapper,
                                                    uint64_t ex_wrapper) {
  // The _ex wrapper hands (ssl, buf, num, &bytes) on untouched; the plain one at least ssl and buf (it makes
  // num a size_t and points the fourth at a local).
  auto ex_target = FirstDirectCall(elf, ex_wrapper, kSysV4, /*allow_branches=*/false, /*allow_jump=*/true);
  if (!ex_target) return Error{ex_target.error()};
  const RegSet kSslAndBuf = {{X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
                             {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL}};
  auto plain_target =
      FirstDirectCall(elf, plain_wrapper, kSslAndBuf, /*allow_branches=*/true, /*allow_jump=*/false);
  if (!plain_target) return Error{plain_target.error()};
  if (!*ex_target || !*plain_target || **ex_target != **plain_target) return std::optional<Instruction>();
  auto entry = DecodeInstruction(elf, **ex_target);
  if (!entry || !entry->emulated) return std::optional<Instruction>();
  return std::optional<Instruction>(*entry);
}

namespace {

Result<TlsPlacement> Place(const ElfFile& elf, const std::map<std::string, uint64_t>& entry_offsets,
                           bool optimized) {
  TlsPlacement plan;
  plan.offsets = entry_offsets;
  for (const auto& [function, offset] : entry_offsets) {
    auto vaddr = elf.VirtualAddress(offset);
    if (!vaddr)
      return Error{elf.path() + ": " + function + " at file offset " + Hex(offset) + " is not loaded"};
    auto insn = DecodeInstruction(elf, *vaddr);
    if (!insn) return Error{insn.error()};
    plan.at[function] = *insn;
    plan.reason[function] = "entry";
  }
  if (!optimized) {
    for (const auto& [function, insn] : plan.at)
      if (!insn.emulated) plan.single_step.insert(function);
    return plan;
  }
  struct Pair {
    const char* plain;
    const char* ex;
    const char* worker;
  };
  for (const Pair& pair : {Pair{"SSL_read", "SSL_read_ex", kTlsReadWorker},
                           Pair{"SSL_write", "SSL_write_ex", kTlsWriteWorker}}) {
    if (!plan.at.contains(pair.plain) || !plan.at.contains(pair.ex)) continue;
    if (plan.at[pair.plain].emulated && plan.at[pair.ex].emulated) continue;  // already cheap
    auto worker = FindSharedWorker(elf, plan.at[pair.plain].address, plan.at[pair.ex].address);
    if (!worker) return Error{worker.error()};
    if (!*worker) continue;
    auto offset = elf.FileOffset((*worker)->address);
    if (!offset) continue;
    plan.offsets.erase(pair.plain);
    plan.offsets.erase(pair.ex);
    plan.at.erase(pair.plain);
    plan.at.erase(pair.ex);
    plan.reason.erase(pair.plain);
    plan.reason.erase(pair.ex);
    plan.offsets[pair.worker] = *offset;
    plan.at[pair.worker] = **worker;
    plan.reason[pair.worker] = std::string("worker called by ") + pair.plain + " and " + pair.ex;
  }
  for (const auto& [function, insn] : plan.at)
    if (!insn.emulated) plan.single_step.insert(function);
  return plan;
}

}  // namespace

Result<TlsPlacement> PlaceTlsProbes(const ElfFile& elf, const std::map<std::string, uint64_t>& entry_offsets,
                                    bool optimized) {
  return elf.Checked(Place(elf, entry_offsets, optimized));
}

}  // namespace l7tap::symbolizer
