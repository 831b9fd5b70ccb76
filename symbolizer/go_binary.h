#pragma once
// What the Go TLS probes need from one Go executable: its Go version and, for crypto/tls.(*Conn).Read and
// (*Conn).Write, the entry and every RET as file offsets (uprobe offsets). Addresses come from .symtab when
// present, else from the pclntab (stripped builds); PIE builds are handled the same way (file offsets).
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_buildinfo.h"

namespace l7tap::symbolizer {

inline constexpr const char* kGoTlsFunctions[] = {"crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"};

struct GoTlsFunction {
  std::string name;
  std::string source;                    // "symtab" or "pclntab"
  uint64_t address = 0;                  // entry, virtual address in the file's own address space
  uint64_t end = 0;                      // exclusive
  uint64_t offset = 0;                   // file offset of the entry
  std::vector<uint64_t> return_offsets;  // file offset of each RET, ascending
};

struct GoBinary {
  GoBuildInfo build;
  std::vector<GoTlsFunction> functions;  // those of kGoTlsFunctions present, in that order
};

// Errors: not a Go binary; not x86-64; no pclntab and no .symtab entry; a function whose RETs cannot be
// found. A Go binary without crypto/tls gives an empty `functions`.
Result<GoBinary> InspectGoBinary(const ElfFile& elf);

}  // namespace l7tap::symbolizer
