#include "protocols/tls_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <cstring>

namespace l7tap::protocols {

namespace {

constexpr TlsCipherSuite Tls13(uint16_t id, TlsAead aead, const char* digest, size_t hash, size_t key) {
  return {id, kTls13, aead, digest, hash, key, 12};
}
constexpr TlsCipherSuite Tls12(uint16_t id, TlsAead aead) {
  switch (aead) {
    case TlsAead::kAes128Gcm:
      return {id, kTls12, aead, "SHA256", 32, 16, 4};
    case TlsAead::kAes256Gcm:
      return {id, kTls12, aead, "SHA384", 48, 32, 4};
    case TlsAead::kChaCha20Poly1305:
      break;
  }
  return {id, kTls12, aead, "SHA256", 32, 32, 12};
}

constexpr TlsAead k128 = TlsAead::kAes128Gcm, k256 = TlsAead::kAes256Gcm,
                  kChaCha = TlsAead::kChaCha20Poly1305;

// RFC 8446 §B.4, RFC 5288, RFC 5487, RFC 5289, RFC 7905: the AEAD suites.
constexpr TlsCipherSuite kSuites[] = {
    Tls13(0x1301, k128, "SHA256", 32, 16),
    Tls13(0x1302, k256, "SHA384", 48, 32),
    Tls13(0x1303, kChaCha, "SHA256", 32, 32),
    // *_WITH_AES_128_GCM_SHA256: RSA, DHE_RSA, DH_RSA, DHE_DSS, DH_DSS, DH_anon, PSK, DHE_PSK, RSA_PSK,
    // ECDHE_ECDSA, ECDH_ECDSA, ECDHE_RSA, ECDH_RSA.
    Tls12(0x009C, k128),
    Tls12(0x009E, k128),
    Tls12(0x00A0, k128),
    Tls12(0x00A2, k128),
    Tls12(0x00A4, k128),
    Tls12(0x00A6, k128),
    Tls12(0x00A8, k128),
    Tls12(0x00AA, k128),
    Tls12(0x00AC, k128),
    Tls12(0xC02B, k128),
    Tls12(0xC02D, k128),
    Tls12(0xC02F, k128),
    Tls12(0xC031, k128),
    // *_WITH_AES_256_GCM_SHA384, the same key exchanges.
    Tls12(0x009D, k256),
    Tls12(0x009F, k256),
    Tls12(0x00A1, k256),
    Tls12(0x00A3, k256),
    Tls12(0x00A5, k256),
    Tls12(0x00A7, k256),
    Tls12(0x00A9, k256),
    Tls12(0x00AB, k256),
    Tls12(0x00AD, k256),
    Tls12(0xC02C, k256),
    Tls12(0xC02E, k256),
    Tls12(0xC030, k256),
    Tls12(0xC032, k256),
    // *_WITH_CHACHA20_POLY1305_SHA256: ECDHE_RSA, ECDHE_ECDSA, DHE_RSA, PSK, ECDHE_PSK, DHE_PSK, RSA_PSK.
    Tls12(0xCCA8, kChaCha),
    Tls12(0xCCA9, kChaCha),
    Tls12(0xCCAA, kChaCha),
    Tls12(0xCCAB, kChaCha),
    Tls12(0xCCAC, kChaCha),
    Tls12(0xCCAD, kChaCha),
    Tls12(0xCCAE, kChaCha),
};

// Runs the KDF `name` with `params` into `out` (out.size() bytes).
bool RunKdf(const char* name, OSSL_PARAM* params, std::span<uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
  if (!kdf) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!ctx) return false;
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) > 0;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

}  // namespace

const TlsCipherSuite* FindTlsCipherSuite(uint16_t id, uint16_t version) {
  for (const TlsCipherSuite& s : kSuites)
    if (s.id == id && s.version == version) return &s;
  return nullptr;
}

bool HkdfExpandLabel(const char* digest, std::span<const uint8_t> secret, std::string_view label,
                     std::span<const uint8_t> context, size_t length, SecretBytes& out) {
  if (!out.Resize(length)) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  static constexpr char kPrefix[] = "tls13 ";
  // OSSL_PARAM takes non-const pointers; libcrypto only reads them.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, const_cast<char*>(kPrefix),
                                        sizeof(kPrefix) - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label.data()), label.size()),
      OSSL_PARAM_construct_end(),  // the context, when there is one
      OSSL_PARAM_construct_end(),
  };
  // An empty context goes without the parameter (libcrypto refuses a null octet string).
  if (!context.empty())
    params[5] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, const_cast<uint8_t*>(context.data()),
                                                  context.size());
  if (!RunKdf(OSSL_KDF_NAME_TLS1_3_KDF, params, std::span(out.data(), length))) {
    out.Wipe();
    return false;
  }
  return true;
}

bool DeriveTls13Keys(const TlsCipherSuite& suite, const SecretBytes& traffic_secret, TlsTrafficKeys& out) {
  if (traffic_secret.size() != suite.hash_length ||
      !HkdfExpandLabel(suite.digest, traffic_secret.view(), "key", {}, suite.key_length, out.key) ||
      !HkdfExpandLabel(suite.digest, traffic_secret.view(), "iv", {}, suite.iv_length, out.iv)) {
    out.Wipe();
    return false;
  }
  return true;
}

bool NextTls13TrafficSecret(const TlsCipherSuite& suite, const SecretBytes& secret, SecretBytes& out) {
  return secret.size() == suite.hash_length &&
         HkdfExpandLabel(suite.digest, secret.view(), "traffic upd", {}, suite.hash_length, out);
}

bool DeriveTls12Keys(const TlsCipherSuite& suite, const SecretBytes& master_secret,
                     const TlsRandom& client_random, const TlsRandom& server_random, TlsTrafficKeys& client,
                     TlsTrafficKeys& server) {
  client.Wipe();
  server.Wipe();
  if (master_secret.size() != 48) return false;
  static constexpr char kLabel[] = "key expansion";
  // RFC 5246 §6.3: seed = label + server_random + client_random.
  std::array<uint8_t, sizeof(kLabel) - 1 + 64> seed;
  std::memcpy(seed.data(), kLabel, sizeof(kLabel) - 1);
  std::memcpy(seed.data() + sizeof(kLabel) - 1, server_random.data(), 32);
  std::memcpy(seed.data() + sizeof(kLabel) - 1 + 32, client_random.data(), 32);
  // AEAD suites have no MAC keys: client key, server key, client IV, server IV.
  const size_t k = suite.key_length, iv = suite.iv_length;
  std::array<uint8_t, 2 * (32 + 12)> block;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, const_cast<uint8_t*>(master_secret.data()),
                                        master_secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end(),
  };
  const std::span<const uint8_t> b(block.data(), 2 * (k + iv));
  const bool ok = RunKdf(OSSL_KDF_NAME_TLS1_PRF, params, std::span(block.data(), b.size())) &&
                  client.key.Assign(b.subspan(0, k)) && server.key.Assign(b.subspan(k, k)) &&
                  client.iv.Assign(b.subspan(2 * k, iv)) && server.iv.Assign(b.subspan(2 * k + iv, iv));
  OPENSSL_cleanse(block.data(), block.size());
  if (!ok) {
    client.Wipe();
    server.Wipe();
  }
  return ok;
}

}  // namespace l7tap::protocols
