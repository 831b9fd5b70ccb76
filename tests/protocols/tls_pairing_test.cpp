// How connections find their secrets: by client random (both ends of one connection from one store), and by
// trial decryption for sources that give the library object instead of the client random.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/tls_decryptor.h"
#include "tls_test_support.h"

namespace l7tap::protocols {
namespace {

using testing::AddKeyLog;
using testing::Cut;
using testing::ExpectPlaintext;
using testing::FeedPieces;
using testing::kSuiteCases;
using testing::OptionsOf;
using testing::Pattern;
using testing::RecordingSink;
using testing::SuiteCase;
using testing::TlsWire;
using testing::TlsWireRun;
using testing::Write;

constexpr uint32_t kTgid = 4242;

class TlsPairing : public ::testing::TestWithParam<SuiteCase> {
 protected:
  bool tls13() const { return GetParam().version == 0x0304; }
  uint64_t secrets() const { return tls13() ? 4 : 1; }
  TlsWireRun Run(uint8_t seed) {
    return wire_.Run({Write(true, "GET /" + std::to_string(seed) + " HTTP/1.1\r\n\r\n"),
                      Write(false, Pattern(3000 + seed, seed))});
  }
  void ExpectDecrypted(const RecordingSink& sink, const TlsWireRun& run, Role as) {
    const bool client = as == Role::kClient;
    ExpectPlaintext(sink.of(Direction::kEgress), client ? run.client_sent : run.server_sent);
    ExpectPlaintext(sink.of(Direction::kIngress), client ? run.server_sent : run.client_sent);
  }
  TlsWire wire_{OptionsOf(GetParam())};
};

TEST_P(TlsPairing, BothEndsOfOneConnectionFromOneStore) {
  // Client and server of a loopback connection traced on one node: both claim the same secrets.
  const TlsWireRun run = Run(1);
  TlsSecretStore store;
  AddKeyLog(store, run.client_keylog, 0);
  RecordingSink client_sink, server_sink;
  TlsDecryptor client(Role::kClient, store, client_sink, 1);
  TlsDecryptor server(Role::kServer, store, server_sink, 2);
  FeedPieces(client, Cut(run.chunks, Role::kClient));
  FeedPieces(server, Cut(run.chunks, Role::kServer));
  client.OnClose();
  server.OnClose();
  ExpectDecrypted(client_sink, run, Role::kClient);
  ExpectDecrypted(server_sink, run, Role::kServer);
  EXPECT_EQ(client.TakeStats().secrets_by_random, secrets());
  EXPECT_EQ(server.TakeStats().secrets_by_random, secrets());
  const TlsSecretStoreStats st = store.TakeStats();
  EXPECT_EQ(st.claimed, 2 * secrets());
  EXPECT_EQ(st.added, tls13() ? 5u : 1u);  // TLS 1.3: EXPORTER_SECRET too
  EXPECT_EQ(store.size(), st.added);       // claimed secrets stay
}

TEST_P(TlsPairing, TrialPairsTwoConcurrentHandshakesOfOneProcess) {
  const TlsWireRun a = Run(1), b = Run(2);
  for (bool secrets_first : {true, false}) {
    SCOPED_TRACE(secrets_first ? "secrets first" : "records first");
    TlsSecretStore store;
    auto add = [&] {
      // Sources that know the SSL object, not the client random; b's group is the newer.
      AddKeyLog(store, a.client_keylog, 0, false, kTgid, 0xA000);
      AddKeyLog(store, b.client_keylog, 0, false, kTgid, 0xB000);
    };
    if (secrets_first) add();
    RecordingSink sink_a, sink_b;
    TlsDecryptor da(Role::kClient, store, sink_a, kTgid), db(Role::kClient, store, sink_b, kTgid);
    // Their handshakes interleave: each side's chunks alternate between the connections.
    const auto pieces_a = Cut(a.chunks, Role::kClient), pieces_b = Cut(b.chunks, Role::kClient);
    for (size_t i = 0; i < std::max(pieces_a.size(), pieces_b.size()); ++i) {
      if (i < pieces_a.size()) da.consumer(pieces_a[i].dir).OnData(1000 + i, pieces_a[i].bytes, 0);
      if (i < pieces_b.size()) db.consumer(pieces_b[i].dir).OnData(1000 + i, pieces_b[i].bytes, 0);
    }
    if (!secrets_first) {
      add();
      da.Poll(100000);
      db.Poll(100000);
    }
    da.OnClose();
    db.OnClose();
    ExpectDecrypted(sink_a, a, Role::kClient);
    ExpectDecrypted(sink_b, b, Role::kClient);
    const TlsDecryptorStats sa = da.TakeStats(), sb = db.TakeStats();
    EXPECT_EQ(sa.secrets_by_trial, secrets());
    EXPECT_EQ(sb.secrets_by_trial, secrets());
    EXPECT_EQ(sa.secrets_by_random + sb.secrets_by_random, 0u);
    // a tries b's (newer) group first and fails, then its own; b then finds only its own unclaimed.
    EXPECT_EQ(sa.trial_decryptions, 2u);
    EXPECT_EQ(sb.trial_decryptions, 1u);
    const TlsSecretStoreStats st = store.TakeStats();
    EXPECT_EQ(st.groups_claimed, 2u);
    EXPECT_EQ(st.added_without_random, st.added);
    EXPECT_TRUE(store.UnclaimedGroups(kTgid).empty());
  }
}

TEST_P(TlsPairing, TrialSkipsOtherProcessesGroups) {
  const TlsWireRun a = Run(1);
  TlsSecretStore store;
  AddKeyLog(store, a.client_keylog, 0, false, kTgid + 1, 0xA000);  // another process
  RecordingSink sink;
  TlsDecryptor d(Role::kServer, store, sink, kTgid);
  FeedPieces(d, Cut(a.chunks, Role::kServer));
  EXPECT_EQ(d.state(), TlsDecryptorState::kWaitingForSecrets);
  EXPECT_EQ(d.TakeStats().trial_decryptions, 0u);
  d.Poll(2'000'000'000 + 3000);
  EXPECT_EQ(d.untraced(), TlsUntracedReason::kNoSecrets);
}

TEST_P(TlsPairing, SecondHandshakeOfOneObjectIsANewGroup) {
  // One SSL object reused for a second connection (SSL_clear): its second handshake's secrets pair with the
  // second connection.
  const TlsWireRun a = Run(1), b = Run(2);
  TlsSecretStore store;
  AddKeyLog(store, a.client_keylog, 0, false, kTgid, 0xC000);
  AddKeyLog(store, b.client_keylog, 0, false, kTgid, 0xC000);
  EXPECT_EQ(store.UnclaimedGroups(kTgid).size(), 2u);
  RecordingSink sink;
  TlsDecryptor d(Role::kClient, store, sink, kTgid);
  FeedPieces(d, Cut(b.chunks, Role::kClient));
  d.OnClose();
  ExpectDecrypted(sink, b, Role::kClient);
  EXPECT_EQ(d.TakeStats().secrets_by_trial, secrets());
  EXPECT_EQ(store.UnclaimedGroups(kTgid).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsPairing, ::testing::ValuesIn(kSuiteCases),
                         [](const ::testing::TestParamInfo<SuiteCase>& info) { return info.param.name; });

}  // namespace
}  // namespace l7tap::protocols
