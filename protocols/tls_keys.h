#pragma once
// The TLS key schedule from the secrets the key log gives: TLS 1.3 traffic keys from a traffic secret
// (RFC 8446 §7.3) and the next secret after a KeyUpdate (§7.2), and the TLS 1.2 key block from the master
// secret (RFC 5246 §6.3). AEAD suites only. libcrypto does the KDFs (TLS13-KDF, TLS1-PRF).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocols/tls_secret.h"

namespace l7tap::protocols {

inline constexpr uint16_t kTls12 = 0x0303;
inline constexpr uint16_t kTls13 = 0x0304;

enum class TlsAead : uint8_t { kAes128Gcm, kAes256Gcm, kChaCha20Poly1305 };

struct TlsCipherSuite {
  uint16_t id = 0;
  uint16_t version = 0;  // kTls12 or kTls13
  TlsAead aead = TlsAead::kAes128Gcm;
  const char* digest = "";  // the handshake hash: "SHA256", "SHA384"
  size_t hash_length = 0;
  size_t key_length = 0;
  // TLS 1.3 and TLS 1.2 ChaCha20-Poly1305: the 12-byte IV xored with the sequence number. TLS 1.2 GCM: the
  // 4-byte implicit salt that the record's 8-byte explicit nonce follows.
  size_t iv_length = 0;
};

// The suite with IANA number `id` as negotiated in `version`; null when l7tap cannot decrypt it (CBC, RC4,
// NULL, CCM, unknown).
const TlsCipherSuite* FindTlsCipherSuite(uint16_t id, uint16_t version);

// One direction's write key and IV.
struct TlsTrafficKeys {
  SecretBytes key;
  SecretBytes iv;
  void Wipe() {
    key.Wipe();
    iv.Wipe();
  }
};

// HKDF-Expand-Label(secret, label, context, length) with the "tls13 " prefix (RFC 8446 §7.1).
bool HkdfExpandLabel(const char* digest, std::span<const uint8_t> secret, std::string_view label,
                     std::span<const uint8_t> context, size_t length, SecretBytes& out);

// TLS 1.3: the key and IV of records protected with `traffic_secret`.
bool DeriveTls13Keys(const TlsCipherSuite& suite, const SecretBytes& traffic_secret, TlsTrafficKeys& out);
// TLS 1.3 KeyUpdate: application_traffic_secret_N+1 from _N.
bool NextTls13TrafficSecret(const TlsCipherSuite& suite, const SecretBytes& secret, SecretBytes& out);

// TLS 1.2: both directions' keys from the master secret and the hellos' randoms.
bool DeriveTls12Keys(const TlsCipherSuite& suite, const SecretBytes& master_secret,
                     const TlsRandom& client_random, const TlsRandom& server_random, TlsTrafficKeys& client,
                     TlsTrafficKeys& server);

}  // namespace l7tap::protocols
