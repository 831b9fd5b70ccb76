#pragma once
// Where to attach the TLS uprobes in one OpenSSL-compatible library or statically linked binary, and which
// library it is.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"
#include "symbolizer/address_table.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

// The data calls, and the handshake (whose syscalls name a session's socket before its first read).
inline constexpr const char* kTlsFunctions[] = {"SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex",
                                                "SSL_do_handshake"};

struct TlsLibrary {
  std::string flavour;   // "OpenSSL", "BoringSSL", "LibreSSL", or "unknown"
  std::string version;   // e.g. "3.0.19" or "1.1.1w"; "" if not found (always "" for BoringSSL)
  std::string build_id;  // of the inspected file; "" if it has none
  std::map<std::string, uint64_t> offsets;  // file offsets of whichever of kTlsFunctions exist
  std::string source;                       // "symtab", "dynsym" or "address table"
};

// Flavour and version from a version string found in the file's read-only data, e.g.
// "OpenSSL 3.0.19 27 Jan 2026" -> {"OpenSSL", "3.0.19"}; nullopt when the file names no TLS library.
struct TlsFlavour {
  std::string flavour;
  std::string version;
};
std::optional<TlsFlavour> DetectTlsFlavour(const ElfFile& elf);

// Offsets come from the ELF's symbols (.symtab, then .dynsym); when SSL_read and SSL_write are not both
// there, from `table` by build-id (may be null). The flavour is searched in `elf`, then in `libcrypto` (may
// be null: a shared libssl keeps its version text in libcrypto). Errors are one line naming the file and the
// fix.
Result<TlsLibrary> InspectTlsLibrary(const ElfFile& elf, const AddressTable* table, const ElfFile* libcrypto);

// The libcrypto named in libssl's DT_NEEDED, if that file exists next to libssl (in the directory of the
// given path, or of the path it resolves to when that is a symlink).
std::optional<std::string> SiblingLibcrypto(const ElfFile& libssl);

}  // namespace l7tap::symbolizer
