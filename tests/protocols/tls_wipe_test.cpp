// Key material leaves no copies behind: the decryptor wipes its secrets and keys when the connection closes
// or is given up, the store when secrets expire.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/tls_decryptor.h"
#include "tls_test_support.h"
#include "tls_wipe_watch.h"

namespace l7tap::protocols {
namespace {

using testing::AddKeyLog;
using testing::Harness;
using testing::Pattern;
using testing::TlsWire;
using testing::TlsWireOptions;
using testing::TlsWireRun;
using testing::WipeWatch;
using testing::Write;

// The bytes of the key log's secrets of `label` ("" for all), in the log's order.
std::vector<std::vector<uint8_t>> SecretsOf(const std::vector<std::string>& keylog,
                                            const std::string& label = "") {
  std::vector<std::vector<uint8_t>> out;
  for (const std::string& line : keylog) {
    if (!label.empty() && line.rfind(label + " ", 0) != 0) continue;
    const auto s = ParseKeyLogLine(line);
    if (s) out.emplace_back(s->secret.view().begin(), s->secret.view().end());
  }
  return out;
}

TlsWireRun RunExchange(int version) {
  TlsWireOptions o;
  o.version = version;
  TlsWire wire(o);
  return wire.Run({Write(true, "GET / HTTP/1.1\r\n\r\n"), Write(false, Pattern(2000, 1))});
}

TEST(TlsWiping, CloseWipesTheTrafficSecretsAndKeys) {
  for (int version : {0x0304, 0x0303}) {
    SCOPED_TRACE(version);
    const TlsWireRun run = RunExchange(version);
    Harness h(Role::kClient);
    AddKeyLog(h.store, run.client_keylog, 0);
    h.Feed(run, Role::kClient);
    // TLS 1.3: each direction's application secret (32), AES-128 key (16), IV (12); TLS 1.2: key and salt.
    EXPECT_EQ(h.decryptor.key_material_bytes(), version == 0x0304 ? 2u * (32 + 16 + 12) : 2u * (16 + 4));
    std::vector<std::vector<uint8_t>> planted = SecretsOf(run.client_keylog, "CLIENT_TRAFFIC_SECRET_0");
    for (auto& s : SecretsOf(run.client_keylog, "SERVER_TRAFFIC_SECRET_0")) planted.push_back(s);
    WipeWatch watch(planted);
    h.decryptor.OnClose();
    EXPECT_EQ(h.decryptor.key_material_bytes(), 0u);
    for (size_t i = 0; i < planted.size(); ++i) EXPECT_EQ(watch.wiped(i), 1) << i;
    EXPECT_EQ(watch.left_nonzero(), 0);
  }
}

TEST(TlsWiping, GivingUpWipesToo) {
  // The client's application secret never comes: the server's direction decrypts, the client's waits until
  // the connection is given up.
  const TlsWireRun run = RunExchange(0x0304);
  std::vector<std::string> partial;
  for (const std::string& line : run.client_keylog)
    if (line.rfind("CLIENT_TRAFFIC_SECRET_0 ", 0) != 0) partial.push_back(line);
  Harness h(Role::kClient);
  AddKeyLog(h.store, partial, 0);
  h.Feed(run, Role::kClient);
  EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kWaitingForSecrets);
  EXPECT_EQ(h.decryptor.key_material_bytes(), 32u + 16 + 12);
  WipeWatch watch(SecretsOf(run.client_keylog, "SERVER_TRAFFIC_SECRET_0"));
  h.decryptor.Poll(10'000'000'000);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNoSecrets);
  EXPECT_EQ(h.decryptor.key_material_bytes(), 0u);
  EXPECT_EQ(watch.wiped(0), 1);
}

TEST(TlsWiping, StoreExpiryWipesEverySecret) {
  const TlsWireRun run = RunExchange(0x0304);
  TlsSecretStore store;
  AddKeyLog(store, run.client_keylog, 5);
  ASSERT_EQ(store.size(), 5u);
  const auto planted = SecretsOf(run.client_keylog);
  WipeWatch watch(planted);
  store.Expire(5 + 60'000'000'000ull);
  EXPECT_EQ(store.size(), 0u);
  for (size_t i = 0; i < planted.size(); ++i) EXPECT_EQ(watch.wiped(i), 1) << i;
  EXPECT_EQ(watch.left_nonzero(), 0);
  EXPECT_EQ(store.TakeStats().expired, 5u);
}

}  // namespace
}  // namespace l7tap::protocols
