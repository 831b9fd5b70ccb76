#include "symbolizer/tls_library.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

using testing::kLibcrypto;
using testing::kLibssl;
using testing::kLs;
using testing::MustOpen;

// File offsets of the SSL functions computed with readelf alone: symbol value, then PT_LOAD segment math.
std::map<std::string, uint64_t> ExpectedOffsets(const std::string& path, const std::string& table) {
  const auto symbols = testing::ReadelfFunctions(path, table);
  const auto loads = testing::ReadelfLoads(path);
  std::map<std::string, uint64_t> offsets;
  for (const char* function : kTlsFunctions) {
    auto it = symbols.functions.find(function);
    if (it != symbols.functions.end()) offsets[function] = testing::SegmentOffset(loads, it->second);
  }
  return offsets;
}

TEST(TlsLibraryTest, SharedLibsslTakesItsVersionFromTheSiblingLibcrypto) {
  auto libssl = MustOpen(kLibssl);
  ASSERT_NE(libssl, nullptr);
  const auto sibling = SiblingLibcrypto(*libssl);
  ASSERT_TRUE(sibling.has_value());
  EXPECT_TRUE(std::filesystem::equivalent(*sibling, kLibcrypto)) << *sibling;
  auto libcrypto = MustOpen(*sibling);
  ASSERT_NE(libcrypto, nullptr);

  auto tls = InspectTlsLibrary(*libssl, nullptr, libcrypto.get());
  ASSERT_TRUE(tls.ok()) << tls.error();
  EXPECT_EQ(tls->flavour, "OpenSSL");
  EXPECT_EQ(tls->version, testing::OpensslVersion());
  EXPECT_EQ(tls->build_id, testing::ReadelfBuildId(kLibssl));
  EXPECT_EQ(tls->source, "dynsym");
  const auto expected = ExpectedOffsets(kLibssl, ".dynsym");
  EXPECT_EQ(expected.size(), std::size(kTlsFunctions));  // OpenSSL 3 has them all
  EXPECT_EQ(tls->offsets, expected);
}

TEST(TlsLibraryTest, SharedLibsslAloneHasOffsetsButMayNotKnowItsVersion) {
  auto libssl = MustOpen(kLibssl);
  ASSERT_NE(libssl, nullptr);
  auto tls = InspectTlsLibrary(*libssl, nullptr, nullptr);
  ASSERT_TRUE(tls.ok()) << tls.error();
  EXPECT_EQ(tls->offsets, ExpectedOffsets(kLibssl, ".dynsym"));
  // Debian's libssl.so.3 carries no version text (libcrypto does); whatever it has decides.
  const auto own = DetectTlsFlavour(*libssl);
  EXPECT_EQ(tls->flavour, own ? own->flavour : "unknown");
  EXPECT_EQ(tls->version, own ? own->version : "");
}

TEST(TlsLibraryTest, DetectsOpensslInLibcrypto) {
  auto libcrypto = MustOpen(kLibcrypto);
  ASSERT_NE(libcrypto, nullptr);
  const auto flavour = DetectTlsFlavour(*libcrypto);
  ASSERT_TRUE(flavour.has_value());
  EXPECT_EQ(flavour->flavour, "OpenSSL");
  EXPECT_EQ(flavour->version, testing::OpensslVersion());
}

struct StubCase {
  const char* path;
  const char* flavour;
  const char* version;
};

TEST(TlsLibraryTest, TellsFlavoursApartByTheirVersionText) {
  for (const StubCase& stub :
       {StubCase{L7TAP_STUB_OPENSSL_111, "OpenSSL", "1.1.1w"},
        StubCase{L7TAP_STUB_BORINGSSL, "BoringSSL", ""}, StubCase{L7TAP_STUB_LIBRESSL, "LibreSSL", "3.8.2"},
        StubCase{L7TAP_STUB_VERSIONED, "OpenSSL", "3.9.1"},
        StubCase{L7TAP_STUB_OPENSSL3_CORE_ADJACENT, "OpenSSL", "3.6.1"},
        StubCase{L7TAP_STUB_OPENSSL3_CORE_LONE, "OpenSSL", "3.7.0"}}) {
    auto elf = MustOpen(stub.path);
    ASSERT_NE(elf, nullptr);
    auto tls = InspectTlsLibrary(*elf, nullptr, nullptr);
    ASSERT_TRUE(tls.ok()) << tls.error();
    EXPECT_EQ(tls->flavour, stub.flavour) << stub.path;
    EXPECT_EQ(tls->version, stub.version) << stub.path;
    EXPECT_EQ(tls->source, "symtab") << stub.path;
    EXPECT_EQ(tls->offsets, ExpectedOffsets(stub.path, ".symtab")) << stub.path;
    EXPECT_EQ(tls->offsets.size(), 2u) << stub.path;  // SSL_read and SSL_write only
  }
}

TEST(TlsLibraryTest, StaticBinaryIsResolvedFromItsSymtab) {
  auto elf = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC);
  ASSERT_NE(elf, nullptr);
  auto tls = InspectTlsLibrary(*elf, nullptr, nullptr);
  ASSERT_TRUE(tls.ok()) << tls.error();
  EXPECT_EQ(tls->flavour, "OpenSSL");
  EXPECT_EQ(tls->version, testing::OpensslVersion());
  EXPECT_EQ(tls->source, "symtab");
  EXPECT_EQ(tls->build_id, testing::ReadelfBuildId(L7TAP_FIXTURE_HTTP_SERVER_STATIC));
  const auto expected = ExpectedOffsets(L7TAP_FIXTURE_HTTP_SERVER_STATIC, ".symtab");
  EXPECT_EQ(expected.size(), std::size(kTlsFunctions));
  EXPECT_EQ(tls->offsets, expected);
}

TEST(TlsLibraryTest, StrippedTwinNeedsAnAddressTable) {
  const std::string path = L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED;
  auto stripped = MustOpen(path);
  ASSERT_NE(stripped, nullptr);
  auto tls = InspectTlsLibrary(*stripped, nullptr, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error(),
            path +
                ": no SSL_read/SSL_write symbols (stripped?); derive an address table from an "
                "unstripped build with 'l7tap symbols --table <unstripped binary>' and pass it with "
                "--symbol-table");
  EXPECT_EQ(tls.error().find('\n'), std::string::npos);
}

TEST(TlsLibraryTest, StrippedTwinResolvesThroughATableFromItsUnstrippedTwin) {
  auto full = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC);
  auto stripped = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED);
  ASSERT_NE(full, nullptr);
  ASSERT_NE(stripped, nullptr);
  auto original = InspectTlsLibrary(*full, nullptr, nullptr);
  ASSERT_TRUE(original.ok()) << original.error();

  const std::string text = AddressTable::FormatEntry(original->build_id, original->offsets);
  auto table = AddressTable::Parse(text, "derived");
  ASSERT_TRUE(table.ok()) << table.error();
  auto tls = InspectTlsLibrary(*stripped, &*table, nullptr);
  ASSERT_TRUE(tls.ok()) << tls.error();
  EXPECT_EQ(tls->source, "address table");
  EXPECT_EQ(tls->offsets, original->offsets);
  EXPECT_EQ(tls->build_id, original->build_id);
  // .rodata survives strip, so the version is still found.
  EXPECT_EQ(tls->flavour, "OpenSSL");
  EXPECT_EQ(tls->version, original->version);

  // The unstripped binary keeps using its own symbols even when a table is given.
  auto again = InspectTlsLibrary(*full, &*table, nullptr);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->source, "symtab");
}

TEST(TlsLibraryTest, TableForAnotherBuildOrWithBadEntriesIsRejected) {
  const std::string path = L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED;
  auto stripped = MustOpen(path);
  ASSERT_NE(stripped, nullptr);
  const std::string& build_id = stripped->build_id();

  auto other = AddressTable::Parse("00112233 SSL_read 0x1000\n00112233 SSL_write 0x1000\n", "other");
  ASSERT_TRUE(other.ok()) << other.error();
  auto tls = InspectTlsLibrary(*stripped, &*other, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.error().find(path + ": no SSL_read/SSL_write symbols (stripped?) and build-id " + build_id +
                             " is not in the symbol table"),
            std::string::npos)
      << tls.error();

  // Offset 0 is the ELF header: never executable code.
  auto header = AddressTable::Parse(build_id + " SSL_read 0x0\n" + build_id + " SSL_write 0x0\n", "bad");
  ASSERT_TRUE(header.ok()) << header.error();
  tls = InspectTlsLibrary(*stripped, &*header, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(
      tls.error().find(path + ": the address table puts SSL_read at 0x0, outside the file's executable code"),
      std::string::npos)
      << tls.error();

  // Only SSL_read: not enough.
  auto full = MustOpen(L7TAP_FIXTURE_HTTP_SERVER_STATIC);
  ASSERT_NE(full, nullptr);
  const auto read_offset = full->FileOffset(*full->FunctionAddress("SSL_read"));
  ASSERT_TRUE(read_offset.has_value());
  auto partial =
      AddressTable::Parse(AddressTable::FormatEntry(build_id, {{"SSL_read", *read_offset}}), "partial");
  ASSERT_TRUE(partial.ok()) << partial.error();
  tls = InspectTlsLibrary(*stripped, &*partial, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.error().find("no SSL_read and SSL_write entries"), std::string::npos) << tls.error();
}

TEST(TlsLibraryTest, FilesWithoutTlsSayWhy) {
  auto ls = MustOpen(kLs);
  ASSERT_NE(ls, nullptr);
  auto tls = InspectTlsLibrary(*ls, nullptr, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error().rfind(std::string(kLs) + ": no SSL_read/SSL_write symbols", 0), 0u) << tls.error();
  EXPECT_NE(tls.error().find("--symbol-table"), std::string::npos) << tls.error();

  // libcrypto has no SSL functions either.
  auto libcrypto = MustOpen(kLibcrypto);
  ASSERT_NE(libcrypto, nullptr);
  EXPECT_FALSE(InspectTlsLibrary(*libcrypto, nullptr, nullptr).ok());

  // A dynamically linked program gets its SSL functions from libssl: point at the library.
  const std::string dynamic = L7TAP_FIXTURE_HTTP_SERVER;
  auto server = MustOpen(dynamic);
  ASSERT_NE(server, nullptr);
  tls = InspectTlsLibrary(*server, nullptr, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error().rfind(dynamic + ": SSL_read/SSL_write come from the shared library libssl.so.", 0),
            0u)
      << tls.error();
}

TEST(TlsLibraryTest, NonX86_64IsRejected) {
  auto i386 = MustOpen(L7TAP_STUB_I386);
  ASSERT_NE(i386, nullptr);
  auto tls = InspectTlsLibrary(*i386, nullptr, nullptr);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error(), std::string(L7TAP_STUB_I386) +
                             ": not x86_64 (ELF machine 3); l7tap attaches uprobes to 64-bit x86 code only");
}

TEST(TlsLibraryTest, SiblingLibcryptoNeedsTheFileNextToLibssl) {
  auto libssl = MustOpen(kLibssl);
  ASSERT_NE(libssl, nullptr);
  // Copy libssl alone into an empty directory: its DT_NEEDED libcrypto is not beside it.
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "symbolizer_lonely_libssl";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto copy = dir / "libssl.so.3";
  std::filesystem::copy_file(kLibssl, copy);
  auto lonely = MustOpen(copy.string());
  ASSERT_NE(lonely, nullptr);
  EXPECT_FALSE(SiblingLibcrypto(*lonely).has_value());
  // A symlink to the real libssl finds libcrypto beside the file it resolves to.
  const auto link = dir / "libssl.so";
  std::filesystem::create_symlink(kLibssl, link);
  auto linked = MustOpen(link.string());
  ASSERT_NE(linked, nullptr);
  const auto sibling = SiblingLibcrypto(*linked);
  ASSERT_TRUE(sibling.has_value());
  EXPECT_TRUE(std::filesystem::equivalent(*sibling, kLibcrypto)) << *sibling;
  // Files that need no libcrypto have no sibling.
  auto ls = MustOpen(kLs);
  ASSERT_NE(ls, nullptr);
  EXPECT_FALSE(SiblingLibcrypto(*ls).has_value());
}

}  // namespace
}  // namespace l7tap::symbolizer
