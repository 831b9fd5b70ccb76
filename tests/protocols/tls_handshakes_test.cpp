// TlsDecryptor through the handshakes beyond the plain full one: KeyUpdate, HelloRetryRequest, resumption
// (TLS 1.3 PSK, TLS 1.2 abbreviated), and suites it does not decrypt.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/tls_decryptor.h"
#include "protocols/tls_keys.h"
#include "protocols/tls_record.h"
#include "tls_test_support.h"

namespace l7tap::protocols {
namespace {

using testing::AddKeyLog;
using testing::ExpectPlaintext;
using testing::Harness;
using testing::KeyUpdate;
using testing::Pattern;
using testing::ProtectedRecords;
using testing::SplitRecords;
using testing::TlsStep;
using testing::TlsWire;
using testing::TlsWireOptions;
using testing::TlsWireRun;
using testing::Write;

TlsWireOptions Tls13(const char* suite = "TLS_AES_128_GCM_SHA256") {
  TlsWireOptions o;
  o.ciphersuites = suite;
  return o;
}

TlsWireOptions Tls12(const char* ciphers = "ECDHE-RSA-AES128-GCM-SHA256") {
  TlsWireOptions o;
  o.version = 0x0303;
  o.cipher_list = ciphers;
  return o;
}

// Decrypts `run` as `as` with its client's key log given first; expects every byte.
TlsDecryptorStats DecryptAll(const TlsWireRun& run, Role as) {
  Harness h(as);
  AddKeyLog(h.store, run.client_keylog, 0);
  h.Feed(run, as);
  h.decryptor.OnClose();
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNone)
      << TlsUntracedReasonName(h.decryptor.untraced());
  const bool client = as == Role::kClient;
  ExpectPlaintext(h.sink.of(Direction::kEgress), client ? run.client_sent : run.server_sent);
  ExpectPlaintext(h.sink.of(Direction::kIngress), client ? run.server_sent : run.client_sent);
  return h.decryptor.TakeStats();
}

TEST(TlsHandshakes, KeyUpdatesBothWays) {
  for (const char* suite :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    SCOPED_TRACE(suite);
    TlsWire wire(Tls13(suite));
    // The client updates and asks the server to (it does before its next write); later the server updates
    // on its own.
    const TlsWireRun run =
        wire.Run({Write(true, Pattern(1000, 1)), KeyUpdate(true, true), Write(true, Pattern(2000, 2)),
                  Write(false, Pattern(3000, 3)), KeyUpdate(false, false), Write(false, Pattern(4000, 4)),
                  Write(true, Pattern(500, 5))});
    for (Role as : {Role::kClient, Role::kServer}) {
      const TlsDecryptorStats st = DecryptAll(run, as);
      EXPECT_EQ(st.key_updates, 3u);
      EXPECT_EQ(st.records, ProtectedRecords(run, 0x0304));
      EXPECT_EQ(st.tag_failures, 0u);
      EXPECT_EQ(st.secrets_by_random, 4u);
    }
  }
}

TEST(TlsHandshakes, HelloRetryRequest) {
  TlsWireOptions o = Tls13();
  o.client_groups = "X25519:P-256";  // key share for X25519 only
  o.server_groups = "P-256";
  TlsWire wire(o);
  const TlsWireRun run = wire.Run({Write(true, "ping"), Write(false, Pattern(7000, 1))});
  // The server's first record is a HelloRetryRequest (RFC 8446 §4.1.3's random), and the client said hello
  // twice.
  ASSERT_FALSE(run.chunks[1].from_client);
  const std::string hrr_random = "\xCF\x21\xAD\x74\xE5\x9A\x61\x11\xBE\x1D\x8C\x02\x1E\x65\xB8\x91";
  EXPECT_EQ(run.chunks[1].bytes.substr(5 + 4 + 2, 16), hrr_random);
  size_t client_hellos = 0;
  for (const auto& c : run.chunks)
    for (const std::string& r : SplitRecords(c.bytes))
      if (c.from_client && r[0] == kTlsHandshake && r[5] == 1) ++client_hellos;
  EXPECT_EQ(client_hellos, 2u);
  for (Role as : {Role::kClient, Role::kServer, Role::kUnknown}) {
    SCOPED_TRACE(RoleName(as));
    const TlsDecryptorStats st = DecryptAll(run, as);
    EXPECT_EQ(st.records, ProtectedRecords(run, 0x0304));
    EXPECT_EQ(st.secrets_by_random, 4u);
  }
}

TEST(TlsHandshakes, Tls13Resumption) {
  TlsWire wire(Tls13("TLS_AES_256_GCM_SHA384"));
  const TlsWireRun first = wire.Run({Write(true, "first"), Write(false, Pattern(2000, 1))});
  const TlsWireRun second = wire.Run({Write(true, "second"), Write(false, Pattern(3000, 2))}, first.session);
  ASSERT_TRUE(second.resumed);
  // PSK: no Certificate, so fewer protected handshake records than the full handshake's.
  EXPECT_LT(ProtectedRecords(second, 0x0304), ProtectedRecords(first, 0x0304));
  for (Role as : {Role::kClient, Role::kServer}) {
    const TlsDecryptorStats st = DecryptAll(second, as);
    EXPECT_EQ(st.records, ProtectedRecords(second, 0x0304));
    EXPECT_EQ(st.secrets_by_random, 4u);
  }
}

TEST(TlsHandshakes, Tls12AbbreviatedResumption) {
  for (const char* ciphers : {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"}) {
    SCOPED_TRACE(ciphers);
    TlsWire wire(Tls12(ciphers));
    const TlsWireRun first = wire.Run({Write(true, "first"), Write(false, Pattern(2000, 1))});
    const TlsWireRun second =
        wire.Run({Write(true, "second"), Write(false, Pattern(3000, 2))}, first.session);
    ASSERT_TRUE(second.resumed);
    // Abbreviated: the server's ChangeCipherSpec and Finished follow its ServerHello (no Certificate), before
    // the client's.
    ASSERT_GE(second.chunks.size(), 2u);
    const std::vector<std::string> flight = SplitRecords(second.chunks[1].bytes);
    ASSERT_FALSE(second.chunks[1].from_client);
    ASSERT_GE(flight.size(), 2u);
    EXPECT_EQ(flight[flight.size() - 2][0], kTlsChangeCipherSpec);
    // OpenSSL logs the master secret of the resumed session under the new client random.
    ASSERT_EQ(second.client_keylog.size(), 1u);
    for (Role as : {Role::kClient, Role::kServer}) {
      const TlsDecryptorStats st = DecryptAll(second, as);
      EXPECT_EQ(st.records, ProtectedRecords(second, 0x0303));
      EXPECT_EQ(st.secrets_by_random, 1u);
    }
  }
}

TEST(TlsHandshakes, CbcSuiteIsNotDecrypted) {
  TlsWire wire(Tls12("ECDHE-RSA-AES128-SHA"));
  const TlsWireRun run = wire.Run({Write(true, "GET / HTTP/1.1\r\n\r\n"), Write(false, Pattern(1000, 1))});
  ASSERT_EQ(run.cipher, "ECDHE-RSA-AES128-SHA");
  Harness h(Role::kClient);
  AddKeyLog(h.store, run.client_keylog, 0);
  h.Feed(run, Role::kClient);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kUnsupportedCipher);
  EXPECT_EQ(h.decryptor.buffered_bytes(), 0u);
  h.decryptor.OnClose();
  EXPECT_EQ(h.sink.of(Direction::kEgress).calls + h.sink.of(Direction::kIngress).calls, 0u);
  EXPECT_EQ(h.decryptor.TakeStats().records, 0u);
}

}  // namespace
}  // namespace l7tap::protocols
