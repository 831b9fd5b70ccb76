#pragma once
// What the decryptor tests share: a decryptor with its store and sink, the suites OpenSSL runs, and exact
// checks of the plaintext that came out against what the application wrote.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/tls_decryptor.h"
#include "tls_feed.h"
#include "tls_wire.h"

namespace l7tap::protocols::testing {

// A decryptor with a sink, on a store of its own.
struct Harness {
  explicit Harness(Role role, uint32_t tgid = 1, TlsDecryptorLimits limits = {})
      : decryptor(role, store, sink, tgid, limits) {}
  // Feeds the run's chunks as the traced process (`role`, or the server when kUnknown) saw them.
  uint64_t Feed(const TlsWireRun& run, Role as, const Feeding& how = {}, uint64_t ts = 1000) {
    return FeedPieces(decryptor, Cut(run.chunks, as, how), ts, how.ts_step);
  }
  TlsSecretStore store;
  RecordingSink sink;
  TlsDecryptor decryptor;
};

struct SuiteCase {
  const char* name;
  int version;
  const char* ciphersuites;  // TLS 1.3
  const char* cipher_list;   // TLS 1.2
  uint16_t id;
};

inline constexpr SuiteCase kSuiteCases[] = {
    {"Tls13Aes128Gcm", 0x0304, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", 0x1301},
    {"Tls13Aes256Gcm", 0x0304, "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256", 0x1302},
    {"Tls13ChaCha20", 0x0304, "TLS_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", 0x1303},
    {"Tls12Aes128Gcm", 0x0303, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", 0xC02F},
    {"Tls12Aes256Gcm", 0x0303, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES256-GCM-SHA384", 0xC030},
    {"Tls12ChaCha20", 0x0303, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", 0xCCA8},
};

TlsWireOptions OptionsOf(const SuiteCase& c);

// Bytes of any value, different for each seed.
std::string Pattern(size_t n, uint8_t seed);

// Protected records both sides sent (TLS 1.3: outer type 23; TLS 1.2: after the side's ChangeCipherSpec).
uint64_t ProtectedRecords(const TlsWireRun& run, int version);

// Stream bytes of one side up to the end of its first protected record (where it waits without secrets).
size_t BytesThroughFirstProtected(const TlsWireRun& run, int version, bool from_client);

// `got` holds exactly `sent`: every byte at its place, none unknown.
void ExpectPlaintext(const Received& got, const std::string& sent);
// `got` is `sent` with bytes unknown: same length, the known ones equal. Returns how many were known.
uint64_t ExpectKnownBytesMatch(const Received& got, const std::string& sent);

}  // namespace l7tap::protocols::testing
