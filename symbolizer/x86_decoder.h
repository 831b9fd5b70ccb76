#pragma once
// Capstone decoding of an ElfFile's x86-64 code, one instruction at a time with operand details, for the
// finders that follow code forward from an address (label_calls, register_thunk). Internal to the symbolizer:
// the only header here that exposes Capstone types.
#include <capstone/capstone.h>

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

class X86Decoder {
 public:
  explicit X86Decoder(const ElfFile& elf);
  ~X86Decoder();
  X86Decoder(const X86Decoder&) = delete;
  X86Decoder& operator=(const X86Decoder&) = delete;

  // Not x86-64, or Capstone failed to start.
  Result<Ok> Ready() const;
  // Decodes from `vaddr` on, through at most `window` file bytes (fewer where its segment's bytes end).
  // False when `vaddr` is not in an executable segment's file bytes.
  bool Seek(uint64_t vaddr, uint64_t window);
  // The next instruction, or nullptr at the end of the window or on bytes that do not decode. Valid until
  // the next call.
  const cs_insn* Next();
  // Whether `insn` writes `full` (a 64-bit general register) or any part of it; true when Capstone cannot
  // tell.
  bool Writes(const cs_insn* insn, x86_reg full) const;

 private:
  const ElfFile& elf_;
  std::vector<ElfFile::CodeRange> code_ranges_;
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
  const uint8_t* code_ = nullptr;
  size_t left_ = 0;
  uint64_t address_ = 0;
};

// The 64-bit general register that `reg` names or is part of (eax, ax, al, ah -> rax); X86_REG_INVALID for
// any other register.
x86_reg FullRegister(x86_reg reg);

// The SysV AMD64 register of integer argument `index` (0: rdi, 1: rsi, 2: rdx, 3: rcx, 4: r8, 5: r9).
x86_reg SysVArgumentRegister(int index);

// A direct (immediate-target) call or jump.
bool HasImmediateTarget(const cs_insn* insn);
// Any jump, call, return or interrupt: where a straight-line walk ends.
bool IsControlTransfer(const cs_insn* insn);

}  // namespace l7tap::symbolizer
