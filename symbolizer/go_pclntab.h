#pragma once
// Function addresses of a Go executable from its pclntab (.gopclntab; .data.rel.ro.gopclntab in PIE
// builds), the runtime's own function table, which stripping (-ldflags="-s -w") keeps. Formats of Go 1.16
// and later (magic 0xfffffffa for 1.16-1.17, 0xfffffff0 for 1.18-1.19, 0xfffffff1 for 1.20+).
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

struct GoFunction {
  uint64_t address = 0;  // entry: a virtual address in the file's own address space (as .symtab has it)
  uint64_t end = 0;      // the next function's entry (alignment padding included)
};

class GoPclntab {
 public:
  // Reads the header and indexes every function name once. Errors name the path: no pclntab (not Go, or
  // a format older than Go 1.16), malformed header or table. The table reads `elf`'s bytes: `elf` must
  // outlive it.
  static Result<std::unique_ptr<GoPclntab>> Read(const ElfFile& elf);

  // By full name, e.g. "crypto/tls.(*Conn).Read".
  std::optional<GoFunction> Find(std::string_view name) const;
  size_t function_count() const { return nfunc_; }
  uint64_t text_start() const { return text_start_; }
  uint32_t magic() const { return magic_; }

 private:
  GoPclntab() = default;
  static Result<std::unique_ptr<GoPclntab>> ReadUnchecked(const ElfFile& elf);  // Read without Checked
  std::optional<std::string> Parse();    // nullopt on success, else what is malformed
  uint64_t Word(uint64_t offset) const;  // a target pointer-size word at a pclntab offset (bounds checked)
  GoFunction FunctionAt(uint32_t index) const;

  std::string_view table_;  // the section's bytes, owned by the ElfFile (which must outlive this table)
  uint32_t magic_ = 0;
  int ptr_size_ = 8;
  bool legacy_ = false;  // Go 1.16-1.17: pointer-size functab entries holding absolute PCs
  uint64_t nfunc_ = 0;
  uint64_t text_start_ = 0;
  std::string_view funcnames_;
  std::string_view functab_;  // nfunc + 1 (entry, funcoff) pairs, the last one's entry = end of text
  std::string_view pcln_;     // funcoff is relative to this
  std::unordered_map<std::string_view, uint32_t> index_;  // name -> functab index; names point into the map
};

// Convenience for one lookup: the entry address of `name`, or nullopt (no pclntab, or no such function).
std::optional<uint64_t> GoFunctionAddress(const ElfFile& elf, std::string_view name);

}  // namespace l7tap::symbolizer
