#pragma once
// TLS handshake messages: the hellos' fields the decryption needs (RFC 8446 §4.1.2-4.1.4, RFC 5246 §7.4.1),
// and the messages of one direction put back together from the handshake bytes of its records (a message
// may span records; a record may hold several).
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "protocols/tls_secret.h"

namespace l7tap::protocols {

// Handshake message types (RFC 8446 §4).
inline constexpr uint8_t kTlsClientHello = 1;
inline constexpr uint8_t kTlsServerHello = 2;
inline constexpr uint8_t kTlsNewSessionTicket = 4;
inline constexpr uint8_t kTlsEndOfEarlyData = 5;
inline constexpr uint8_t kTlsEncryptedExtensions = 8;
inline constexpr uint8_t kTlsCertificate = 11;
inline constexpr uint8_t kTlsCertificateVerify = 15;
inline constexpr uint8_t kTlsFinished = 20;
inline constexpr uint8_t kTlsKeyUpdate = 24;

struct TlsClientHello {
  uint16_t legacy_version = 0;
  TlsRandom random{};
  uint8_t session_id_length = 0;
  std::array<uint8_t, 32> session_id{};
  bool offers_tls13 = false;       // supported_versions lists TLS 1.3
  bool offers_early_data = false;  // early_data: 0-RTT data follows the hello
};

struct TlsServerHello {
  TlsRandom random{};
  uint16_t cipher_suite = 0;
  // supported_versions' selected version when present (TLS 1.3), else legacy_version.
  uint16_t version = 0;
  bool retry_request = false;  // a HelloRetryRequest: a second ClientHello and ServerHello follow
};

// Message bodies, after the 4-byte header. nullopt when malformed.
std::optional<TlsClientHello> ParseClientHello(std::span<const uint8_t> body);
std::optional<TlsServerHello> ParseServerHello(std::span<const uint8_t> body);

struct TlsHandshakeMessage {
  uint8_t type = 0;
  uint32_t length = 0;            // body length
  std::span<const uint8_t> body;  // the body when every byte was seen and its type is kept, else empty
  bool complete = false;          // body holds all `length` bytes
};

class TlsHandshakeReader {
 public:
  using Sink = std::function<void(const TlsHandshakeMessage&)>;
  // Bodies are kept for ClientHello, ServerHello and KeyUpdate (up to kMaxKeptBody bytes); other messages
  // are passed by type and length as they end.
  static constexpr uint32_t kMaxKeptBody = 1 << 16;

  explicit TlsHandshakeReader(Sink sink) : sink_(std::move(sink)) {}
  void Feed(std::span<const uint8_t> bytes);
  // `n` bytes whose content is unknown (not copied, or lost).
  void Skip(uint64_t n);
  // Message boundaries lost (a message header among unknown bytes): messages are looked for again from the
  // next Restart.
  bool lost() const { return lost_; }
  // The next bytes begin a message (a record's start after boundaries were lost).
  void Restart();
  bool at_boundary() const { return !lost_ && have_header_ == 0; }

 private:
  void End();

  Sink sink_;
  bool lost_ = false;
  uint8_t header_[4];
  uint8_t have_header_ = 0;
  uint32_t length_ = 0;
  uint32_t have_ = 0;
  bool keep_ = false;
  bool gaps_ = false;  // body bytes of this message were unknown
  std::vector<uint8_t> body_;
};

}  // namespace l7tap::protocols
