#pragma once
// Decrypts one TLS connection (TLS 1.2 and 1.3, AEAD suites) from the ciphertext each direction carried and
// the secrets of its handshake, which come separately (a key-log hook or file, through TlsSecretStore) and
// may arrive before or after the records that need them. Plaintext goes out per direction, in stream order,
// as a StreamConsumer would get it: bytes, uncopied tails and gaps.
//
// A record copied in part decrypts its prefix (counter modes), unchecked; its plaintext length assumes no TLS
// 1.3 padding. Where lost bytes hid record headers, a chunk that starts with a record copied whole takes the
// direction up again once its tag verifies under a nearby record number (or the keys after a KeyUpdate or
// Finished that was not seen); TLS 1.2 GCM needs no number (explicit nonce). 0-RTT is not followed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "protocols/stream_reassembler.h"
#include "protocols/tls_secret_store.h"
#include "protocols/transaction.h"

namespace l7tap::protocols {

// Where the decrypted application data goes. Called from within the decryptor's calls: it must not call into
// a TlsDecryptor. ts_ns: capture time of the chunk that ended the record.
class TlsPlaintextSink {
 public:
  virtual ~TlsPlaintextSink() = default;
  // `uncopied_tail` plaintext bytes followed `bytes`, their content unknown (ciphertext over the copy cap).
  virtual void OnPlaintext(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) = 0;
  virtual void OnPlaintextGap(Direction dir, const StreamGap& gap) = 0;
};

// Why a connection is not decrypted.
enum class TlsUntracedReason : uint8_t {
  kNone,
  kHandshakeNotSeen,    // the first bytes were not a ClientHello/ServerHello: the connection predates the
                        // capture
  kNoSecrets,           // handshake seen, no secrets within limits.secret_wait_ns
  kUnsupportedVersion,  // SSL 3.0, TLS 1.0, TLS 1.1
  kUnsupportedCipher,   // not an AEAD suite l7tap knows (CBC, CCM, ...)
  kEarlyData,           // the client sends 0-RTT data
  kDesync,              // record boundaries or sequence numbers lost and not found again
  kNotTls,              // the bytes are not TLS
  kBufferFull,          // ciphertext waiting for its secrets exceeded limits.max_buffered_bytes
};
const char* TlsUntracedReasonName(TlsUntracedReason reason);

enum class TlsDecryptorState : uint8_t {
  kHandshake,          // reading the hellos
  kWaitingForSecrets,  // records wait for secrets (or for the other direction's hello)
  kDecrypting,
  kUntraced,  // untraced() says why
  kClosed,
};

struct TlsDecryptorLimits {
  uint64_t secret_wait_ns = 2'000'000'000;  // from the first record that needs a secret not there yet
  size_t max_buffered_bytes = 256 << 10;    // ciphertext held per connection while records wait
  uint32_t max_resync_tries = 4096;         // sequence numbers tried on one candidate record
  uint64_t max_resync_bytes = 8 << 20;      // bytes trial-decrypted on one candidate record
  uint32_t max_resync_attempts = 64;        // candidate records in a row that fail before giving up
  uint32_t max_trial_groups = 64;           // secret groups tried per pairing attempt
};

struct TlsDecryptorStats {
  uint64_t records = 0;            // protected records decrypted
  uint64_t records_partial = 0;    // of them, known in part only (the copied prefix decrypted, no tag check)
  uint64_t bytes_decrypted = 0;    // application plaintext bytes delivered
  uint64_t secrets_by_random = 0;  // secrets found by the handshake's client random
  uint64_t secrets_by_trial = 0;   // secrets of a group paired by trial decryption
  uint64_t trial_decryptions = 0;  // candidate groups tried
  uint64_t key_updates = 0;        // TLS 1.3 KeyUpdates followed
  uint64_t tickets = 0;            // TLS 1.3 NewSessionTickets skipped
  uint64_t alerts = 0;             // alert records (cleartext or protected)
  uint64_t desyncs = 0;            // record boundaries or sequence lost
  uint64_t resyncs = 0;            // found again
  uint64_t tag_failures = 0;       // fully copied records whose tag did not verify where expected
};

class TlsDecryptor {
 public:
  // `role`: the traced process's (kClient: egress is client to server; kUnknown: the direction that carries
  // the ClientHello is). `store` and `sink` outlive the decryptor. `tgid`: the traced process, whose secret
  // groups without client random are tried.
  TlsDecryptor(Role role, TlsSecretStore& store, TlsPlaintextSink& sink, uint32_t tgid,
               TlsDecryptorLimits limits = {});
  ~TlsDecryptor();
  TlsDecryptor(const TlsDecryptor&) = delete;
  TlsDecryptor& operator=(const TlsDecryptor&) = delete;

  // Ciphertext in, per direction, in stream order.
  StreamConsumer& consumer(Direction dir);
  // Pairs with secrets that arrived since; gives up on records that waited longer than
  // limits.secret_wait_ns (kNoSecrets). `now_ns` on the clock of the chunks' ts_ns.
  void Poll(uint64_t now_ns);
  // Decrypts what it can, then wipes all key material; later calls are ignored.
  void OnClose();

  bool decrypting() const;  // records were decrypted and the connection is still followed
  TlsUntracedReason untraced() const;
  TlsDecryptorState state() const;
  Role role() const;              // as resolved from the hellos when it was kUnknown
  uint16_t version() const;       // kTls12 or kTls13 once the ServerHello was read, else 0
  uint16_t cipher_suite() const;  // IANA number once the ServerHello was read, else 0
  size_t buffered_bytes() const;  // ciphertext held waiting
  TlsDecryptorStats TakeStats();
  // Test hook: bytes of key material held (secrets, keys, IVs); 0 after OnClose and when untraced.
  size_t key_material_bytes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l7tap::protocols
