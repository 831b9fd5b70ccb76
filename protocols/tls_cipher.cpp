#include "protocols/tls_cipher.h"

#include <openssl/evp.h>

#include <array>
#include <cstring>

namespace l7tap::protocols {

namespace {

constexpr size_t kNonceSize = 12;
constexpr size_t kExplicitNonceSize = 8;  // TLS 1.2 GCM

const EVP_CIPHER* CipherOf(TlsAead aead) {
  switch (aead) {
    case TlsAead::kAes128Gcm:
      return EVP_aes_128_gcm();
    case TlsAead::kAes256Gcm:
      return EVP_aes_256_gcm();
    case TlsAead::kChaCha20Poly1305:
      return EVP_chacha20_poly1305();
  }
  return nullptr;
}

}  // namespace

TlsRecordCipher::~TlsRecordCipher() { Reset(); }

void TlsRecordCipher::Reset() {
  if (ctx_) EVP_CIPHER_CTX_free(ctx_);  // cleans (and wipes) the key schedule
  ctx_ = nullptr;
  iv_.Wipe();
}

bool TlsRecordCipher::Init(const TlsCipherSuite& suite, const TlsTrafficKeys& keys) {
  Reset();
  const EVP_CIPHER* cipher = CipherOf(suite.aead);
  if (!cipher || keys.key.size() != suite.key_length || keys.iv.size() != suite.iv_length) return false;
  ctx_ = EVP_CIPHER_CTX_new();
  if (!ctx_ || EVP_DecryptInit_ex(ctx_, cipher, nullptr, nullptr, nullptr) <= 0 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_IVLEN, int(kNonceSize), nullptr) <= 0 ||
      EVP_DecryptInit_ex(ctx_, nullptr, nullptr, keys.key.data(), nullptr) <= 0) {
    Reset();
    return false;
  }
  version_ = suite.version;
  aead_ = suite.aead;
  key_length_ = suite.key_length;
  iv_ = keys.iv;
  return true;
}

size_t TlsRecordCipher::ciphertext_begin() const {
  return version_ == kTls12 && aead_ != TlsAead::kChaCha20Poly1305 ? kExplicitNonceSize : 0;
}

size_t TlsRecordCipher::plaintext_length(size_t body_length) const {
  const size_t overhead = ciphertext_begin() + kTlsTagSize;
  return body_length < overhead ? 0 : body_length - overhead;
}

size_t TlsRecordCipher::record_overhead() const {
  return 5 + ciphertext_begin() + kTlsTagSize + (version_ == kTls13 ? 1 : 0);
}

TlsRecordCipher::Result TlsRecordCipher::Open(uint64_t seq, std::span<const uint8_t, 5> header,
                                              std::span<const uint8_t> body, size_t prefix, bool verify,
                                              uint8_t* out) {
  const size_t begin = ciphertext_begin();
  const size_t length = plaintext_length(body.size());
  if (!ctx_ || body.size() < begin + kTlsTagSize || prefix > length) return Result::kFailed;
  std::array<uint8_t, kNonceSize> nonce;
  if (begin == kExplicitNonceSize) {
    // RFC 5288 §3: salt (the IV from the key block) || the record's explicit nonce.
    std::memcpy(nonce.data(), iv_.data(), 4);
    std::memcpy(nonce.data() + 4, body.data(), kExplicitNonceSize);
  } else {
    // RFC 8446 §5.3, RFC 7905 §2: the IV xored with the sequence number, big-endian, right-aligned.
    std::memcpy(nonce.data(), iv_.data(), kNonceSize);
    for (int i = 0; i < 8; ++i) nonce[kNonceSize - 1 - i] ^= uint8_t(seq >> (8 * i));
  }
  std::array<uint8_t, 13> aad;
  size_t aad_size = 5;
  if (version_ == kTls13) {
    std::memcpy(aad.data(), header.data(), 5);  // the record header as sent
  } else {
    // RFC 5246 §6.2.3.3: seq_num + type + version + the plaintext length.
    for (int i = 0; i < 8; ++i) aad[i] = uint8_t(seq >> (56 - 8 * i));
    aad[8] = header[0];
    aad[9] = header[1];
    aad[10] = header[2];
    aad[11] = uint8_t(length >> 8);
    aad[12] = uint8_t(length);
    aad_size = 13;
  }
  int n = 0;
  if (EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce.data()) <= 0 ||
      EVP_DecryptUpdate(ctx_, nullptr, &n, aad.data(), int(aad_size)) <= 0)
    return Result::kFailed;
  if (prefix > 0 && EVP_DecryptUpdate(ctx_, out, &n, body.data() + begin, int(prefix)) <= 0)
    return Result::kFailed;
  if (!verify) return Result::kOk;
  if (prefix != length) return Result::kFailed;
  std::array<uint8_t, kTlsTagSize> tag;
  std::memcpy(tag.data(), body.data() + begin + length, kTlsTagSize);
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, int(kTlsTagSize), tag.data()) <= 0)
    return Result::kFailed;
  return EVP_DecryptFinal_ex(ctx_, out + prefix, &n) > 0 ? Result::kOk : Result::kBadTag;
}

}  // namespace l7tap::protocols
