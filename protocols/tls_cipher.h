#pragma once
// Opens the protected records of one direction: nonce, additional data and record layout by version (TLS 1.3,
// RFC 8446 §5.2-5.3; TLS 1.2 GCM, RFC 5288; TLS 1.2 ChaCha20-Poly1305, RFC 7905), the AEAD from libcrypto.
// The ciphers are counter modes, so a record's copied prefix decrypts on its own (its tag then is not
// checked); a fully copied record can be verified.
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocols/tls_keys.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace l7tap::protocols {

inline constexpr size_t kTlsTagSize = 16;

class TlsRecordCipher {
 public:
  TlsRecordCipher() = default;
  ~TlsRecordCipher();
  TlsRecordCipher(const TlsRecordCipher&) = delete;
  TlsRecordCipher& operator=(const TlsRecordCipher&) = delete;

  bool Init(const TlsCipherSuite& suite, const TlsTrafficKeys& keys);
  // Forgets the keys (libcrypto wipes its copy of the key schedule).
  void Reset();
  bool ready() const { return ctx_ != nullptr; }
  size_t key_material_bytes() const { return ctx_ ? key_length_ + iv_.size() : 0; }

  // Where a body of `body_length` bytes keeps its ciphertext (TLS 1.2 GCM: after the explicit nonce), and
  // how many of them are plaintext (TLS 1.3: with the inner content type and padding). 0 when too short.
  size_t ciphertext_begin() const;
  size_t plaintext_length(size_t body_length) const;
  // Bytes a record adds to its plaintext, header included (TLS 1.3: one inner content type byte, no padding).
  size_t record_overhead() const;

  enum class Result : uint8_t { kOk, kBadTag, kFailed };
  // Decrypts the first `prefix` plaintext bytes of record `seq` (header: its 5 bytes as sent; body: the whole
  // body, of which the bytes needed are known) into out[0, prefix). With `verify` (the body is complete and
  // prefix covers all its plaintext) the tag is checked too.
  Result Open(uint64_t seq, std::span<const uint8_t, 5> header, std::span<const uint8_t> body, size_t prefix,
              bool verify, uint8_t* out);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  uint16_t version_ = 0;
  TlsAead aead_ = TlsAead::kAes128Gcm;
  size_t key_length_ = 0;
  SecretBytes iv_;
};

}  // namespace l7tap::protocols
