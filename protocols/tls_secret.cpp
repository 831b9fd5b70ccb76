#include "protocols/tls_secret.h"

#include <openssl/crypto.h>

#include <cstring>

namespace l7tap::protocols {

namespace {

constexpr std::pair<std::string_view, TlsSecretLabel> kLabelNames[] = {
    {"CLIENT_RANDOM", TlsSecretLabel::kClientRandom},
    {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", TlsSecretLabel::kClientHandshakeTraffic},
    {"SERVER_HANDSHAKE_TRAFFIC_SECRET", TlsSecretLabel::kServerHandshakeTraffic},
    {"CLIENT_TRAFFIC_SECRET_0", TlsSecretLabel::kClientTraffic0},
    {"SERVER_TRAFFIC_SECRET_0", TlsSecretLabel::kServerTraffic0},
    {"CLIENT_EARLY_TRAFFIC_SECRET", TlsSecretLabel::kClientEarlyTraffic},
    {"EXPORTER_SECRET", TlsSecretLabel::kExporter},
    {"EARLY_EXPORTER_SECRET", TlsSecretLabel::kEarlyExporter},
};

SecretWipeHook wipe_hook = nullptr;
void* wipe_hook_context = nullptr;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly out.size() bytes from 2 * out.size() hex digits.
bool DecodeHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = uint8_t(hi << 4 | lo);
  }
  return true;
}

// The next space-separated field of `line`.
std::string_view NextField(std::string_view& line) {
  const size_t start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  const size_t end = std::min(line.find_first_of(" \t"), line.size());
  const std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

}  // namespace

std::optional<TlsSecretLabel> TlsSecretLabelFromName(std::string_view name) {
  for (const auto& [text, label] : kLabelNames)
    if (text == name) return label;
  return std::nullopt;
}

const char* TlsSecretLabelName(TlsSecretLabel label) {
  for (const auto& [text, l] : kLabelNames)
    if (l == label) return text.data();  // the literals are NUL-terminated
  return "?";
}

SecretBytes::SecretBytes(std::span<const uint8_t> bytes) { Assign(bytes); }

SecretBytes::SecretBytes(const SecretBytes& other) { Assign(other.view()); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept {
  Assign(other.view());
  other.Wipe();
}

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) Assign(other.view());
  return *this;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Assign(other.view());
    other.Wipe();
  }
  return *this;
}

bool SecretBytes::Assign(std::span<const uint8_t> bytes) {
  Wipe();
  if (bytes.size() > kMaxSize) return false;
  std::memcpy(bytes_.data(), bytes.data(), bytes.size());
  size_ = uint8_t(bytes.size());
  return true;
}

bool SecretBytes::Resize(size_t size) {
  Wipe();
  if (size > kMaxSize) return false;
  size_ = uint8_t(size);
  return true;
}

void SecretBytes::Wipe() {
  if (size_ == 0) return;
  const size_t n = size_;
  if (wipe_hook) wipe_hook(bytes_.data(), n, false, wipe_hook_context);
  OPENSSL_cleanse(bytes_.data(), n);
  size_ = 0;
  if (wipe_hook) wipe_hook(bytes_.data(), n, true, wipe_hook_context);
}

bool SecretBytes::operator==(const SecretBytes& other) const {
  return size_ == other.size_ && CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), size_) == 0;
}

std::optional<TlsSecret> ParseKeyLogLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const std::string_view name = NextField(line);
  if (name.empty() || name.front() == '#') return std::nullopt;
  const std::optional<TlsSecretLabel> label = TlsSecretLabelFromName(name);
  if (!label) return std::nullopt;
  const std::string_view random = NextField(line), secret = NextField(line);
  if (!NextField(line).empty() || secret.empty() || secret.size() % 2 != 0 ||
      secret.size() / 2 > SecretBytes::kMaxSize)
    return std::nullopt;
  TlsSecret s;
  s.label = *label;
  s.has_client_random = true;
  if (!DecodeHex(random, s.client_random)) return std::nullopt;
  std::array<uint8_t, SecretBytes::kMaxSize> bytes{};
  const size_t n = secret.size() / 2;
  const bool ok = DecodeHex(secret, std::span(bytes.data(), n));
  if (ok) s.secret.Assign(std::span(bytes.data(), n));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (!ok) return std::nullopt;
  return s;
}

void SetSecretWipeHookForTest(SecretWipeHook hook, void* context) {
  wipe_hook = hook;
  wipe_hook_context = context;
}

}  // namespace l7tap::protocols
