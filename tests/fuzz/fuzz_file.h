#pragma once
// Files for the fuzz targets whose APIs open a path (ElfFile::Open): the input is written to an in-memory
// file (memfd) that ElfFile opens through /proc/self/fd/N, rewritten for each input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace l7tap::fuzz {

// Replaces the in-memory file's content with `bytes`; returns the path that opens it (one file per process).
const std::string& WriteInputFile(std::string_view bytes);

// A minimal x86-64 executable holding `code`: an ELF header and one PT_LOAD segment (read, execute) mapping
// the whole file at kTinyElfBase, no sections. The code starts at kTinyElfBase + kTinyElfCodeOffset.
inline constexpr uint64_t kTinyElfBase = 0x400000;
inline constexpr uint64_t kTinyElfCodeOffset = 64 + 56;  // after Elf64_Ehdr and one Elf64_Phdr
std::string TinyElf(std::string_view code);

}  // namespace l7tap::fuzz
