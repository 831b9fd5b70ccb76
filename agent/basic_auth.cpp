#include "agent/basic_auth.h"

#include <crypt.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace l7tap::agent {
namespace {

// Equal strings, in time that depends on their lengths only.
bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

BasicAuth::BasicAuth(std::map<std::string, std::string> users, BasicAuthLimits limits)
    : users_(std::move(users)), limits_(limits), data_(std::make_unique<::crypt_data>()) {
  RAND_bytes(hmac_key_.data(), int(hmac_key_.size()));
  if (users_.empty()) return;
  // A hash no password matches, of the first user's cost: what an unknown user's password is checked against.
  const std::string& model = users_.begin()->second;
  const unsigned long cost = std::stoul(model.substr(4, 2));
  std::array<char, 16> random{};
  RAND_bytes(reinterpret_cast<unsigned char*>(random.data()), int(random.size()));
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
  if (crypt_gensalt_rn("$2b$", cost, random.data(), int(random.size()), salt.data(), int(salt.size()))) {
    std::array<unsigned char, 24> secret{};
    RAND_bytes(secret.data(), int(secret.size()));
    std::string phrase;
    for (unsigned char ch : secret) phrase += char('a' + ch % 26);
    if (const char* h = crypt_r(phrase.c_str(), salt.data(), data_.get()); h && h[0] == '$')
      unknown_user_hash_ = h;
  }
  if (unknown_user_hash_.empty()) unknown_user_hash_ = model;  // only timing is at stake: its user is known
}

BasicAuth::~BasicAuth() = default;

BasicAuth::Digest BasicAuth::Key(std::string_view user, std::string_view password,
                                 const std::string& hash) const {
  std::string message;
  message.reserve(user.size() + password.size() + hash.size() + 2);
  message.append(user).append(1, '\0').append(hash).append(1, '\0').append(password);
  Digest d{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), hmac_key_.data(), int(hmac_key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), d.data(), &len);
  OPENSSL_cleanse(message.data(), message.size());
  return d;
}

bool BasicAuth::Bcrypt(std::string_view password, const std::string& hash) {
  ++bcrypt_runs_;
  const std::string phrase(password);
  const char* out = crypt_r(phrase.c_str(), hash.c_str(), data_.get());
  const bool ok = out != nullptr && out[0] == '$' && ConstantTimeEqual(out, hash);
  OPENSSL_cleanse(data_.get(), sizeof(::crypt_data));
  return ok;
}

bool BasicAuth::Check(std::string_view user, std::string_view password, uint64_t now_ns) {
  // crypt_r takes C strings: a password with a NUL byte would be checked cut short.
  if (password.find('\0') != std::string_view::npos) return false;
  std::lock_guard lock(mu_);
  auto u = users_.find(std::string(user));
  if (u == users_.end()) {
    Bcrypt(password, unknown_user_hash_);
    return false;
  }
  const Digest key = Key(user, password, u->second);
  if (auto c = cache_.find(key); c != cache_.end()) {
    if (now_ns - c->second < limits_.cache_ttl_ns) return true;
    cache_.erase(c);
  }
  if (!Bcrypt(password, u->second)) return false;
  if (cache_.size() >= limits_.max_cached) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    cache_.erase(oldest);
  }
  cache_.emplace(key, now_ns);
  return true;
}

}  // namespace l7tap::agent
