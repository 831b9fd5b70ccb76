#pragma once
// Where one uprobe sees every TLS secret of a process, once per handshake, instead of probes on every
// SSL_read/SSL_write: the function that OpenSSL (1.1.1, 3.x) or Go's crypto/tls calls for each secret whether
// or not a key-log callback is set, found in one ELF file (stripped ones too), and which registers hold its
// arguments at its entry.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "symbolizer/elf_file.h"

namespace l7tap::symbolizer {

enum class KeyLogHookKind {
  // OpenSSL's static nss_keylog_int(label, ssl, client_random, random_len, secret, secret_len), which returns
  // early, past its entry, when no callback is set. Entry: rdi=label rsi=ssl rdx=client_random rcx=random_len
  // (32) r8=secret r9=secret_len. It is also called with label "RSA" (rdx = an encrypted premaster's first 8
  // bytes, rcx = 8), which carries no client random. In OpenSSL 3.2+ rsi is the SSL_CONNECTION, which for TLS
  // over TCP starts with (and so is) the SSL.
  kNssKeylog,
  // OpenSSL's ssl_log_secret(ssl, label, secret, secret_len), where nss_keylog_int is inlined into it (node).
  // Entry: rdi=ssl rsi=label rdx=secret rcx=secret_len; no client random (it is in the SSL).
  kSslLogSecret,
  // Go's crypto/tls.(*Config).writeKeyLog(label string, clientRandom, secret []byte) error, called even
  // without a KeyLogWriter. Entry (register ABI, Go 1.17+): rax=*Config rbx=label.ptr rcx=label.len
  // rdi=clientRandom.ptr rsi=clientRandom.len r8=clientRandom.cap r9=secret.ptr r10=secret.len
  // r11=secret.cap.
  // Like any Go function it starts again after growing its stack (morestack): rarely, a secret comes twice.
  kGoWriteKeyLog,
};

// "nss_keylog_int", "ssl_log_secret", "crypto/tls.(*Config).writeKeyLog".
const char* KeyLogHookFunction(KeyLogHookKind kind);
// The argument registers at the entry, as above: "rdi=label rsi=ssl rdx=client_random ...".
const char* KeyLogHookRegisters(KeyLogHookKind kind);

struct KeyLogHook {
  KeyLogHookKind kind = KeyLogHookKind::kNssKeylog;
  uint64_t offset = 0;  // file offset of the function's entry: the uprobe offset
  // How it was found: "symtab" or "dynsym" (the function's own symbol, or that of the ssl_log_secret that
  // tail-calls it), "code" (from the calls that pass ssl_log_secret the NSS labels), "pclntab".
  std::string source;
  bool single_step = false;  // the kernel single-steps the instruction at `offset` (one trap more per secret)
  std::string instruction;   // that instruction, "push r15"
  // kNssKeylog reached through ssl_log_secret's tail jump (a thunk that only sets registers): its file
  // offset.
  std::optional<uint64_t> thunk_offset;
};

// The hook of `kind` at virtual address `entry`: its file offset and the instruction there. Errors: `entry`
// is not in executable file bytes, or no instruction decodes there.
Result<KeyLogHook> KeyLogHookAt(const ElfFile& elf, KeyLogHookKind kind, uint64_t entry, std::string source);

// The labels OpenSSL passes ssl_log_secret (NSS key-log format): TLS 1.2's master secret, then TLS 1.3's.
inline constexpr const char* kNssKeyLogLabels[] = {"CLIENT_RANDOM",
                                                   "CLIENT_EARLY_TRAFFIC_SECRET",
                                                   "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                                   "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                                   "CLIENT_TRAFFIC_SECRET_0",
                                                   "SERVER_TRAFFIC_SECRET_0",
                                                   "EARLY_EXPORTER_SECRET",
                                                   "EXPORTER_SECRET"};

// ssl_log_secret found without symbols: every direct call that receives one of kNssKeyLogLabels (its address
// in read-only data) as its second argument (rsi) calls it, and all must agree.
struct SslLogSecretCalls {
  uint64_t address = 0;  // virtual address of ssl_log_secret
  size_t calls = 0;      // how many calls agree on it
};
Result<SslLogSecretCalls> FindSslLogSecretFromCode(const ElfFile& elf);

// OpenSSL 1.1.1 or 3.x, shared libssl or linked in, stripped or not: the symbol nss_keylog_int; else the
// symbol ssl_log_secret (.symtab, .dynsym), else ssl_log_secret from the code (FindSslLogSecretFromCode).
// An ssl_log_secret that is a thunk tail-jumping to nss_keylog_int (its fourth argument set to 32) gives
// kNssKeylog at the jump's target, any other kSslLogSecret at itself. Errors are one line naming the file:
// not x86-64, no key-log code (with the libssl to inspect instead when it is DT_NEEDED), label calls that
// disagree or that none passes.
Result<KeyLogHook> FindOpenSslKeyLogHook(const ElfFile& elf);

// Go 1.17+ on x86-64 (default, PIE, stripped builds): writeKeyLog from .symtab, else from the pclntab.
// Errors: not a Go binary, Go older than 1.17, not x86-64, no pclntab and no .symtab, no crypto/tls handshake
// linked in.
Result<KeyLogHook> FindGoKeyLogHook(const ElfFile& elf);

}  // namespace l7tap::symbolizer
