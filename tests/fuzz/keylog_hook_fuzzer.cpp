// The key-log hook finders on arbitrary input. First byte even: the rest is a whole file, given to
// FindOpenSslKeyLogHook, FindSslLogSecretFromCode and FindGoKeyLogHook. Odd: a 7-byte header, then code
// wrapped in a minimal ELF (fuzz_file.h) for the walkers alone: three 16-bit little-endian positions T, D1,
// D2 (relative to 16 bytes before the code, as in probe_placement_fuzzer) and an argument byte: the thunk
// test at T, and the calls that pass D1 or D2 in SysV argument (byte % 6). Nothing may crash, a hook must lie
// in the file's executable code, and a file nobody changed is never reported as changed.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "symbolizer/elf_file.h"
#include "symbolizer/label_calls.h"
#include "symbolizer/register_thunk.h"
#include "symbolizer/tls_keylog_hook.h"
#include "tests/fuzz/fuzz_file.h"

namespace s = l7tap::symbolizer;

namespace {

bool InCode(const s::ElfFile& file, uint64_t vaddr) {
  const auto offset = file.FileOffset(vaddr);
  return offset && file.IsExecutableOffset(*offset);
}

void CheckHook(const s::ElfFile& file, const l7tap::Result<s::KeyLogHook>& hook) {
  if (!hook) return;
  const s::KeyLogHook& found = hook.value();
  if (!file.IsExecutableOffset(found.offset) || found.instruction.empty()) std::abort();
  if (found.thunk_offset && !file.IsExecutableOffset(*found.thunk_offset)) std::abort();
}

void WholeFile(std::string_view bytes) {
  auto elf = s::ElfFile::Open(l7tap::fuzz::WriteInputFile(bytes));
  if (!elf.ok()) return;
  const s::ElfFile& file = **elf;
  CheckHook(file, s::FindOpenSslKeyLogHook(file));
  CheckHook(file, s::FindGoKeyLogHook(file));
  if (auto calls = s::FindSslLogSecretFromCode(file);
      calls && (!InCode(file, calls->address) || calls->calls == 0))
    std::abort();
  if (file.Changed()) std::abort();
}

void Code(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 7;
  if (size < kHeader) return;
  uint64_t at[3];
  for (int i = 0; i < 3; ++i) {
    at[i] = l7tap::fuzz::kTinyElfBase + l7tap::fuzz::kTinyElfCodeOffset - 16 +
            (data[2 * i] | data[2 * i + 1] << 8);
  }
  const int argument = data[6] % 6;
  const std::string_view code(reinterpret_cast<const char*>(data + kHeader), size - kHeader);
  auto elf = s::ElfFile::Open(l7tap::fuzz::WriteInputFile(l7tap::fuzz::TinyElf(code)));
  if (!elf.ok()) std::abort();  // a well-formed ELF whatever the code
  const s::ElfFile& file = **elf;
  if (auto thunk = s::FindRegisterThunk(file, at[0]); thunk && *thunk) {
    if ((*thunk)->jump < at[0] || !InCode(file, (*thunk)->target)) std::abort();
    for (const auto& [register_index, value] : (*thunk)->constant_arguments) {
      if (register_index < 0 || register_index > 5) std::abort();
      (void)value;
    }
  }
  if (auto calls = s::FindCallsPassing(file, {at[1], at[2]}, argument)) {
    for (const s::LabelCall& call : *calls) {
      if ((call.data != at[1] && call.data != at[2]) || call.call <= call.load || !InCode(file, call.target))
        std::abort();
    }
  }
  if (file.Changed()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) == 0) {
    WholeFile(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  } else {
    Code(data + 1, size - 1);
  }
  return 0;
}
