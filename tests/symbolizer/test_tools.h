#pragma once
// Expected values for the symbolizer tests, computed independently of libelf with the binutils and openssl
// command-line tools, so no version, address or offset is written into a test.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "symbolizer/elf_file.h"

// A dependency the test needs is missing: in CI (CI=true) the test fails, elsewhere it is skipped with what
// to install. Use in a test body or SetUp.
#define L7TAP_MISSING_DEPENDENCY(what)                          \
  do {                                                          \
    if (::l7tap::symbolizer::testing::InCi()) FAIL() << (what); \
    GTEST_SKIP() << (what);                                     \
  } while (0)

namespace l7tap::symbolizer::testing {

// CI=true: the CI run, where a missing dependency is a failure.
bool InCi();

inline constexpr const char* kLibssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
inline constexpr const char* kLibcrypto = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
inline constexpr const char* kLs = "/bin/ls";
// The machine's Node.js (NodeSource's nodejs): a 100 MB executable with its own OpenSSL linked in.
inline constexpr const char* kNode = "/usr/bin/node";

// Standard output of a shell command run with LC_ALL=C; fails the test (and returns "") if it exits non-zero.
std::string Run(const std::string& command);
// "0x1a2b"
std::string Hex(uint64_t value);
// objdump's (binutils, independent of Capstone) disassembly of [start, stop), one entry per instruction.
struct ObjdumpLine {
  uint64_t address = 0;
  std::string mnemonic;
  std::string operands;  // AT&T syntax: the destination is the last one
};
std::vector<ObjdumpLine> Objdump(const std::string& path, uint64_t start, uint64_t stop);

// The second field of `openssl version`: the version of the installed OpenSSL (libssl-dev's).
std::string OpensslVersion();

struct FunctionSymbols {
  std::map<std::string, uint64_t> functions;  // defined functions by bare name (default version for name@@V)
  std::set<std::string> ambiguous;            // names defined more than once at different addresses
};
// Defined FUNC and IFUNC symbols with a non-zero value in one symbol table (".dynsym" or ".symtab") as
// `readelf -sW` lists them; hidden versions (name@V) are left out.
FunctionSymbols ReadelfFunctions(const std::string& path, const std::string& table);

struct LoadSegment {
  uint64_t offset, vaddr, filesz;
};
std::vector<LoadSegment> ReadelfLoads(const std::string& path);  // PT_LOAD lines of `readelf -lW`
// p_offset + vaddr - p_vaddr for the PT_LOAD holding vaddr; fails the test if none does.
uint64_t SegmentOffset(const std::vector<LoadSegment>& loads, uint64_t vaddr);
// The inverse: p_vaddr + offset - p_offset for the PT_LOAD holding file offset `offset`; fails if none does.
uint64_t SegmentAddress(const std::vector<LoadSegment>& loads, uint64_t offset);

std::string ReadelfBuildId(const std::string& path);              // "" when readelf -n shows none
std::vector<std::string> ReadelfNeeded(const std::string& path);  // (NEEDED) entries of readelf -d
bool ReadelfHasSymtab(const std::string& path);

// DW_AT_data_member_location of each DW_TAG_member of the named DW_TAG_structure_types, as
// `readelf --debug-dump=info` prints them (binutils' own DWARF reader and decompressor, not libdw): type name
// -> member name -> offset. The first definition of each type counts; types the DWARF lacks are left out.
using StructMembers = std::map<std::string, std::map<std::string, uint64_t>>;
StructMembers ReadelfStructMembers(const std::string& path, const std::set<std::string>& types);

// The Go toolchains CMake found (L7TAP_GO_TOOLCHAINS: "1.19=/usr/lib/go-1.19,1.21=...") and the Go fixtures
// (fixtures/go) built with them.
struct GoToolchain {
  std::string version;  // "1.22"
  std::string goroot;
};
std::vector<GoToolchain> GoToolchains();
// L7TAP_GO_FIXTURES_DIR/go<version>-<variant>-<program>
std::string GoFixture(const GoToolchain& toolchain, const std::string& variant, const std::string& program);
// Third word of `<goroot>/bin/go version`: "go1.22.12".
std::string GoToolchainVersion(const GoToolchain& toolchain);

// The whole file (fails the test and returns "" if it cannot be read).
std::string ReadFile(const std::string& path);

// A file under the test's temporary directory holding `content`.
std::string WriteTempFile(const std::string& name, const std::string& content);

// Opens a file the test expects to be a valid ELF (a failed expectation otherwise, and nullptr).
std::unique_ptr<ElfFile> MustOpen(const std::string& path);

}  // namespace l7tap::symbolizer::testing
