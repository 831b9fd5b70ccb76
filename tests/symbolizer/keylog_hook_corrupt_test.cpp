// The key-log finders on damaged copies of real files: edits that change the answer in a known way, and
// random damage, which must give an error or a hook in the file's executable code, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "symbolizer/register_thunk.h"
#include "symbolizer/tls_keylog_hook.h"
#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

namespace t = testing;

struct Original {
  std::string bytes;
  KeyLogHook hook;     // as found in the undamaged file
  uint64_t thunk = 0;  // ssl_log_secret's virtual address
  RegisterThunk jump;  // its tail jump
};

Original Inspect(const std::string& path) {
  Original original;
  original.bytes = t::ReadFile(path);
  auto elf = t::MustOpen(path);
  if (elf == nullptr) return original;
  auto hook = FindOpenSslKeyLogHook(*elf);
  EXPECT_TRUE(hook.ok()) << hook.error();
  if (!hook.ok()) return original;
  original.hook = *hook;
  EXPECT_TRUE(hook->thunk_offset.has_value()) << path;
  original.thunk = elf->VirtualAddress(hook->thunk_offset.value_or(0)).value_or(0);
  auto thunk = FindRegisterThunk(*elf, original.thunk);
  EXPECT_TRUE(thunk.ok() && thunk->has_value()) << path;
  if (thunk.ok() && thunk->has_value()) original.jump = **thunk;
  return original;
}

Result<KeyLogHook> HookOf(const std::string& name, const std::string& bytes) {
  auto elf = ElfFile::Open(t::WriteTempFile(name, bytes));
  if (!elf) return Error{elf.error()};
  return FindOpenSslKeyLogHook(**elf);
}

TEST(KeyLogHookCorruptTest, EditsOfLibsslChangeTheAnswerAsExpected) {
  const Original original = Inspect(t::kLibssl);
  ASSERT_FALSE(original.bytes.empty());
  ASSERT_NE(original.jump.jump, 0u);
  const auto loads = t::ReadelfLoads(t::kLibssl);

  // Without section headers (sstrip): the labels are found in the read-only segments instead.
  std::string edited = original.bytes;
  std::memset(edited.data() + 0x28, 0, 8);  // e_shoff
  std::memset(edited.data() + 0x3c, 0, 4);  // e_shnum, e_shstrndx
  auto hook = HookOf("keylog_no_sections", edited);
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->offset, original.hook.offset);
  EXPECT_EQ(hook->thunk_offset, original.hook.thunk_offset);

  // The tail jump leads out of the file: ssl_log_secret is no thunk, so it is the hook itself.
  edited = original.bytes;
  const uint64_t jump = t::SegmentOffset(loads, original.jump.jump);
  ASSERT_EQ(static_cast<uint8_t>(edited[jump]), 0xe9);
  const int32_t far = 0x7fffff00;
  std::memcpy(edited.data() + jump + 1, &far, 4);
  hook = HookOf("keylog_far_jump", edited);
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->kind, KeyLogHookKind::kSslLogSecret);
  EXPECT_EQ(hook->offset, original.hook.thunk_offset);

  // The fourth argument is not the client random's size: not nss_keylog_int's convention.
  edited = original.bytes;
  const std::string mov_ecx_32("\xb9\x20\x00\x00\x00", 5);
  const uint64_t thunk = t::SegmentOffset(loads, original.thunk);
  const size_t mov = edited.find(mov_ecx_32, thunk);
  ASSERT_LT(mov, jump);
  edited[mov + 1] = 0x21;
  hook = HookOf("keylog_other_length", edited);
  ASSERT_TRUE(hook.ok()) << hook.error();
  EXPECT_EQ(hook->kind, KeyLogHookKind::kSslLogSecret);

  // No label left: nothing to find ssl_log_secret by.
  edited = original.bytes;
  for (const char* label : kNssKeyLogLabels) {
    const std::string terminated = std::string(label) + '\0';
    for (size_t at = edited.find(terminated); at != std::string::npos; at = edited.find(terminated, at + 1))
      edited[at] = 'x';
  }
  const std::string unlabeled = t::WriteTempFile("keylog_no_labels", edited);
  auto elf = ElfFile::Open(unlabeled);
  ASSERT_TRUE(elf.ok()) << elf.error();
  hook = FindOpenSslKeyLogHook(**elf);
  ASSERT_FALSE(hook.ok());
  EXPECT_EQ(hook.error().rfind(unlabeled + ": no OpenSSL key-log code", 0), 0u) << hook.error();
}

TEST(KeyLogHookCorruptTest, RandomDamageGivesAnErrorOrAHookInTheCode) {
  for (const std::string& path :
       {std::string(t::kLibssl), std::string(L7TAP_KEYLOG_STUBS_DIR) + "/keylog_stub_thunk_stripped"}) {
    const std::string bytes = t::ReadFile(path);
    ASSERT_FALSE(bytes.empty());
    std::mt19937_64 random(42);
    int found = 0;
    for (int round = 0; round < 60; ++round) {
      std::string damaged = bytes;
      // Mostly a few bytes anywhere; every fourth round a cut.
      if (round % 4 == 3) damaged.resize(random() % damaged.size());
      for (int i = 0; i < 1 + round % 8; ++i)
        damaged[random() % damaged.size()] = static_cast<char>(random());
      auto elf = ElfFile::Open(t::WriteTempFile("keylog_damaged", damaged));
      if (!elf) continue;
      for (const bool go : {false, true}) {
        auto hook = go ? FindGoKeyLogHook(**elf) : FindOpenSslKeyLogHook(**elf);
        if (!hook) {
          EXPECT_EQ(hook.error().find('\n'), std::string::npos) << hook.error();
          continue;
        }
        ++found;
        EXPECT_TRUE((*elf)->IsExecutableOffset(hook->offset)) << path << " round " << round;
        EXPECT_FALSE(hook->instruction.empty());
        if (hook->thunk_offset) {
          EXPECT_TRUE((*elf)->IsExecutableOffset(*hook->thunk_offset));
        }
      }
      (void)FindSslLogSecretFromCode(**elf);
      EXPECT_FALSE((*elf)->Changed().has_value());
    }
    EXPECT_GT(found, 0) << path << ": small damage mostly leaves the hook findable";
  }
}

}  // namespace
}  // namespace l7tap::symbolizer
