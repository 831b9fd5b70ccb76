#pragma once
// One TLS secret as the key-log sources give it (NSS key log format: "LABEL <client random> <secret>"), and
// the bytes that hold key material, zeroed when they go.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace l7tap::protocols {

// What a secret is for (the NSS key log labels l7tap uses).
enum class TlsSecretLabel : uint8_t {
  kClientRandom,            // TLS 1.2 master secret (label CLIENT_RANDOM)
  kClientHandshakeTraffic,  // CLIENT_HANDSHAKE_TRAFFIC_SECRET
  kServerHandshakeTraffic,  // SERVER_HANDSHAKE_TRAFFIC_SECRET
  kClientTraffic0,          // CLIENT_TRAFFIC_SECRET_0
  kServerTraffic0,          // SERVER_TRAFFIC_SECRET_0
  kClientEarlyTraffic,      // CLIENT_EARLY_TRAFFIC_SECRET
  kExporter,                // EXPORTER_SECRET
  kEarlyExporter,           // EARLY_EXPORTER_SECRET
};
inline constexpr size_t kTlsSecretLabels = 8;

// nullopt for labels that carry nothing l7tap uses ("RSA", unknown ones).
std::optional<TlsSecretLabel> TlsSecretLabelFromName(std::string_view name);
const char* TlsSecretLabelName(TlsSecretLabel label);

// Where a secret came from.
enum class TlsSecretSource : uint8_t {
  kKeyLogFile,  // an NSS key log file (SSLKEYLOGFILE)
  kOpenSsl,     // OpenSSL's key-log callback
  kGo,          // Go's crypto/tls (*Config).writeKeyLog
  kOther,
};
inline constexpr size_t kTlsSecretSources = 4;

// Up to 64 bytes of key material. Wiped (OPENSSL_cleanse) when destroyed, moved from or Wipe()d, so that
// secrets live only where they are still needed.
class SecretBytes {
 public:
  static constexpr size_t kMaxSize = 64;

  SecretBytes() = default;
  // Empty when `bytes` is longer than kMaxSize.
  explicit SecretBytes(std::span<const uint8_t> bytes);
  SecretBytes(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes() { Wipe(); }

  // False (and empty) when `bytes` is longer than kMaxSize.
  bool Assign(std::span<const uint8_t> bytes);
  void Wipe();

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> view() const { return {bytes_.data(), size_}; }
  // Makes room for `size` bytes to be written through data() (false when over kMaxSize).
  bool Resize(size_t size);
  bool operator==(const SecretBytes& other) const;  // constant time for equal sizes

 private:
  std::array<uint8_t, kMaxSize> bytes_{};
  uint8_t size_ = 0;
};

using TlsRandom = std::array<uint8_t, 32>;

struct TlsSecret {
  TlsSecretLabel label = TlsSecretLabel::kClientRandom;
  TlsSecretSource source = TlsSecretSource::kKeyLogFile;
  // The handshake's ClientHello random. Sources that cannot read it give the library object instead (tgid,
  // ssl): such secrets pair with a connection by trial decryption.
  bool has_client_random = false;
  TlsRandom client_random{};
  SecretBytes secret;
  uint32_t tgid = 0;
  uint64_t ssl = 0;  // the library's connection object (SSL*, *tls.Conn), 0 when not known
  uint64_t ts_ns = 0;
};

// One line of an NSS key log: "LABEL <64 hex digits of client random> <hex secret>". nullopt for comments
// (#), blank lines, labels l7tap does not use, and malformed lines (bad hex, wrong lengths).
std::optional<TlsSecret> ParseKeyLogLine(std::string_view line);

// Test hook: called for every non-empty SecretBytes being wiped, once right before (wiped = false) and once
// right after (wiped = true, the same bytes, which must then be zero). One thread; null removes it.
using SecretWipeHook = void (*)(const uint8_t* data, size_t size, bool wiped, void* context);
void SetSecretWipeHookForTest(SecretWipeHook hook, void* context);

}  // namespace l7tap::protocols
