// FindOpenSslKeyLogHook and FindSslLogSecretFromCode on Debian's stripped libssl.so.3, node, the static
// OpenSSL fixtures (with and without symbols) and the key-log stubs (stubs/keylog_stub.c). Expected offsets
// come from readelf's symbols of the file or of its unstripped twin, or from objdump's disassembly (binutils,
// not Capstone).
#include "symbolizer/tls_keylog_hook.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "symbolizer/register_thunk.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

namespace t = testing;

const std::string kStubs = L7TAP_KEYLOG_STUBS_DIR;
std::string Stub(const std::string& name) { return kStubs + "/keylog_stub_" + name; }

// File offset of a function of `path`'s `table` (".symtab" or ".dynsym"), by readelf.
uint64_t SymbolOffset(const std::string& path, const std::string& table, const std::string& name) {
  const auto symbols = t::ReadelfFunctions(path, table);
  const auto it = symbols.functions.find(name);
  if (it == symbols.functions.end()) {
    ADD_FAILURE() << path << " has no " << name << " in " << table;
    return 0;
  }
  return t::SegmentOffset(t::ReadelfLoads(path), it->second);
}

// The operand after objdump's "# " (the address of a RIP-relative operand), or of a direct call or jmp.
std::optional<uint64_t> CommentAddress(const std::string& operands) {
  const size_t hash = operands.find("# ");
  if (hash == std::string::npos) return std::nullopt;
  return std::stoull(operands.substr(hash + 2), nullptr, 16);
}

struct ObjdumpThunk {
  uint64_t ssl_log_secret = 0;  // what the code that loads CLIENT_RANDOM into %rsi calls
  uint64_t jump = 0;            // the jmp that ends it
  uint64_t jump_target = 0;
};

// CLIENT_RANDOM's address from the file's bytes, then as objdump disassembles the file: the `lea
// ...(%rip),%rsi` that loads it, the call after it, and the jmp ending the callee after register moves only.
ObjdumpThunk ObjdumpClientRandomThunk(const std::string& path) {
  ObjdumpThunk thunk;
  const std::string bytes = t::ReadFile(path);
  const size_t at = bytes.find(std::string("\0CLIENT_RANDOM\0", 15));
  if (at == std::string::npos) {
    ADD_FAILURE() << path << " has no CLIENT_RANDOM string";
    return thunk;
  }
  const auto loads = t::ReadelfLoads(path);
  const uint64_t label = t::SegmentAddress(loads, at + 1);
  uint64_t code_start = UINT64_MAX, code_end = 0;
  for (const auto& l : loads) {
    code_start = std::min(code_start, l.vaddr);
    code_end = std::max(code_end, l.vaddr + l.filesz);
  }
  const auto lines = t::Objdump(path, code_start, code_end);
  for (size_t i = 0; i < lines.size() && thunk.ssl_log_secret == 0; ++i) {
    if (lines[i].mnemonic != "lea" || lines[i].operands.find("(%rip),%rsi") == std::string::npos ||
        CommentAddress(lines[i].operands) != label)
      continue;
    for (size_t j = i + 1; j < lines.size() && j < i + 16; ++j) {
      if (lines[j].mnemonic == "call") {
        thunk.ssl_log_secret = std::stoull(lines[j].operands, nullptr, 16);
        break;
      }
    }
  }
  if (thunk.ssl_log_secret == 0) {
    ADD_FAILURE() << path << ": objdump shows no call after a lea of CLIENT_RANDOM into %rsi";
    return thunk;
  }
  for (const auto& line : t::Objdump(path, thunk.ssl_log_secret, thunk.ssl_log_secret + 64)) {
    if (line.mnemonic == "jmp") {
      thunk.jump = line.address;
      thunk.jump_target = std::stoull(line.operands, nullptr, 16);
      break;
    }
    EXPECT_TRUE(line.mnemonic == "mov" || line.mnemonic == "lea" || line.mnemonic == "endbr64")
        << path << ": ssl_log_secret at " << t::Hex(thunk.ssl_log_secret)
        << " is no thunk: " << line.mnemonic;
  }
  return thunk;
}

// The jmp rel32 at `jump` decoded from the file's bytes: e9, then the target relative to the next
// instruction.
uint64_t Rel32JumpTarget(const std::string& path, uint64_t jump) {
  const std::string bytes = t::ReadFile(path);
  const uint64_t offset = t::SegmentOffset(t::ReadelfLoads(path), jump);
  if (offset + 5 > bytes.size() || static_cast<uint8_t>(bytes[offset]) != 0xe9) {
    ADD_FAILURE() << path << ": no jmp rel32 at " << t::Hex(jump);
    return 0;
  }
  uint32_t rel = 0;
  for (int i = 3; i >= 0; --i) rel = (rel << 8) | static_cast<uint8_t>(bytes[offset + 1 + i]);
  return jump + 5 + uint64_t(int64_t(int32_t(rel)));
}

// What Capstone prints for objdump's first instruction at `vaddr` starts with the same mnemonic.
void ExpectInstruction(const std::string& path, uint64_t vaddr, const KeyLogHook& hook) {
  const auto lines = t::Objdump(path, vaddr, vaddr + 16);
  ASSERT_FALSE(lines.empty()) << path;
  EXPECT_EQ(hook.instruction.substr(0, hook.instruction.find(' ')), lines[0].mnemonic) << path;
  // The kernel emulates push of a register; the entries here are push or mov (single-stepped).
  EXPECT_EQ(hook.single_step, lines[0].mnemonic != "push") << path << " " << hook.instruction;
}

TEST(OpenSslKeyLogHookTest, StrippedLibsslFromCodeIsTheThunksJumpTarget) {
  ASSERT_FALSE(t::ReadelfHasSymtab(t::kLibssl)) << "Debian's libssl.so.3 is stripped";
  const ObjdumpThunk expected = ObjdumpClientRandomThunk(t::kLibssl);
  ASSERT_NE(expected.jump_target, 0u);
  EXPECT_EQ(Rel32JumpTarget(t::kLibssl, expected.jump), expected.jump_target);
  const auto loads = t::ReadelfLoads(t::kLibssl);

  auto elf = t::MustOpen(t::kLibssl);
  ASSERT_NE(elf, nullptr);
  auto hook = FindOpenSslKeyLogHook(*elf);
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->kind, KeyLogHookKind::kNssKeylog);
  EXPECT_EQ(hook->source, "code");
  EXPECT_EQ(hook->offset, t::SegmentOffset(loads, expected.jump_target));
  EXPECT_EQ(hook->thunk_offset, t::SegmentOffset(loads, expected.ssl_log_secret));
  ExpectInstruction(t::kLibssl, expected.jump_target, *hook);

  auto calls = FindSslLogSecretFromCode(*elf);
  ASSERT_TRUE(calls.ok()) << calls.error();
  EXPECT_EQ(calls->address, expected.ssl_log_secret);
  EXPECT_GE(calls->calls, 2u);  // CLIENT_RANDOM, EXPORTER_SECRET, EARLY_EXPORTER_SECRET
}

TEST(OpenSslKeyLogHookTest, NodeLogsInItsOwnSslLogSecret) {
  ASSERT_TRUE(std::filesystem::exists(t::kNode)) << t::kNode << " is missing (the machine's nodejs)";
  const auto dynsym = t::ReadelfFunctions(t::kNode, ".dynsym");
  ASSERT_TRUE(dynsym.functions.contains("ssl_log_secret")) << "node exports ssl_log_secret";
  const uint64_t address = dynsym.functions.at("ssl_log_secret");
  const uint64_t expected = t::SegmentOffset(t::ReadelfLoads(t::kNode), address);

  const auto start = std::chrono::steady_clock::now();
  auto elf = t::MustOpen(t::kNode);
  ASSERT_NE(elf, nullptr);
  auto hook = FindOpenSslKeyLogHook(*elf);
  const auto by_symbol = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(hook.ok()) << hook.error();
  // nss_keylog_int is inlined: ssl_log_secret checks for a callback itself, so it is no thunk.
  EXPECT_EQ(hook->kind, KeyLogHookKind::kSslLogSecret);
  EXPECT_EQ(hook->offset, expected);
  EXPECT_EQ(hook->source, t::ReadelfHasSymtab(t::kNode) ? "symtab" : "dynsym");
  EXPECT_EQ(hook->thunk_offset, std::nullopt);
  ExpectInstruction(t::kNode, address, *hook);

  // The code alone (position-dependent: the labels are loaded as immediates) names the same function.
  const auto code_start = std::chrono::steady_clock::now();
  auto fresh = t::MustOpen(t::kNode);
  ASSERT_NE(fresh, nullptr);
  auto calls = FindSslLogSecretFromCode(*fresh);
  const auto by_code = std::chrono::steady_clock::now() - code_start;
  ASSERT_TRUE(calls.ok()) << calls.error();
  EXPECT_EQ(calls->address, address);
  EXPECT_GE(calls->calls, 2u);
  // 100 MB, 27 MB of code: one pass over the bytes, not a disassembly of all of it.
  using std::chrono::milliseconds;
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(by_symbol).count(), 1000);
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(by_code).count(), 1000);
}

TEST(OpenSslKeyLogHookTest, StaticFixturesNameNssKeylogInt) {
  for (const std::string path : {L7TAP_FIXTURE_HTTP_SERVER_STATIC, L7TAP_FIXTURE_HTTP_CLIENT_STATIC}) {
    const auto symbols = t::ReadelfFunctions(path, ".symtab");
    ASSERT_TRUE(symbols.functions.contains("nss_keylog_int")) << path;
    ASSERT_TRUE(symbols.functions.contains("ssl_log_secret")) << path;
    const auto loads = t::ReadelfLoads(path);
    auto elf = t::MustOpen(path);
    ASSERT_NE(elf, nullptr);
    auto hook = FindOpenSslKeyLogHook(*elf);
    ASSERT_TRUE(hook.ok()) << hook.error();
    EXPECT_EQ(hook->kind, KeyLogHookKind::kNssKeylog) << path;
    EXPECT_EQ(hook->source, "symtab") << path;
    EXPECT_EQ(hook->offset, t::SegmentOffset(loads, symbols.functions.at("nss_keylog_int"))) << path;
    EXPECT_EQ(hook->thunk_offset, std::nullopt) << path;
    ExpectInstruction(path, symbols.functions.at("nss_keylog_int"), *hook);

    // The code agrees with the symbols: the label calls go to ssl_log_secret, a thunk to nss_keylog_int.
    auto calls = FindSslLogSecretFromCode(*elf);
    ASSERT_TRUE(calls.ok()) << calls.error();
    EXPECT_EQ(calls->address, symbols.functions.at("ssl_log_secret")) << path;
    auto thunk = FindRegisterThunk(*elf, calls->address);
    ASSERT_TRUE(thunk.ok()) << thunk.error();
    ASSERT_TRUE(thunk->has_value()) << path;
    EXPECT_EQ((*thunk)->target, symbols.functions.at("nss_keylog_int")) << path;
    EXPECT_EQ((*thunk)->constant_arguments.at(3), 32) << path;  // SSL3_RANDOM_SIZE in rcx
  }
}

TEST(OpenSslKeyLogHookTest, StrippedStaticFixtureFromCodeEqualsItsUnstrippedTwin) {
  const std::string stripped = L7TAP_FIXTURE_HTTP_SERVER_STATIC_STRIPPED;
  const std::string unstripped = L7TAP_FIXTURE_HTTP_SERVER_STATIC;
  ASSERT_FALSE(t::ReadelfHasSymtab(stripped));
  auto elf = t::MustOpen(stripped);
  ASSERT_NE(elf, nullptr);
  auto hook = FindOpenSslKeyLogHook(*elf);
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->kind, KeyLogHookKind::kNssKeylog);
  EXPECT_EQ(hook->source, "code");
  // strip --strip-all moves no loaded byte.
  EXPECT_EQ(hook->offset, SymbolOffset(unstripped, ".symtab", "nss_keylog_int"));
  EXPECT_EQ(hook->thunk_offset, SymbolOffset(unstripped, ".symtab", "ssl_log_secret"));
  EXPECT_EQ(hook->instruction, "push r15");
  EXPECT_FALSE(hook->single_step);
}

TEST(OpenSslKeyLogHookTest, StubsShapedLikeOpenSsl) {
  struct Case {
    std::string name;
    KeyLogHookKind kind;
    const char* function;  // the hooked function's name in the unstripped stub's .symtab
  };
  for (const Case& c : {Case{"thunk", KeyLogHookKind::kNssKeylog, "nss_keylog_int"},
                        Case{"thunk_nopie", KeyLogHookKind::kNssKeylog, "nss_keylog_int"},
                        Case{"checked", KeyLogHookKind::kSslLogSecret, "ssl_log_secret"}}) {
    const uint64_t expected = SymbolOffset(Stub(c.name), ".symtab", c.function);
    for (const bool strip : {false, true}) {
      const std::string path = Stub(c.name) + (strip ? "_stripped" : "");
      auto elf = t::MustOpen(path);
      ASSERT_NE(elf, nullptr);
      auto hook = FindOpenSslKeyLogHook(*elf);
      ASSERT_TRUE(hook.ok()) << hook.error();
      EXPECT_EQ(hook->kind, c.kind) << path;
      EXPECT_EQ(hook->offset, expected) << path;
      EXPECT_EQ(hook->source, strip ? "code" : "symtab") << path;
      const bool through_thunk = strip && c.kind == KeyLogHookKind::kNssKeylog;
      EXPECT_EQ(hook->thunk_offset.has_value(), through_thunk) << path;
      if (through_thunk) {
        EXPECT_EQ(hook->thunk_offset, SymbolOffset(Stub(c.name), ".symtab", "ssl_log_secret")) << path;
      }
      auto calls = FindSslLogSecretFromCode(*elf);
      ASSERT_TRUE(calls.ok()) << calls.error();
      EXPECT_EQ(calls->calls, 3u) << path;  // CLIENT_RANDOM, EXPORTER_SECRET, EARLY_EXPORTER_SECRET
    }
  }
}

TEST(OpenSslKeyLogHookTest, LabelCallsThatDisagreeOrNoneAreErrors) {
  const std::string disagree = Stub("disagree_stripped");
  auto elf = t::MustOpen(disagree);
  ASSERT_NE(elf, nullptr);
  auto hook = FindOpenSslKeyLogHook(*elf);
  ASSERT_FALSE(hook.ok());
  EXPECT_EQ(hook.error().rfind(disagree + ": the calls that pass the NSS key-log labels disagree on " +
                                   "ssl_log_secret (2 to 0x",
                               0),
            0u)
      << hook.error();
  EXPECT_NE(hook.error().find(", 1 to 0x"), std::string::npos) << hook.error();
  EXPECT_EQ(hook.error().find('\n'), std::string::npos);

  const std::string unpassed = Stub("unpassed_stripped");
  elf = t::MustOpen(unpassed);
  ASSERT_NE(elf, nullptr);
  hook = FindOpenSslKeyLogHook(*elf);
  ASSERT_FALSE(hook.ok());
  EXPECT_EQ(hook.error().rfind(unpassed + ": has the NSS key-log labels (CLIENT_RANDOM, ...) but no direct " +
                                   "call passes one as its second argument",
                               0),
            0u)
      << hook.error();
}

TEST(OpenSslKeyLogHookTest, FilesWithoutKeyLogCodeSayWhy) {
  struct Case {
    std::string path;
    std::string error_after_path;
  };
  for (const Case& c :
       {Case{t::kLs,
             ": no OpenSSL key-log code: no nss_keylog_int or ssl_log_secret symbol and no NSS key-log "
             "label (CLIENT_RANDOM, ...) in its read-only data"},
        Case{t::kLibcrypto, ": no OpenSSL key-log code"},
        Case{L7TAP_FIXTURE_HTTP_SERVER,
             ": OpenSSL's key-log code is in the shared library libssl.so.3 (DT_NEEDED); inspect and attach "
             "to that library instead"},
        Case{L7TAP_STUB_I386, ": not x86_64 (ELF machine 3)"}}) {
    auto elf = t::MustOpen(c.path);
    ASSERT_NE(elf, nullptr);
    auto hook = FindOpenSslKeyLogHook(*elf);
    auto calls = FindSslLogSecretFromCode(*elf);
    ASSERT_FALSE(hook.ok()) << c.path;
    ASSERT_FALSE(calls.ok()) << c.path;
    for (const std::string& error : {hook.error(), calls.error()}) {
      EXPECT_EQ(error.rfind(c.path + c.error_after_path, 0), 0u) << error;
      EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
  }
}

}  // namespace
}  // namespace l7tap::symbolizer
