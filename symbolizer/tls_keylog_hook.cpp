#include "symbolizer/tls_keylog_hook.h"

#include <cstdio>
#include <map>
#include <vector>

#include "symbolizer/label_calls.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/register_thunk.h"

namespace l7tap::symbolizer {
namespace {

constexpr size_t kMaxLabelCopies = 64;  // occurrences of one label in read-only data
constexpr int kLabelArgument = 1;       // ssl_log_secret(ssl, label, ...): rsi
constexpr int kRandomLengthArgument = 3;
constexpr int64_t kClientRandomSize = 32;  // SSL3_RANDOM_SIZE, nss_keylog_int's fourth argument

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// "no key-log code" in a program linked against a shared libssl: the answer is in that library.
std::optional<Error> InSharedLibssl(const ElfFile& elf) {
  for (const std::string& needed : elf.Needed()) {
    if (needed.rfind("libssl", 0) == 0) {
      return Error{elf.path() + ": OpenSSL's key-log code is in the shared library " + needed +
                   " (DT_NEEDED); inspect and attach to that library instead"};
    }
  }
  return std::nullopt;
}

Result<SslLogSecretCalls> FromCode(const ElfFile& elf) {
  const std::string& path = elf.path();
  if (!elf.is_x86_64()) {
    return Error{path + ": not x86_64 (ELF machine " + std::to_string(elf.machine()) +
                 "); l7tap attaches uprobes to 64-bit x86 code only"};
  }
  std::vector<uint64_t> labels;
  for (const char* label : kNssKeyLogLabels) {
    for (uint64_t address : elf.FindStringAddresses(label, kMaxLabelCopies)) labels.push_back(address);
  }
  if (labels.empty()) {
    if (auto shared = InSharedLibssl(elf)) return *shared;
    return Error{path +
                 ": no OpenSSL key-log code: no nss_keylog_int or ssl_log_secret symbol and no NSS key-log "
                 "label (CLIENT_RANDOM, ...) in its read-only data; not OpenSSL 1.1.1 or later, or built "
                 "without TLS"};
  }
  auto calls = FindCallsPassing(elf, labels, kLabelArgument);
  if (!calls) return Error{calls.error()};
  std::map<uint64_t, size_t> votes;  // callee -> calls
  for (const LabelCall& call : *calls) ++votes[call.target];
  if (votes.empty()) {
    return Error{path +
                 ": has the NSS key-log labels (CLIENT_RANDOM, ...) but no direct call passes one as its "
                 "second argument, so ssl_log_secret cannot be found without symbols; keep the symbols "
                 "(an unstripped build's .symtab names ssl_log_secret)"};
  }
  if (votes.size() > 1) {
    std::string counts;
    for (const auto& [target, count] : votes)
      counts += (counts.empty() ? "" : ", ") + std::to_string(count) + " to " + Hex(target);
    return Error{path + ": the calls that pass the NSS key-log labels disagree on ssl_log_secret (" + counts +
                 "); keep the symbols (ssl_log_secret) to name it"};
  }
  return SslLogSecretCalls{votes.begin()->first, votes.begin()->second};
}

// ssl_log_secret at `vaddr`: the nss_keylog_int it tail-calls, or itself.
Result<KeyLogHook> FromSslLogSecret(const ElfFile& elf, uint64_t vaddr, const std::string& source) {
  auto thunk = FindRegisterThunk(elf, vaddr);
  if (!thunk) return Error{thunk.error()};
  if (*thunk) {
    const auto length = (*thunk)->constant_arguments.find(kRandomLengthArgument);
    if (length != (*thunk)->constant_arguments.end() && length->second == kClientRandomSize) {
      auto hook = KeyLogHookAt(elf, KeyLogHookKind::kNssKeylog, (*thunk)->target, source);
      if (!hook) return hook;
      hook->thunk_offset = elf.FileOffset(vaddr);
      return hook;
    }
  }
  return KeyLogHookAt(elf, KeyLogHookKind::kSslLogSecret, vaddr, source);
}

Result<KeyLogHook> FindOpenSsl(const ElfFile& elf) {
  if (!elf.is_x86_64()) {
    return Error{elf.path() + ": not x86_64 (ELF machine " + std::to_string(elf.machine()) +
                 "); l7tap attaches uprobes to 64-bit x86 code only"};
  }
  if (auto symbol = elf.FindFunction("nss_keylog_int")) {
    return KeyLogHookAt(elf, KeyLogHookKind::kNssKeylog, symbol->address, SymbolTableName(symbol->table));
  }
  if (auto symbol = elf.FindFunction("ssl_log_secret")) {
    return FromSslLogSecret(elf, symbol->address, SymbolTableName(symbol->table));
  }
  auto found = FromCode(elf);
  if (!found) return Error{found.error()};
  return FromSslLogSecret(elf, found->address, "code");
}

}  // namespace

const char* KeyLogHookFunction(KeyLogHookKind kind) {
  switch (kind) {
    case KeyLogHookKind::kNssKeylog:
      return "nss_keylog_int";
    case KeyLogHookKind::kSslLogSecret:
      return "ssl_log_secret";
    case KeyLogHookKind::kGoWriteKeyLog:
      return "crypto/tls.(*Config).writeKeyLog";
  }
  return "?";
}

const char* KeyLogHookRegisters(KeyLogHookKind kind) {
  switch (kind) {
    case KeyLogHookKind::kNssKeylog:
      return "rdi=label rsi=ssl rdx=client_random rcx=random_len r8=secret r9=secret_len";
    case KeyLogHookKind::kSslLogSecret:
      return "rdi=ssl rsi=label rdx=secret rcx=secret_len";
    case KeyLogHookKind::kGoWriteKeyLog:
      return "rax=config rbx=label.ptr rcx=label.len rdi=client_random.ptr rsi=client_random.len "
             "r8=client_random.cap r9=secret.ptr r10=secret.len r11=secret.cap";
  }
  return "?";
}

Result<KeyLogHook> KeyLogHookAt(const ElfFile& elf, KeyLogHookKind kind, uint64_t entry, std::string source) {
  const auto offset = elf.FileOffset(entry);
  if (!offset || !elf.IsExecutableOffset(*offset)) {
    return Error{elf.path() + ": " + KeyLogHookFunction(kind) + " at " + Hex(entry) +
                 " is not in the file's executable code; the file is malformed"};
  }
  auto insn = DecodeInstruction(elf, entry);
  if (!insn) return Error{insn.error()};
  KeyLogHook hook;
  hook.kind = kind;
  hook.offset = *offset;
  hook.source = std::move(source);
  hook.single_step = !insn->emulated;
  hook.instruction = insn->text;
  return hook;
}

Result<SslLogSecretCalls> FindSslLogSecretFromCode(const ElfFile& elf) { return elf.Checked(FromCode(elf)); }

Result<KeyLogHook> FindOpenSslKeyLogHook(const ElfFile& elf) { return elf.Checked(FindOpenSsl(elf)); }

}  // namespace l7tap::symbolizer
