#include "protocols/tls_handshake.h"

#include <algorithm>
#include <cstring>

namespace l7tap::protocols {

namespace {

constexpr uint16_t kExtEarlyData = 42;
constexpr uint16_t kExtSupportedVersions = 43;

// RFC 8446 §4.1.3: the Random of a HelloRetryRequest, SHA-256("HelloRetryRequest").
constexpr TlsRandom kHelloRetryRandom = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
                                         0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
                                         0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

// Reads big-endian fields from a message body; any read past the end makes it fail for good.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : rest_(bytes) {}
  bool ok() const { return ok_; }
  bool empty() const { return rest_.empty(); }
  size_t size() const { return rest_.size(); }
  uint32_t Int(size_t n) {
    if (!Has(n)) return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | rest_[i];
    rest_ = rest_.subspan(n);
    return v;
  }
  std::span<const uint8_t> Bytes(size_t n) {
    if (!Has(n)) return {};
    const auto b = rest_.first(n);
    rest_ = rest_.subspan(n);
    return b;
  }
  // A vector with an n-byte length prefix.
  Cursor Vector(size_t n) { return Cursor(Bytes(Int(n)), ok_); }

 private:
  Cursor(std::span<const uint8_t> bytes, bool ok) : rest_(bytes), ok_(ok) {}
  bool Has(size_t n) {
    if (rest_.size() < n) ok_ = false;
    return ok_;
  }
  std::span<const uint8_t> rest_;
  bool ok_ = true;
};

template <typename F>
bool ForEachExtension(Cursor& c, F&& on_extension) {
  if (c.empty()) return c.ok();  // TLS 1.2 hellos may have no extensions
  Cursor list = c.Vector(2);
  while (list.ok() && !list.empty()) {
    const uint16_t type = uint16_t(list.Int(2));
    Cursor data = list.Vector(2);
    if (!list.ok() || !on_extension(type, data)) return false;
  }
  return list.ok() && c.ok() && c.empty();
}

}  // namespace

std::optional<TlsClientHello> ParseClientHello(std::span<const uint8_t> body) {
  TlsClientHello h;
  Cursor c(body);
  h.legacy_version = uint16_t(c.Int(2));
  const auto random = c.Bytes(32);
  Cursor session = c.Vector(1);
  Cursor suites = c.Vector(2);
  Cursor compression = c.Vector(1);
  if (!c.ok()) return std::nullopt;
  std::copy(random.begin(), random.end(), h.random.begin());
  if (session.size() > 32) return std::nullopt;
  const auto id = session.Bytes(session.size());
  h.session_id_length = uint8_t(id.size());
  std::copy(id.begin(), id.end(), h.session_id.begin());
  if (suites.empty() || compression.empty()) return std::nullopt;
  const bool ok = ForEachExtension(c, [&](uint16_t type, Cursor& data) {
    if (type == kExtEarlyData) h.offers_early_data = true;
    if (type == kExtSupportedVersions) {
      Cursor versions = data.Vector(1);
      while (versions.ok() && !versions.empty())
        if (versions.Int(2) == 0x0304) h.offers_tls13 = true;
      return versions.ok() && data.empty();
    }
    return true;
  });
  if (!ok) return std::nullopt;
  return h;
}

std::optional<TlsServerHello> ParseServerHello(std::span<const uint8_t> body) {
  TlsServerHello h;
  Cursor c(body);
  h.version = uint16_t(c.Int(2));
  const auto random = c.Bytes(32);
  Cursor session = c.Vector(1);
  h.cipher_suite = uint16_t(c.Int(2));
  c.Int(1);  // compression method
  if (!c.ok() || session.size() > 32) return std::nullopt;
  std::copy(random.begin(), random.end(), h.random.begin());
  h.retry_request = h.random == kHelloRetryRandom;
  const bool ok = ForEachExtension(c, [&](uint16_t type, Cursor& data) {
    if (type == kExtSupportedVersions) {
      h.version = uint16_t(data.Int(2));
      return data.ok() && data.empty();
    }
    return true;
  });
  if (!ok) return std::nullopt;
  return h;
}

void TlsHandshakeReader::Restart() {
  lost_ = false;
  have_header_ = 0;
  length_ = have_ = 0;
  gaps_ = false;
  body_.clear();
}

void TlsHandshakeReader::End() {
  TlsHandshakeMessage m;
  m.type = header_[0];
  m.length = length_;
  m.complete = !gaps_;
  if (keep_ && !gaps_) m.body = body_;
  have_header_ = 0;
  length_ = have_ = 0;
  gaps_ = false;
  sink_(m);
  body_.clear();
}

void TlsHandshakeReader::Feed(std::span<const uint8_t> bytes) {
  while (!bytes.empty() && !lost_) {
    if (have_header_ < 4) {
      const size_t n = std::min<size_t>(4 - have_header_, bytes.size());
      std::memcpy(header_ + have_header_, bytes.data(), n);
      have_header_ += uint8_t(n);
      bytes = bytes.subspan(n);
      if (have_header_ < 4) return;
      length_ = uint32_t(header_[1]) << 16 | uint32_t(header_[2]) << 8 | header_[3];
      const uint8_t type = header_[0];
      keep_ = (type == kTlsClientHello || type == kTlsServerHello || type == kTlsKeyUpdate) &&
              length_ <= kMaxKeptBody;
      if (length_ == 0) End();
      continue;
    }
    const size_t n = std::min<size_t>(length_ - have_, bytes.size());
    if (keep_) body_.insert(body_.end(), bytes.begin(), bytes.begin() + n);
    have_ += uint32_t(n);
    bytes = bytes.subspan(n);
    if (have_ == length_) End();
  }
}

void TlsHandshakeReader::Skip(uint64_t n) {
  if (n == 0 || lost_) return;
  if (have_header_ < 4) {
    lost_ = true;  // the unknown bytes hold (part of) a message header
    return;
  }
  const uint64_t rest = length_ - have_;
  gaps_ = true;
  if (n < rest) {
    have_ += uint32_t(n);
    if (keep_) body_.resize(have_);
    return;
  }
  have_ = length_;
  End();
  if (n > rest) lost_ = true;
}

}  // namespace l7tap::protocols
