#include "tests/fuzz/fuzz_file.h"

#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace l7tap::fuzz {

const std::string& WriteInputFile(std::string_view bytes) {
  static const int fd = memfd_create("l7tap-fuzz-input", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ftruncate(fd, 0) != 0 ||
      pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    std::perror("fuzz: cannot write the input file (memfd)");
    std::abort();
  }
  return path;
}

std::string TinyElf(std::string_view code) {
  Elf64_Ehdr ehdr{};
  std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
  ehdr.e_ident[EI_CLASS] = ELFCLASS64;
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  ehdr.e_type = ET_EXEC;
  ehdr.e_machine = EM_X86_64;
  ehdr.e_version = EV_CURRENT;
  ehdr.e_entry = kTinyElfBase + kTinyElfCodeOffset;
  ehdr.e_phoff = sizeof(Elf64_Ehdr);
  ehdr.e_ehsize = sizeof(Elf64_Ehdr);
  ehdr.e_phentsize = sizeof(Elf64_Phdr);
  ehdr.e_phnum = 1;
  Elf64_Phdr phdr{};
  phdr.p_type = PT_LOAD;
  phdr.p_flags = PF_R | PF_X;
  phdr.p_offset = 0;
  phdr.p_vaddr = phdr.p_paddr = kTinyElfBase;
  phdr.p_filesz = phdr.p_memsz = kTinyElfCodeOffset + code.size();
  phdr.p_align = 0x1000;
  static_assert(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) == kTinyElfCodeOffset);
  std::string file(reinterpret_cast<const char*>(&ehdr), sizeof(ehdr));
  file.append(reinterpret_cast<const char*>(&phdr), sizeof(phdr));
  file.append(code);
  return file;
}

}  // namespace l7tap::fuzz
