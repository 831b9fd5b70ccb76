// Basic authentication against real bcrypt hashes (libxcrypt), and its cache of passed checks.
#include "agent/basic_auth.h"

#include <gtest/gtest.h>

#include "web_test_files.h"

namespace l7tap::agent {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

TEST(BasicAuthTest, RightPasswordPassesWrongOnesDoNot) {
  const std::string hy = testing::Bcrypt("s3cret", "$2y$"), hb = testing::Bcrypt("other pass", "$2b$"),
                    ha = testing::Bcrypt("ascii", "$2a$");
  ASSERT_FALSE(hy.empty());
  ASSERT_FALSE(hb.empty());
  ASSERT_FALSE(ha.empty());
  BasicAuth auth({{"alice", hy}, {"bob", hb}, {"carol", ha}});
  EXPECT_TRUE(auth.Check("alice", "s3cret", kSecond));
  EXPECT_TRUE(auth.Check("bob", "other pass", kSecond));
  EXPECT_TRUE(auth.Check("carol", "ascii", kSecond));
  EXPECT_FALSE(auth.Check("alice", "s3cret ", kSecond));
  EXPECT_FALSE(auth.Check("alice", "", kSecond));
  EXPECT_FALSE(auth.Check("alice", "other pass", kSecond));  // bob's password
  EXPECT_FALSE(auth.Check("bob", "s3cret", kSecond));
  EXPECT_FALSE(auth.Check("mallory", "s3cret", kSecond));
  EXPECT_FALSE(auth.Check("ALICE", "s3cret", kSecond));
  EXPECT_FALSE(auth.Check("alice", std::string_view("s3cret\0x", 8), kSecond));  // cut short at the NUL
}

TEST(BasicAuthTest, PassedChecksAreCachedForTheirTtlOnly) {
  BasicAuth auth({{"alice", testing::Bcrypt("pw")}}, {.max_cached = 2, .cache_ttl_ns = 10 * kSecond});
  EXPECT_TRUE(auth.Check("alice", "pw", kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 1u);
  EXPECT_TRUE(auth.Check("alice", "pw", 5 * kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 1u);  // from the cache
  // Failures are never cached: each costs a bcrypt.
  EXPECT_FALSE(auth.Check("alice", "wrong", 5 * kSecond));
  EXPECT_FALSE(auth.Check("alice", "wrong", 5 * kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
  // Unknown users too, against a hash of the same cost.
  EXPECT_FALSE(auth.Check("nobody", "pw", 5 * kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 4u);
  // Past the TTL the password is checked again.
  EXPECT_TRUE(auth.Check("alice", "pw", 12 * kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 5u);
}

TEST(BasicAuthTest, CacheIsBounded) {
  const std::string h = testing::Bcrypt("pw");
  BasicAuth auth({{"a", h}, {"b", h}, {"c", h}}, {.max_cached = 2, .cache_ttl_ns = 100 * kSecond});
  EXPECT_TRUE(auth.Check("a", "pw", 1 * kSecond));
  EXPECT_TRUE(auth.Check("b", "pw", 2 * kSecond));
  EXPECT_TRUE(auth.Check("c", "pw", 3 * kSecond));  // a, the oldest, makes room
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
  EXPECT_TRUE(auth.Check("b", "pw", 4 * kSecond));
  EXPECT_TRUE(auth.Check("c", "pw", 4 * kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
  EXPECT_TRUE(auth.Check("a", "pw", 5 * kSecond));
  EXPECT_EQ(auth.bcrypt_runs(), 4u);
}

}  // namespace
}  // namespace l7tap::agent
