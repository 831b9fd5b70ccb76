#include "symbolizer/go_pclntab.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace l7tap::symbolizer {
namespace {

// Header (runtime.pcHeader): magic uint32, two zero bytes, minLC uint8, ptrSize uint8, then pointer-size
// words. Go 1.18+: nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset,
// pclnOffset. Go 1.16-1.17: the same without textStart. Offsets are from the start of the header.
// The functab at pclnOffset holds nfunc + 1 pairs (entry, funcoff): uint32 entry offsets from textStart
// (1.18+) or pointer-size absolute PCs (1.16-1.17); funcoff is from pclnOffset to the function's _func,
// which starts with its entry (uint32 offset, or a pointer) and then nameOff (int32, into funcnametab).
constexpr uint32_t kMagic116 = 0xfffffffa;
constexpr uint32_t kMagic118 = 0xfffffff0;
constexpr uint32_t kMagic120 = 0xfffffff1;
constexpr size_t kFixedHeader = 8;

uint64_t LittleEndian(const char* bytes, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

uint64_t GoPclntab::Word(uint64_t offset) const {
  if (offset > table_.size() || table_.size() - offset < static_cast<uint64_t>(ptr_size_)) return 0;
  return LittleEndian(table_.data() + offset, ptr_size_);
}

Result<std::unique_ptr<GoPclntab>> GoPclntab::Read(const ElfFile& elf) {
  return elf.Checked(ReadUnchecked(elf));
}

Result<std::unique_ptr<GoPclntab>> GoPclntab::ReadUnchecked(const ElfFile& elf) {
  const std::string& path = elf.path();
  std::unique_ptr<GoPclntab> table(new GoPclntab());
  auto section = elf.FindSection({".gopclntab", ".data.rel.ro.gopclntab"});
  if (!section) return Error{path + ": no Go pclntab (.gopclntab section)"};
  table->table_ = elf.Bytes(*section);
  if (table->table_.size() < kFixedHeader) return Error{path + ": malformed Go pclntab: too short"};
  table->magic_ = static_cast<uint32_t>(LittleEndian(table->table_.data(), 4));
  if (table->magic_ != kMagic116 && table->magic_ != kMagic118 && table->magic_ != kMagic120) {
    return Error{path + ": Go pclntab format " + Hex(table->magic_) +
                 " not supported (Go 1.16 or later, little-endian, is needed)"};
  }
  if (auto malformed = table->Parse()) return Error{path + ": malformed Go pclntab: " + *malformed};
  if (table->text_start_ == 0) {
    // Unrelocated in some position-independent builds: runtime.text starts .text.
    if (auto text = elf.FindSection({".text"})) table->text_start_ = text->addr;
  }
  return table;
}

std::optional<std::string> GoPclntab::Parse() {
  const std::string_view t = table_;
  if (t[4] != 0 || t[5] != 0) return "nonzero header padding";
  ptr_size_ = static_cast<uint8_t>(t[7]);
  if (ptr_size_ != 8 && ptr_size_ != 4) return "pointer size " + std::to_string(ptr_size_);
  legacy_ = magic_ == kMagic116;
  const int words = legacy_ ? 7 : 8;
  if (t.size() < kFixedHeader + static_cast<uint64_t>(words) * ptr_size_) return "truncated header";
  auto header = [&](int word) { return Word(kFixedHeader + static_cast<uint64_t>(word) * ptr_size_); };
  nfunc_ = header(0);
  int next = 2;
  if (!legacy_) text_start_ = header(next++);
  const uint64_t funcname_offset = header(next);
  const uint64_t pcln_offset = header(next + 4);
  if (funcname_offset >= t.size() || pcln_offset >= t.size()) return "offsets outside the section";
  funcnames_ = t.substr(funcname_offset);
  pcln_ = t.substr(pcln_offset);
  const uint64_t field = legacy_ ? ptr_size_ : 4;
  const uint64_t functab_size = (2 * nfunc_ + 1) * field;
  if (nfunc_ == 0 || nfunc_ > pcln_.size() / (2 * field) || functab_size > pcln_.size()) {
    return "function count " + std::to_string(nfunc_) + " does not fit";
  }
  functab_ = pcln_.substr(0, functab_size);

  index_.reserve(nfunc_);
  const uint64_t entry_size = legacy_ ? ptr_size_ : 4;
  for (uint64_t i = 0; i < nfunc_; ++i) {
    const uint64_t funcoff = LittleEndian(functab_.data() + (2 * i + 1) * field, static_cast<int>(field));
    if (funcoff > pcln_.size() || pcln_.size() - funcoff < entry_size + 4)
      return "function offset out of range";
    const auto name_off = static_cast<int32_t>(LittleEndian(pcln_.data() + funcoff + entry_size, 4));
    if (name_off < 0 || static_cast<uint64_t>(name_off) >= funcnames_.size()) continue;
    const char* name = funcnames_.data() + name_off;
    const void* nul = std::memchr(name, '\0', funcnames_.size() - static_cast<uint64_t>(name_off));
    if (nul == nullptr) continue;
    index_.try_emplace(std::string_view(name, static_cast<const char*>(nul) - name),
                       static_cast<uint32_t>(i));
  }
  return std::nullopt;
}

GoFunction GoPclntab::FunctionAt(uint32_t index) const {
  const int field = legacy_ ? ptr_size_ : 4;
  auto entry = [&](uint64_t i) {
    const uint64_t value = LittleEndian(functab_.data() + 2 * i * field, field);
    return legacy_ ? value : text_start_ + value;
  };
  return {entry(index), entry(index + 1)};
}

std::optional<GoFunction> GoPclntab::Find(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return FunctionAt(it->second);
}

std::optional<uint64_t> GoFunctionAddress(const ElfFile& elf, std::string_view name) {
  auto table = GoPclntab::Read(elf);
  if (!table) return std::nullopt;
  auto function = (*table)->Find(name);
  if (!function) return std::nullopt;
  return function->address;
}

}  // namespace l7tap::symbolizer
