#pragma once
// HTTP basic authentication against bcrypt hashes (--web-config basic_auth_users). bcrypt is slow on purpose
// (~70 ms at cost 10): one check runs at a time, and a (user, password) that passed is remembered for a
// while, as a keyed digest (never the password itself), so that a scrape every few seconds costs one bcrypt
// now and then.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

struct crypt_data;  // <crypt.h>

namespace l7tap::agent {

struct BasicAuthLimits {
  size_t max_cached = 64;                      // (user, password) pairs remembered; then the oldest goes
  uint64_t cache_ttl_ns = 300'000'000'000ULL;  // a pair is checked with bcrypt again after this
};

class BasicAuth {
 public:
  // `users`: user -> bcrypt hash (IsBcryptHash).
  explicit BasicAuth(std::map<std::string, std::string> users, BasicAuthLimits limits = {});
  ~BasicAuth();
  // Unknown users cost a bcrypt too (a hash of the same cost), so timing does not tell who exists.
  bool Check(std::string_view user, std::string_view password, uint64_t now_ns);
  size_t bcrypt_runs() const { return bcrypt_runs_; }  // for tests: how often the cache missed

 private:
  using Digest = std::array<uint8_t, 32>;
  Digest Key(std::string_view user, std::string_view password, const std::string& hash) const;
  bool Bcrypt(std::string_view password, const std::string& hash);

  std::map<std::string, std::string> users_;
  BasicAuthLimits limits_;
  std::string unknown_user_hash_;
  std::array<uint8_t, 32> hmac_key_{};
  std::mutex mu_;                       // one check at a time: bcrypt is CPU-bound on purpose
  std::unique_ptr<::crypt_data> data_;  // crypt_r's scratch (32 KiB)
  std::map<Digest, uint64_t> cache_;    // digest -> when it passed
  size_t bcrypt_runs_ = 0;
};

}  // namespace l7tap::agent
