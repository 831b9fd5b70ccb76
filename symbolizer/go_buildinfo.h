#pragma once
// Go detection and version from the build information the Go linker writes into every Go executable
// (section .go.buildinfo; the start of the data segment for binaries without that section).
#include <cstdint>
#include <string>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

struct GoBuildInfo {
  bool is_go = false;
  std::string version;  // runtime.Version(): "go1.22.12", "go1.23rc1", "devel go1.24-abcdef ..."
  int major = 0;        // 1 for "go1.22.12"; 0 when the version text has no goMAJOR.MINOR
  int minor = 0;        // 22 for "go1.22.12"
  int ptr_size = 0;     // 8 on 64-bit targets, 4 on 32-bit ones
};

// Errors: "<path>: not a Go binary (...)" when there is no Go build information, or a message naming the
// malformed part.
Result<GoBuildInfo> ReadGoBuildInfo(const ElfFile& elf);

// Major and minor of a Go version text ("go1.22.12" -> 1, 22; "devel go1.24-abc" -> 1, 24); false if none.
bool ParseGoVersion(const std::string& version, int& major, int& minor);

}  // namespace l7tap::symbolizer
