// ElfFile on arbitrary bytes: Open, then every query, and the TLS inspection and probe placement built on
// them. Nothing may crash, and a file nobody changed must never be reported as changed while being read.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "symbolizer/elf_file.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/tls_library.h"
#include "tests/fuzz/fuzz_file.h"

using l7tap::symbolizer::ElfFile;

namespace {

constexpr std::string_view kFunctions[] = {"SSL_read",         "SSL_write", "SSL_read_ex", "SSL_write_ex",
                                           "SSL_do_handshake", "main",      "_start",      "ssl3_read"};
constexpr std::string_view kPrefixes[] = {
    "OpenSSL ", "LibreSSL ", "BoringSSL", "compatible; BoringSSL", "openssl-version", "3.", "GCC: ", "go1."};
constexpr std::string_view kSections[] = {".text",
                                          ".rodata",
                                          ".data",
                                          ".dynsym",
                                          ".dynstr",
                                          ".symtab",
                                          ".strtab",
                                          ".dynamic",
                                          ".gopclntab",
                                          ".go.buildinfo",
                                          ".note.gnu.build-id",
                                          ".debug_info",
                                          ".shstrtab"};

void Query(const ElfFile& elf) {
  for (std::string_view name : kFunctions) {
    const auto symbol = elf.FindFunction(name);
    if (!symbol) continue;
    if (elf.FunctionAddress(name) != symbol->address) std::abort();
    if (const auto offset = elf.FileOffset(symbol->address)) {
      (void)elf.VirtualAddress(*offset);
      (void)elf.IsExecutableOffset(*offset);
    }
    const uint64_t size = symbol->size < 64 ? symbol->size : 64;
    if (const auto bytes = elf.BytesAt(symbol->address, size); bytes && bytes->size() != size) std::abort();
  }
  for (std::string_view prefix : kPrefixes) {
    const auto first = elf.FindString(prefix);
    const auto all = elf.FindStrings(prefix, 8);
    if (first.has_value() != !all.empty() || (first && *first != all.front())) std::abort();
    for (const auto& text : all) {
      if (text.size() > ElfFile::kMaxStringLength) std::abort();
    }
    (void)elf.FindWholeStrings(prefix, 8);
    (void)elf.StringAfter(prefix);
  }
  (void)elf.Needed();
  for (std::string_view name : kSections) {
    const auto section = elf.FindSection({name});
    if (!section) continue;
    const std::string_view bytes = elf.Bytes(*section);
    if (!bytes.empty() && bytes.size() != section->size) std::abort();
    for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{16}, section->size}) {
      if (const auto at = elf.BytesAt(section->addr, size); at && at->size() != size) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path =
      l7tap::fuzz::WriteInputFile(std::string_view(reinterpret_cast<const char*>(data), size));
  auto elf = ElfFile::Open(path);
  if (!elf.ok()) {
    if (elf.error().rfind(path + ": ", 0) != 0) std::abort();  // errors name the file
    return 0;
  }
  const ElfFile& file = **elf;
  (void)file.build_id();
  (void)file.is_x86_64();
  Query(file);
  (void)l7tap::symbolizer::DetectTlsFlavour(file);
  if (auto tls = l7tap::symbolizer::InspectTlsLibrary(file, nullptr, nullptr)) {
    for (bool optimized : {false, true})
      (void)l7tap::symbolizer::PlaceTlsProbes(file, tls->offsets, optimized);
  }
  if (file.Changed()) std::abort();  // the input file never changes
  return 0;
}
