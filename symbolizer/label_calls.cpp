#include "symbolizer/label_calls.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "symbolizer/x86_decoder.h"

namespace l7tap::symbolizer {
namespace {

constexpr int kMaxWalk = 32;              // instructions followed from a load to its call
constexpr uint64_t kWalkWindow = 256;     // bytes decoded from a load
constexpr size_t kMaxCandidates = 65536;  // byte-pattern matches confirmed by Capstone

uint32_t Load32(const uint8_t* bytes) {
  uint32_t value = 0;
  std::memcpy(&value, bytes, sizeof(value));  // x86-64 is little-endian, like its code
  return value;
}

// Position-dependent code may load an address as a 32-bit constant.
bool AbsoluteAddresses(const ElfFile& elf, const std::vector<uint64_t>& data) {
  return !elf.is_position_independent() && data.back() <= UINT32_MAX;
}

// Start addresses of the byte sequences that may load one of `data` (sorted) into a register:
//   REX.W 8d modrm(mod 00, rm 101) disp32     lea reg, [rip + disp32]
//   [41] b8+r imm32                           mov r32, imm32 (position-dependent code only)
//   REX.W c7 c0+r imm32                       mov r64, simm32 (position-dependent code only)
// The 4-byte field at each position is read once: as a displacement from the end of the instruction, and
// (where addresses are absolute) as the address itself.
std::vector<uint64_t> Candidates(const ElfFile& elf, const std::vector<uint64_t>& data) {
  std::vector<uint64_t> found;
  const uint64_t lo = data.front();
  const uint64_t span = data.back() - lo;
  const bool absolute = AbsoluteAddresses(elf, data);
  auto wanted = [&](uint64_t address) {
    return address - lo <= span && std::binary_search(data.begin(), data.end(), address);
  };
  for (const ElfFile::CodeRange& range : elf.ExecutableRanges()) {
    const auto read = elf.BytesAt(range.vaddr, range.size);
    if (!read || read->size() < 7) continue;
    const auto* bytes = reinterpret_cast<const uint8_t*>(read->data());
    const size_t size = read->size();
    for (size_t field = 3; field + 4 <= size && found.size() < kMaxCandidates; ++field) {
      const uint32_t value = Load32(bytes + field);
      const uint64_t rip_target = range.vaddr + field + 4 + uint64_t(int64_t(int32_t(value)));
      if (wanted(rip_target) && (bytes[field - 3] & 0xf8) == 0x48 && bytes[field - 2] == 0x8d &&
          (bytes[field - 1] & 0xc7) == 0x05) {
        found.push_back(range.vaddr + field - 3);
      }
      if (!absolute || !wanted(value)) continue;
      if ((bytes[field - 1] & 0xf8) == 0xb8) {
        // A 41 before it is REX.B (r8d-r15d) or the last byte of the previous instruction: both are tried.
        found.push_back(range.vaddr + field - 1);
        if (bytes[field - 2] == 0x41) found.push_back(range.vaddr + field - 2);
      } else if ((bytes[field - 3] & 0xf8) == 0x48 && bytes[field - 2] == 0xc7 &&
                 (bytes[field - 1] & 0xf8) == 0xc0) {
        found.push_back(range.vaddr + field - 3);
      }
    }
  }
  return found;
}

// The register `insn` (at `start`) puts one of `data` in, if it is one of the loads Candidates looks for
// (a constant only where addresses are `absolute`).
x86_reg LoadedRegister(const cs_insn* insn, uint64_t start, const std::vector<uint64_t>& data, bool absolute,
                       uint64_t& datum) {
  if (insn == nullptr || insn->address != start) return X86_REG_INVALID;
  const cs_x86& x = insn->detail->x86;
  if (x.op_count != 2 || x.operands[0].type != X86_OP_REG) return X86_REG_INVALID;
  const cs_x86_op& source = x.operands[1];
  if (insn->id == X86_INS_LEA && source.type == X86_OP_MEM && source.mem.base == X86_REG_RIP &&
      source.mem.index == X86_REG_INVALID && x.operands[0].size == 8) {
    datum = insn->address + insn->size + uint64_t(source.mem.disp);
  } else if (absolute && insn->id == X86_INS_MOV && source.type == X86_OP_IMM) {
    datum = uint64_t(source.imm);
  } else {
    return X86_REG_INVALID;
  }
  if (!std::binary_search(data.begin(), data.end(), datum)) return X86_REG_INVALID;
  return FullRegister(x.operands[0].reg);
}

bool IsRegisterCopy(const cs_insn* insn) {
  const cs_x86& x = insn->detail->x86;
  return insn->id == X86_INS_MOV && x.op_count == 2 && x.operands[0].type == X86_OP_REG &&
         x.operands[1].type == X86_OP_REG && x.operands[0].size == 8;
}

}  // namespace

Result<std::vector<LabelCall>> FindCallsPassing(const ElfFile& elf, const std::vector<uint64_t>& unsorted,
                                                int argument, size_t max_results) {
  X86Decoder decoder(elf);
  if (auto ready = decoder.Ready(); !ready) return Error{ready.error()};
  std::vector<LabelCall> calls;
  const x86_reg wanted = SysVArgumentRegister(argument);
  if (unsorted.empty() || wanted == X86_REG_INVALID) return calls;
  std::vector<uint64_t> data = unsorted;
  std::sort(data.begin(), data.end());

  std::vector<uint64_t> candidates = Candidates(elf, data);
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (uint64_t start : candidates) {
    if (calls.size() >= max_results) break;
    if (!decoder.Seek(start, kWalkWindow)) continue;
    uint64_t datum = 0;
    const x86_reg loaded = LoadedRegister(decoder.Next(), start, data, AbsoluteAddresses(elf, data), datum);
    if (loaded == X86_REG_INVALID) continue;
    std::set<x86_reg> holders{loaded};  // registers that hold the datum
    for (int i = 0; i < kMaxWalk && !holders.empty(); ++i) {
      const cs_insn* insn = decoder.Next();
      if (insn == nullptr) break;
      if (insn->id == X86_INS_CALL) {
        if (HasImmediateTarget(insn) && holders.contains(wanted)) {
          const auto target = uint64_t(insn->detail->x86.operands[0].imm);
          const auto offset = elf.FileOffset(target);
          if (offset && elf.IsExecutableOffset(*offset))
            calls.push_back({datum, start, insn->address, target});
        }
        break;
      }
      if (IsControlTransfer(insn)) break;  // the basic block ends: the call, if any, may not be reached
      if (IsRegisterCopy(insn)) {
        const x86_reg to = FullRegister(insn->detail->x86.operands[0].reg);
        if (holders.contains(FullRegister(insn->detail->x86.operands[1].reg))) {
          holders.insert(to);
        } else {
          holders.erase(to);
        }
        continue;
      }
      for (auto it = holders.begin(); it != holders.end();) {
        it = decoder.Writes(insn, *it) ? holders.erase(it) : std::next(it);
      }
    }
  }
  return calls;
}

}  // namespace l7tap::symbolizer
