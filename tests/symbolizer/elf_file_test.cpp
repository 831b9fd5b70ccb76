#include "symbolizer/elf_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_dwarf_offsets.h"
#include "symbolizer/go_pclntab.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/ret_finder.h"
#include "symbolizer/tls_keylog_hook.h"
#include "symbolizer/tls_library.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

using testing::kLibcrypto;
using testing::kLibssl;
using testing::kLs;
using testing::MustOpen;

TEST(ElfFileTest, MissingFileIsAnErrorNamingThePath) {
  const std::string path = ::testing::TempDir() + "symbolizer_does_not_exist.so";
  auto file = ElfFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error(), path + ": no such file");
}

TEST(ElfFileTest, TextFileIsNotElf) {
  const std::string path = testing::WriteTempFile("not_elf.txt", "#!/bin/sh\necho hello, this is not ELF\n");
  auto file = ElfFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().rfind(path + ": not an ELF file", 0), 0u) << file.error();
}

TEST(ElfFileTest, EmptyFileIsNotElf) {
  const std::string path = testing::WriteTempFile("empty", "");
  auto file = ElfFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().rfind(path + ": not an ELF file", 0), 0u) << file.error();
}

TEST(ElfFileTest, StaticArchiveIsNotAnElfFile) {
  const std::string archive = "/usr/lib/x86_64-linux-gnu/libssl.a";  // libssl-dev, which the build needs
  auto file = ElfFile::Open(archive);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error(), archive + ": not an ELF file (an ar archive of object files)");
}

TEST(ElfFileTest, DirectoryIsNotARegularFile) {
  auto file = ElfFile::Open("/usr/lib");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error(), "/usr/lib: not a regular file");
}

TEST(ElfFileTest, BuildIdMatchesReadelf) {
  for (const std::string path : {kLibssl, kLibcrypto, kLs, L7TAP_FIXTURE_HTTP_SERVER_STATIC}) {
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    const std::string expected = testing::ReadelfBuildId(path);
    ASSERT_FALSE(expected.empty()) << path;
    EXPECT_EQ(file->build_id(), expected) << path;
    EXPECT_EQ(file->path(), path);
  }
}

TEST(ElfFileTest, MachineAndSymtabMatchReadelf) {
  for (const std::string path : {kLibssl, kLibcrypto, kLs, L7TAP_FIXTURE_HTTP_SERVER_STATIC,
                                 L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED, L7TAP_STUB_VERSIONED_STRIPPED}) {
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    EXPECT_TRUE(file->is_x86_64()) << path;
    EXPECT_EQ(file->has_symtab(), testing::ReadelfHasSymtab(path)) << path;
  }
  auto i386 = MustOpen(L7TAP_STUB_I386);
  ASSERT_NE(i386, nullptr);
  EXPECT_FALSE(i386->is_x86_64());
  EXPECT_EQ(i386->machine(), 3);  // EM_386
  // The stub's own twin: the one linked with -s has no .symtab.
  EXPECT_TRUE(MustOpen(L7TAP_STUB_VERSIONED)->has_symtab());
  EXPECT_FALSE(MustOpen(L7TAP_STUB_VERSIONED_STRIPPED)->has_symtab());
}

// Every defined function readelf lists in .dynsym (versioned names by their bare name) resolves to that
// address.
TEST(ElfFileTest, DynsymFunctionsMatchReadelf) {
  for (const std::string path : {kLibssl, kLibcrypto}) {
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    const testing::FunctionSymbols expected = testing::ReadelfFunctions(path, ".dynsym");
    ASSERT_GT(expected.functions.size(), 100u) << path;
    ASSERT_TRUE(expected.functions.count("SSL_read") == 1 || path == kLibcrypto);
    for (const auto& [name, address] : expected.functions) {
      const auto symbol = file->FindFunction(name);
      ASSERT_TRUE(symbol.has_value()) << path << " " << name;
      EXPECT_EQ(symbol->address, address) << path << " " << name;
      EXPECT_EQ(symbol->table, SymbolTable::kDynsym) << path << " " << name;
    }
  }
}

// Same against .symtab of the statically linked fixture (OpenSSL linked in).
TEST(ElfFileTest, SymtabFunctionsMatchReadelf) {
  const std::string path = L7TAP_FIXTURE_HTTP_SERVER_STATIC;
  auto file = MustOpen(path);
  ASSERT_NE(file, nullptr);
  const testing::FunctionSymbols expected = testing::ReadelfFunctions(path, ".symtab");
  ASSERT_GT(expected.functions.size(), 1000u);
  for (const char* name : {"SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex", "main"}) {
    ASSERT_EQ(expected.functions.count(name), 1u) << name;
  }
  for (const auto& [name, address] : expected.functions) {
    const auto symbol = file->FindFunction(name);
    ASSERT_TRUE(symbol.has_value()) << name;
    EXPECT_EQ(symbol->table, SymbolTable::kSymtab) << name;
    // A local may share its name with a global elsewhere; readelf lists both and the global wins.
    if (expected.ambiguous.count(name) == 0) {
      EXPECT_EQ(symbol->address, address) << name;
    }
  }
}

TEST(ElfFileTest, DefaultSymbolVersionWinsOverHiddenOne) {
  for (const std::string path : {L7TAP_STUB_VERSIONED, L7TAP_STUB_VERSIONED_STRIPPED}) {
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    // nm -D shows SSL_read@@L7TAP_NEW (default) and SSL_read@L7TAP_OLD (hidden) at another address.
    const std::string dynamic = testing::Run("nm -D --defined-only '" + path + "'");
    ASSERT_NE(dynamic.find(" SSL_read@L7TAP_OLD"), std::string::npos) << dynamic;
    const auto expected = testing::ReadelfFunctions(path, ".dynsym");
    ASSERT_EQ(expected.functions.count("SSL_read"), 1u);
    EXPECT_EQ(file->FunctionAddress("SSL_read"), expected.functions.at("SSL_read")) << path;
    EXPECT_EQ(file->FunctionAddress("SSL_write"), expected.functions.at("SSL_write")) << path;
    EXPECT_FALSE(file->FunctionAddress("SSL_read@@L7TAP_NEW").has_value());
  }
}

TEST(ElfFileTest, UndefinedOrAbsentFunctionsAreNotFound) {
  auto libssl = MustOpen(kLibssl);
  ASSERT_NE(libssl, nullptr);
  // libssl imports these from libcrypto and libc: present in .dynsym, but undefined.
  const std::string undefined = testing::Run(std::string("nm -D --undefined-only ") + kLibssl);
  ASSERT_NE(undefined.find(" U ERR_new"), std::string::npos);
  EXPECT_FALSE(libssl->FunctionAddress("ERR_new").has_value());
  EXPECT_FALSE(libssl->FunctionAddress("no_such_function_anywhere").has_value());
  EXPECT_FALSE(libssl->FunctionAddress("").has_value());
  auto ls = MustOpen(kLs);
  ASSERT_NE(ls, nullptr);
  EXPECT_FALSE(ls->FunctionAddress("SSL_read").has_value());
}

// The first and last file byte of every PT_LOAD maps back through FileOffset.
TEST(ElfFileTest, FileOffsetFollowsLoadSegments) {
  bool some_segment_moves = false;  // some segment's vaddr differs from its offset, or the test proves little
  for (const std::string path : {kLibssl, kLibcrypto, kLs, L7TAP_FIXTURE_HTTP_SERVER_STATIC}) {
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    for (const auto& load : testing::ReadelfLoads(path)) {
      if (load.filesz == 0) continue;
      some_segment_moves |= load.vaddr != load.offset;
      EXPECT_EQ(file->FileOffset(load.vaddr), load.offset) << path;
      EXPECT_EQ(file->FileOffset(load.vaddr + load.filesz - 1), load.offset + load.filesz - 1) << path;
    }
    EXPECT_FALSE(file->FileOffset(0xffffffffffff0000ull).has_value());
  }
  EXPECT_TRUE(some_segment_moves);
}

TEST(ElfFileTest, FindStringReturnsTheLibraryVersionText) {
  auto libcrypto = MustOpen(kLibcrypto);
  ASSERT_NE(libcrypto, nullptr);
  const std::string version = testing::OpensslVersion();
  // `openssl version` prints "OpenSSL <version> <date> (Library: OpenSSL <version> <date>)".
  const std::string output = testing::Run("openssl version");
  const std::string library = "(Library: ";
  const size_t at = output.find(library);
  ASSERT_NE(at, std::string::npos) << output;
  const std::string expected = output.substr(at + library.size(), output.rfind(')') - at - library.size());
  EXPECT_EQ(libcrypto->FindString("OpenSSL " + version + " "), expected);
  EXPECT_FALSE(libcrypto->FindString("l7tap: no such string in libcrypto").has_value());
  EXPECT_FALSE(libcrypto->FindString("").has_value());
}

TEST(ElfFileTest, FindStringsAreBoundedAndPrintable) {
  auto stub = MustOpen(L7TAP_STUB_OPENSSL_111);
  ASSERT_NE(stub, nullptr);
  std::vector<std::string> all = stub->FindStrings("OpenSSL ", 100);
  EXPECT_EQ(stub->FindStrings("OpenSSL ", 1), std::vector<std::string>{all.front()});
  EXPECT_EQ(stub->FindString("OpenSSL "), all.front());
  // The stub's version text and its two decoys, and nothing else.
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"OpenSSL 1.1.1w  11 Sep 2023", "OpenSSL 3 provider",
                                           "OpenSSL default"}));
  // Found mid-string too (linkers merge a string into the tail of a longer one).
  EXPECT_EQ(stub->FindString("1.1.1w"), "1.1.1w  11 Sep 2023");
  EXPECT_TRUE(stub->FindStrings("OpenSSL ", 0).empty());

  auto libcrypto = MustOpen(kLibcrypto);
  ASSERT_NE(libcrypto, nullptr);
  for (const std::string& text : libcrypto->FindStrings("OpenSSL ", 10000)) {
    EXPECT_EQ(text.rfind("OpenSSL ", 0), 0u);
    EXPECT_LE(text.size(), ElfFile::kMaxStringLength);
    for (char c : text) EXPECT_TRUE(std::isprint(static_cast<unsigned char>(c)) || std::isspace(c)) << text;
  }
}

TEST(ElfFileTest, WholeStringsAndTheStringAfterOne) {
  // The stub stores "\0openssl-version\0" "3.6.1\0provider-name" in one array.
  auto stub = MustOpen(L7TAP_STUB_OPENSSL3_CORE_ADJACENT);
  ASSERT_NE(stub, nullptr);
  EXPECT_EQ(stub->FindWholeStrings("openssl-version", 10), std::vector<std::string>{"openssl-version"});
  EXPECT_EQ(stub->FindStrings("ssl-version", 10), std::vector<std::string>{"ssl-version"});
  EXPECT_TRUE(stub->FindWholeStrings("ssl-version", 10).empty());
  EXPECT_EQ(stub->StringAfter("openssl-version"), "3.6.1");
  EXPECT_EQ(stub->StringAfter("3.6.1"), "provider-name");
  EXPECT_FALSE(stub->StringAfter("openssl").has_value());  // no whole string equals it
  EXPECT_FALSE(stub->StringAfter("").has_value());
}

// Where code loads a string from: every occurrence followed by its NUL, the merged tail of a longer string
// included, as virtual addresses.
TEST(ElfFileTest, StringAddressesAreWhereTheBytesAre) {
  const std::string bytes = testing::ReadFile(kLibssl);
  const auto loads = testing::ReadelfLoads(kLibssl);
  auto libssl = MustOpen(kLibssl);
  ASSERT_NE(libssl, nullptr);
  const size_t early = bytes.find(std::string("\0EARLY_EXPORTER_SECRET\0", 23));
  ASSERT_NE(early, std::string::npos);
  const uint64_t early_address = testing::SegmentAddress(loads, early + 1);
  EXPECT_EQ(libssl->FindStringAddresses("EARLY_EXPORTER_SECRET", 10), std::vector<uint64_t>{early_address});
  // The linker stores EXPORTER_SECRET as EARLY_EXPORTER_SECRET's tail.
  EXPECT_EQ(libssl->FindStringAddresses("EXPORTER_SECRET", 10), std::vector<uint64_t>{early_address + 6});
  EXPECT_TRUE(libssl->FindStringAddresses("EXPORTER_SECRE", 10).empty());  // not followed by its NUL
  EXPECT_TRUE(libssl->FindStringAddresses("", 10).empty());
  EXPECT_TRUE(libssl->FindStringAddresses("CLIENT_RANDOM", 0).empty());
  // A string in many places: bounded.
  auto libcrypto = MustOpen(kLibcrypto);
  ASSERT_NE(libcrypto, nullptr);
  EXPECT_EQ(libcrypto->FindStringAddresses("name", 3).size(), 3u);
}

// The executable PT_LOADs as readelf lists them ("R E" flags), and whether the file is position-independent.
TEST(ElfFileTest, ExecutableRangesAndPositionIndependenceMatchReadelf) {
  const std::string go = testing::GoFixture(testing::GoToolchains().front(), "default", "server");
  const std::string go_pie = testing::GoFixture(testing::GoToolchains().front(), "pie", "server");
  for (const std::string& path : {std::string(kLibssl), std::string(kLs), std::string(testing::kNode),
                                  std::string(L7TAP_FIXTURE_HTTP_SERVER_STATIC), go, go_pie}) {
    std::vector<ElfFile::CodeRange> expected;
    std::istringstream lines(testing::Run("readelf -lW '" + path + "'"));
    bool dyn = false;
    for (std::string line; std::getline(lines, line);) {
      if (line.find("Elf file type is DYN") != std::string::npos) dyn = true;
      std::istringstream fields(line);
      std::string type, offset, vaddr, paddr, filesz, memsz, flags;
      if (!(fields >> type) || type != "LOAD") continue;
      fields >> offset >> vaddr >> paddr >> filesz >> memsz;
      std::getline(fields, flags);
      if (flags.find('E') == std::string::npos) continue;
      expected.push_back({std::stoull(vaddr, nullptr, 16), std::stoull(filesz, nullptr, 16)});
    }
    ASSERT_FALSE(expected.empty()) << path;
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    const auto ranges = file->ExecutableRanges();
    ASSERT_EQ(ranges.size(), expected.size()) << path;
    for (size_t i = 0; i < ranges.size(); ++i) {
      EXPECT_EQ(ranges[i].vaddr, expected[i].vaddr) << path;
      EXPECT_EQ(ranges[i].size, expected[i].size) << path;
    }
    EXPECT_EQ(file->is_position_independent(), dyn) << path;
  }
}

TEST(ElfFileTest, NeededMatchesReadelf) {
  for (const std::string path : {kLibssl, kLibcrypto, kLs, L7TAP_FIXTURE_HTTP_SERVER}) {
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    const auto expected = testing::ReadelfNeeded(path);
    EXPECT_FALSE(expected.empty()) << path;
    EXPECT_EQ(file->Needed(), expected) << path;
  }
  auto libssl = MustOpen(kLibssl);
  ASSERT_NE(libssl, nullptr);
  EXPECT_EQ(libssl->Needed().front().rfind("libcrypto.so.", 0), 0u);
}

TEST(ElfFileTest, StrippedTwinKeepsBuildIdAndLosesSymbols) {
  auto full = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC);
  auto stripped = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED);
  ASSERT_NE(full, nullptr);
  ASSERT_NE(stripped, nullptr);
  EXPECT_FALSE(full->build_id().empty());
  EXPECT_EQ(stripped->build_id(), full->build_id());
  EXPECT_TRUE(full->has_symtab());
  EXPECT_FALSE(stripped->has_symtab());
  EXPECT_TRUE(full->FunctionAddress("SSL_read").has_value());
  EXPECT_FALSE(stripped->FunctionAddress("SSL_read").has_value());
}

// A copy of `path` in the test's temporary directory, cut to its first `size` bytes (all when size is -1).
std::string CopyOf(const std::string& path, const std::string& name, int64_t size = -1) {
  const std::string copy = ::testing::TempDir() + "symbolizer_" + name;
  std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
  if (size >= 0) {
    EXPECT_EQ(truncate(copy.c_str(), size), 0) << copy;
  }
  return copy;
}

uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

// Every query an inspection makes, on a file whose bytes may be gone: none may crash.
void QueryEverything(const ElfFile& file) {
  (void)file.FindFunction("SSL_read");
  (void)file.FindFunction("crypto/tls.(*Conn).Read");
  (void)file.FindString("OpenSSL ");
  (void)file.FindStrings("go1.", 10);
  (void)file.FindWholeStrings("3.", 10);
  (void)file.StringAfter("openssl-version");
  (void)file.FindStringAddresses("CLIENT_RANDOM", 10);
  (void)file.ExecutableRanges();
  (void)file.Needed();
  for (const auto& name : {".text", ".rodata", ".gopclntab", ".go.buildinfo", ".symtab"}) {
    if (auto section = file.FindSection({name})) {
      (void)file.Bytes(*section);
      (void)file.BytesAt(section->addr, std::min<uint64_t>(section->size, 64));
    }
  }
  (void)DetectTlsFlavour(file);
  (void)InspectTlsLibrary(file, nullptr, nullptr);
  (void)InspectGoBinary(file, GoOffsetsOrder::kDwarfFirst);
  (void)ReadGoBuildInfo(file);
  (void)GoPclntab::Read(file);
  (void)ReadGoFdOffsetsFromDwarf(file);
  (void)FindOpenSslKeyLogHook(file);
  (void)FindSslLogSecretFromCode(file);
  (void)FindGoKeyLogHook(file);
  if (auto symbol = file.FindFunction("SSL_read")) {
    if (auto offset = file.FileOffset(symbol->address)) {
      (void)PlaceTlsProbes(file, {{"SSL_read", *offset}}, /*optimized=*/true);
    }
    (void)FindReturns(file, symbol->address, symbol->address + std::max<uint64_t>(symbol->size, 1));
  }
}

// A copy cut anywhere, from inside the ELF header to the last byte, is refused as truncated at Open, so no
// inspection reads past its end or calls it stripped.
TEST(ElfFileTest, TruncatedCopiesAreRefusedAsTruncated) {
  const std::string go = testing::GoFixture(testing::GoToolchains().front(), "default", "server");
  for (const std::string& original : {std::string(L7TAP_FIXTURE_HTTP_SERVER_STATIC), go}) {
    const uint64_t size = FileSize(original);
    auto whole = MustOpen(original);
    ASSERT_NE(whole, nullptr);
    const auto text = whole->FindSection({".text"});
    ASSERT_TRUE(text.has_value());
    for (const uint64_t cut : {uint64_t{4}, uint64_t{20}, uint64_t{63}, uint64_t{64}, uint64_t{100},
                               uint64_t{4096}, text->offset + 1, size / 3, size / 2, size - 100, size - 1}) {
      const std::string copy = CopyOf(original, "truncated", int64_t(cut));
      auto file = ElfFile::Open(copy);
      ASSERT_FALSE(file.ok()) << original << " cut at " << cut;
      EXPECT_EQ(file.error().rfind(copy + ": truncated: the file has " + std::to_string(cut) + " bytes", 0),
                0u)
          << file.error();
    }
  }
}

// Open, then the file shrinks (a package upgrade rewriting it in place): nothing crashes (no mapping to
// fault on), and every inspection says it was truncated while being read.
TEST(ElfFileTest, FileTruncatedWhileOpenIsReportedNotCrashedOn) {
  const std::string go = testing::GoFixture(testing::GoToolchains().front(), "default", "server");
  for (const std::string& original : {std::string(L7TAP_FIXTURE_HTTP_SERVER_STATIC), go}) {
    const uint64_t size = FileSize(original);
    for (const uint64_t cut : {uint64_t{0}, uint64_t{64}, size / 2, size - 1}) {
      const std::string copy = CopyOf(original, "shrinking");
      auto file = ElfFile::Open(copy);
      ASSERT_TRUE(file.ok()) << file.error();
      ASSERT_EQ(truncate(copy.c_str(), off_t(cut)), 0);
      QueryEverything(**file);
      const std::string expected = copy + ": truncated while being read (size changed from " +
                                   std::to_string(size) + " to " + std::to_string(cut) + ")";
      auto changed = (*file)->Changed();
      ASSERT_TRUE(changed.has_value()) << original << " cut at " << cut;
      EXPECT_EQ(changed->message, expected);
      auto tls = InspectTlsLibrary(**file, nullptr, nullptr);
      ASSERT_FALSE(tls.ok());
      EXPECT_EQ(tls.error(), expected);
      auto go_binary = InspectGoBinary(**file);
      ASSERT_FALSE(go_binary.ok());
      EXPECT_EQ(go_binary.error(), expected);
      for (auto& keylog : {FindOpenSslKeyLogHook(**file), FindGoKeyLogHook(**file)}) {
        ASSERT_FALSE(keylog.ok());
        EXPECT_EQ(keylog.error(), expected);
      }
    }
  }
}

// Rewritten in place at the same size: the modification time tells.
TEST(ElfFileTest, FileRewrittenWhileOpenIsReported) {
  const std::string copy = CopyOf(L7TAP_FIXTURE_HTTP_SERVER_STATIC, "rewritten");
  auto file = ElfFile::Open(copy);
  ASSERT_TRUE(file.ok()) << file.error();
  EXPECT_FALSE((*file)->Changed().has_value());
  ASSERT_TRUE(InspectTlsLibrary(**file, nullptr, nullptr).ok());
  const timespec later[2] = {{0, UTIME_OMIT}, {1, 0}};  // another mtime, as a rewrite leaves
  ASSERT_EQ(utimensat(AT_FDCWD, copy.c_str(), later, 0), 0);
  auto tls = InspectTlsLibrary(**file, nullptr, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error(), copy + ": rewritten while being read (modified since it was opened)");
}

// No inspection maps the file (a mapping is what a truncation turns into SIGBUS), libdw's DWARF reading
// included.
TEST(ElfFileTest, InspectionsDoNotMapTheFile) {
  const std::string go = testing::GoFixture(testing::GoToolchains().front(), "default", "server");
  for (const std::string& path : {std::string(L7TAP_FIXTURE_HTTP_SERVER_STATIC), go}) {
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    auto file = MustOpen(path);
    ASSERT_NE(file, nullptr);
    QueryEverything(*file);
    ASSERT_TRUE(InspectGoBinary(*file).ok() || path != go);
    ASSERT_TRUE(InspectTlsLibrary(*file, nullptr, nullptr).ok() || path == go);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      std::istringstream fields(line);
      std::string range, perms, offset, device;
      uint64_t inode = 0;
      fields >> range >> perms >> offset >> device >> inode;
      EXPECT_NE(inode, uint64_t(st.st_ino)) << path << " is mapped: " << line;
    }
  }
}

// Repeated reads of one range are served from memory: the same bytes at the same address.
TEST(ElfFileTest, BytesAreReadOnceAndStayValid) {
  auto file = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC);
  ASSERT_NE(file, nullptr);
  const auto text = file->FindSection({".text"});
  ASSERT_TRUE(text.has_value());
  const std::string_view all = file->Bytes(*text);
  ASSERT_EQ(all.size(), text->size);
  EXPECT_EQ(file->Bytes(*text).data(), all.data());
  const auto head = file->BytesAt(text->addr, 16);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(*head, all.substr(0, 16));
  const auto again = file->BytesAt(text->addr, 16);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->data(), head->data());
  std::ifstream raw(L7TAP_FIXTURE_HTTP_SERVER_STATIC, std::ios::binary);
  raw.seekg(std::streamoff(text->offset));
  std::string expected(64, '\0');
  raw.read(expected.data(), 64);
  EXPECT_EQ(all.substr(0, 64), expected);
}

}  // namespace
}  // namespace l7tap::symbolizer
