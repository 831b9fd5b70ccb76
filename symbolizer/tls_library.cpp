#include "symbolizer/tls_library.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <set>
#include <system_error>
#include <vector>

namespace l7tap::symbolizer {
namespace {

constexpr size_t kMaxCandidates = 4096;  // "OpenSSL ..." strings examined per file

// "3.0.19" in "OpenSSL 3.0.19 27 Jan 2026", "1.1.1w" in "OpenSSL 1.1.1w  11 Sep 2023": after `prefix`, a
// token of the form N.N.N followed by letters or a -suffix, ending at a space or at the end of the text.
std::optional<std::string> VersionAfter(std::string_view text, std::string_view prefix) {
  if (text.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view rest = text.substr(prefix.size());
  const std::string_view token = rest.substr(0, rest.find(' '));
  size_t pos = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (pos >= token.size() || token[pos] != '.') return std::nullopt;
      ++pos;
    }
    const size_t digits_start = pos;
    while (pos < token.size() && std::isdigit(static_cast<unsigned char>(token[pos]))) ++pos;
    if (pos == digits_start) return std::nullopt;
  }
  while (pos < token.size() && std::islower(static_cast<unsigned char>(token[pos]))) ++pos;
  if (pos < token.size() && token[pos] != '-') return std::nullopt;
  return std::string(token);
}

bool IsBareVersion(std::string_view text) {
  const auto version = VersionAfter(text, "");
  return version && *version == text;
}

constexpr std::string_view kOpenssl3VersionKey = "openssl-version";  // OSSL_PROV_PARAM_CORE_VERSION

std::optional<std::string> FirstVersion(const ElfFile& elf, std::string_view prefix) {
  for (const std::string& text : elf.FindStrings(prefix, kMaxCandidates)) {
    if (auto version = VersionAfter(text, prefix)) return version;
  }
  return std::nullopt;
}

bool HasTls(const std::map<std::string, uint64_t>& offsets) {
  return offsets.count("SSL_read") != 0 && offsets.count("SSL_write") != 0;
}

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

constexpr std::string_view kTableHint =
    "derive an address table from an unstripped build with 'l7tap symbols --table <unstripped binary>' and "
    "pass "
    "it with --symbol-table";

Error NoSymbols(const ElfFile& elf, const AddressTable* table) {
  const std::string& path = elf.path();
  for (const std::string& needed : elf.Needed()) {
    if (needed.rfind("libssl", 0) == 0) {
      return Error{path + ": SSL_read/SSL_write come from the shared library " + needed +
                   " (DT_NEEDED); inspect and attach to that library instead"};
    }
  }
  if (elf.build_id().empty()) {
    return Error{path +
                 ": no SSL_read/SSL_write symbols (stripped?) and no GNU build-id, so no address table can " +
                 "name it; keep the symbols or link with -Wl,--build-id"};
  }
  if (table != nullptr) {
    return Error{path + ": no SSL_read/SSL_write symbols (stripped?) and build-id " + elf.build_id() +
                 " is not in the symbol table; " + std::string(kTableHint)};
  }
  return Error{path + ": no SSL_read/SSL_write symbols (stripped?); " + std::string(kTableHint)};
}

}  // namespace

std::optional<TlsFlavour> DetectTlsFlavour(const ElfFile& elf) {
  // BoringSSL's OPENSSL_VERSION_TEXT is "OpenSSL 1.1.1 (compatible; BoringSSL)": test it before OpenSSL.
  if (elf.FindString("compatible; BoringSSL")) return TlsFlavour{"BoringSSL", ""};
  for (const std::string& text : elf.FindStrings("BoringSSL", kMaxCandidates)) {
    if (text == "BoringSSL") return TlsFlavour{"BoringSSL", ""};
  }
  if (auto version = FirstVersion(elf, "LibreSSL ")) return TlsFlavour{"LibreSSL", *version};
  if (auto version = FirstVersion(elf, "OpenSSL ")) return TlsFlavour{"OpenSSL", *version};
  // OpenSSL 3 linked statically without OpenSSL_version() has no version text, but its provider core always
  // answers the "openssl-version" parameter with OPENSSL_VERSION_STR ("3.0.19"), and the compiler stores that
  // value right after the key. Failing that, a lone whole string "3.N.N" is the value.
  const auto keys = elf.FindWholeStrings(kOpenssl3VersionKey, kMaxCandidates);
  if (std::find(keys.begin(), keys.end(), kOpenssl3VersionKey) == keys.end()) return std::nullopt;
  if (auto value = elf.StringAfter(kOpenssl3VersionKey); value && IsBareVersion(*value)) {
    return TlsFlavour{"OpenSSL", *value};
  }
  std::set<std::string> versions;
  for (const std::string& text : elf.FindWholeStrings("3.", kMaxCandidates)) {
    if (IsBareVersion(text)) versions.insert(text);
  }
  return TlsFlavour{"OpenSSL", versions.size() == 1 ? *versions.begin() : ""};
}

namespace {

Result<TlsLibrary> Inspect(const ElfFile& elf, const AddressTable* table, const ElfFile* libcrypto) {
  const std::string& path = elf.path();
  if (!elf.is_x86_64()) {
    return Error{path + ": not x86_64 (ELF machine " + std::to_string(elf.machine()) +
                 "); l7tap attaches uprobes to 64-bit x86 code only"};
  }
  TlsLibrary library;
  library.build_id = elf.build_id();

  std::optional<SymbolTable> source;
  for (const char* function : kTlsFunctions) {
    const auto symbol = elf.FindFunction(function);
    if (!symbol) continue;
    const auto offset = elf.FileOffset(symbol->address);
    if (!offset) {
      return Error{path + ": " + function + " at " + Hex(symbol->address) +
                   " lies outside every PT_LOAD segment; the file is malformed"};
    }
    library.offsets[function] = *offset;
    if (!source) source = symbol->table;
  }

  if (HasTls(library.offsets)) {
    library.source = SymbolTableName(*source);
  } else if (table != nullptr && table->Has(library.build_id)) {
    library.offsets.clear();
    for (const char* function : kTlsFunctions) {
      const auto offset = table->Offset(library.build_id, function);
      if (!offset) continue;
      if (!elf.IsExecutableOffset(*offset)) {
        return Error{path + ": the address table puts " + function + " at " + Hex(*offset) +
                     ", outside the file's executable code; regenerate it with 'l7tap symbols --table "
                     "<unstripped binary>'"};
      }
      library.offsets[function] = *offset;
    }
    if (!HasTls(library.offsets)) {
      return Error{path + ": the address table has build-id " + library.build_id +
                   " but no SSL_read and SSL_write entries; regenerate it with 'l7tap symbols --table "
                   "<unstripped binary>'"};
    }
    library.source = "address table";
  } else {
    return NoSymbols(elf, table);
  }

  std::optional<TlsFlavour> flavour = DetectTlsFlavour(elf);
  if (!flavour && libcrypto != nullptr) flavour = DetectTlsFlavour(*libcrypto);
  library.flavour = flavour ? flavour->flavour : "unknown";
  library.version = flavour ? flavour->version : "";
  return library;
}

}  // namespace

Result<TlsLibrary> InspectTlsLibrary(const ElfFile& elf, const AddressTable* table,
                                     const ElfFile* libcrypto) {
  return elf.Checked(Inspect(elf, table, libcrypto));
}

std::optional<std::string> SiblingLibcrypto(const ElfFile& libssl) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(libssl.path());
  std::vector<fs::path> directories{path.parent_path()};
  const fs::path resolved = fs::canonical(path, ec);
  if (!ec && resolved.parent_path() != directories.front()) directories.push_back(resolved.parent_path());
  for (const std::string& needed : libssl.Needed()) {
    if (needed.rfind("libcrypto", 0) != 0) continue;
    for (const fs::path& directory : directories) {
      const fs::path candidate = directory / needed;
      if (fs::is_regular_file(candidate, ec)) return candidate.string();
    }
  }
  return std::nullopt;
}

}  // namespace l7tap::symbolizer
