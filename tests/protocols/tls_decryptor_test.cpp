// TlsDecryptor on real OpenSSL connections, every AEAD suite of TLS 1.3 and 1.2 l7tap decrypts: as the
// client and as the server sees them, cut the ways captures cut them, with secrets before and after.
#include "protocols/tls_decryptor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "protocols/tls_keys.h"
#include "tls_test_support.h"

namespace l7tap::protocols {
namespace {

using testing::AddKeyLog;
using testing::BytesThroughFirstProtected;
using testing::ExpectKnownBytesMatch;
using testing::ExpectPlaintext;
using testing::Feeding;
using testing::Harness;
using testing::kSuiteCases;
using testing::OptionsOf;
using testing::Pattern;
using testing::ProtectedRecords;
using testing::SuiteCase;
using testing::TlsStep;
using testing::TlsWire;
using testing::TlsWireRun;
using testing::Write;

// Requests and responses of several sizes, one 40000-byte upload in 16 KiB writes (three records).
std::vector<TlsStep> Exchange() {
  return {Write(true, "GET /a HTTP/1.1\r\nHost: example\r\n\r\n"), Write(false, Pattern(5000, 1)),
          Write(true, Pattern(40000, 2), 16384), Write(false, Pattern(300, 3))};
}

class TlsSuite : public ::testing::TestWithParam<SuiteCase> {
 protected:
  bool tls13() const { return GetParam().version == 0x0304; }
  // Secrets each connection takes: TLS 1.3 two handshake and two application traffic secrets, TLS 1.2 the
  // master secret.
  uint64_t secrets() const { return tls13() ? 4 : 1; }
  TlsWireRun Run(const std::vector<TlsStep>& steps = Exchange()) { return wire_.Run(steps); }

  // Everything decrypted, each byte once, as counted from the wire.
  void ExpectAll(Harness& h, const TlsWireRun& run, Role as) {
    const TlsDecryptor& d = h.decryptor;
    EXPECT_EQ(d.untraced(), TlsUntracedReason::kNone) << TlsUntracedReasonName(d.untraced());
    const Role traced = as == Role::kClient ? Role::kClient : Role::kServer;
    EXPECT_EQ(d.role(), traced);
    EXPECT_EQ(d.version(), tls13() ? kTls13 : kTls12);
    EXPECT_EQ(d.cipher_suite(), GetParam().id);
    const bool client = traced == Role::kClient;
    ExpectPlaintext(h.sink.of(Direction::kEgress), client ? run.client_sent : run.server_sent);
    ExpectPlaintext(h.sink.of(Direction::kIngress), client ? run.server_sent : run.client_sent);
    const TlsDecryptorStats st = h.decryptor.TakeStats();
    EXPECT_EQ(st.records, ProtectedRecords(run, GetParam().version));
    EXPECT_EQ(st.records_partial, 0u);
    EXPECT_EQ(st.bytes_decrypted, run.client_sent.size() + run.server_sent.size());
    EXPECT_EQ(st.secrets_by_random, secrets());
    EXPECT_EQ(st.secrets_by_trial, 0u);
    EXPECT_EQ(st.alerts, 2u);                  // close_notify both ways
    EXPECT_EQ(st.tickets, tls13() ? 2u : 0u);  // OpenSSL's two tickets after a full TLS 1.3 handshake
    EXPECT_EQ(st.tag_failures, 0u);
    EXPECT_EQ(st.desyncs, 0u);
    EXPECT_EQ(st.resyncs, 0u);
    EXPECT_EQ(st.key_updates, 0u);
  }

  TlsWire wire_{OptionsOf(GetParam())};
};

TEST_P(TlsSuite, WholeWritesAsClientServerAndUnknownRole) {
  const TlsWireRun run = Run();
  EXPECT_FALSE(run.resumed);
  for (Role as : {Role::kClient, Role::kServer, Role::kUnknown}) {
    SCOPED_TRACE(RoleName(as));
    Harness h(as);
    AddKeyLog(h.store, run.client_keylog, 0);
    h.Feed(run, as);
    EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kDecrypting);
    EXPECT_TRUE(h.decryptor.decrypting());
    h.decryptor.OnClose();
    EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kClosed);
    EXPECT_EQ(h.decryptor.key_material_bytes(), 0u);
    ExpectAll(h, run, as);
  }
}

TEST_P(TlsSuite, TheServersKeyLogDecryptsAsWell) {
  const TlsWireRun run = Run();
  Harness h(Role::kServer);
  AddKeyLog(h.store, run.server_keylog, 0);
  h.Feed(run, Role::kServer);
  h.decryptor.OnClose();
  ExpectAll(h, run, Role::kServer);
}

TEST_P(TlsSuite, RecordsSplitAcrossChunksAndManyRecordsPerChunk) {
  const TlsWireRun run = Run();
  const Feeding cuts[] = {
      {.split = 1},     // a byte at a time: headers split too
      {.split = 7},     // headers and bodies split everywhere
      {.split = 1000},  // records cut mid-body
      {.merge = true},  // every flight of one side in one chunk
      {.per_record = true},
  };
  for (const Feeding& how : cuts) {
    SCOPED_TRACE(::testing::Message()
                 << "split " << how.split << " merge " << how.merge << " per record " << how.per_record);
    Harness h(Role::kClient);
    AddKeyLog(h.store, run.client_keylog, 0);
    h.Feed(run, Role::kClient, how);
    h.decryptor.OnClose();
    ExpectAll(h, run, Role::kClient);
  }
}

TEST_P(TlsSuite, OneMebibyteInSixteenKibibyteRecords) {
  const std::string big = Pattern(1 << 20, 9);
  for (size_t write_size : {size_t(16384), big.size()}) {
    SCOPED_TRACE(write_size);
    // 64 records, in 64 chunks (one per SSL_write) or all in one chunk.
    const TlsWireRun run = Run({Write(true, "GET /big HTTP/1.1\r\n\r\n"), Write(false, big, write_size)});
    Harness h(Role::kServer);
    AddKeyLog(h.store, run.client_keylog, 0);
    h.Feed(run, Role::kServer);
    h.decryptor.OnClose();
    ExpectAll(h, run, Role::kServer);
  }
}

TEST_P(TlsSuite, CopyCappedRecordsDecryptTheirPrefix) {
  // Each record its own chunk of which 1024 bytes are copied: the handshake fits, application records
  // give their prefix and an uncopied tail for the rest.
  const std::vector<size_t> writes = {100, 999, 1003, 5000, 16384};
  std::vector<TlsStep> steps;
  for (size_t i = 0; i < writes.size(); ++i) {
    steps.push_back(Write(true, Pattern(writes[i], uint8_t(i))));
    steps.push_back(Write(false, Pattern(writes[writes.size() - 1 - i], uint8_t(i + 10))));
  }
  const TlsWireRun run = Run(steps);
  const size_t cap = 1024;
  const bool gcm12 = !tls13() && GetParam().id != 0xCCA8;
  const size_t body_overhead = tls13() ? 17 : gcm12 ? 24 : 16;
  const size_t known_max = cap - 5 - (gcm12 ? 8 : 0);  // plaintext bytes a capped record shows
  uint64_t known = 0, tails = 0, partial = 0;
  for (size_t n : writes) {
    known += 2 * std::min(n, known_max);
    tails += 2 * (n - std::min(n, known_max));
    if (5 + n + body_overhead > cap) partial += 2;
  }
  Harness h(Role::kClient);
  AddKeyLog(h.store, run.client_keylog, 0);
  h.Feed(run, Role::kClient, {.copy = cap, .per_record = true});
  h.decryptor.OnClose();
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNone);
  const auto& egress = h.sink.of(Direction::kEgress);
  const auto& ingress = h.sink.of(Direction::kIngress);
  EXPECT_EQ(ExpectKnownBytesMatch(egress, run.client_sent) + ExpectKnownBytesMatch(ingress, run.server_sent),
            known);
  EXPECT_EQ(egress.tail_bytes + ingress.tail_bytes, tails);
  EXPECT_EQ(egress.gaps + ingress.gaps, 0u);
  // Each record's plaintext is one call: its prefix with the tail.
  EXPECT_EQ(egress.calls + ingress.calls, 2 * writes.size());
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.records, ProtectedRecords(run, GetParam().version));
  EXPECT_EQ(st.records_partial, partial);
  EXPECT_EQ(st.bytes_decrypted, known);
  EXPECT_EQ(st.desyncs, 0u);
}

TEST_P(TlsSuite, SecretsAfterTheRecordsThatNeedThem) {
  const TlsWireRun run = Run();
  Harness h(Role::kClient);
  const uint64_t end = h.Feed(run, Role::kClient);
  EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kWaitingForSecrets);
  EXPECT_FALSE(h.decryptor.decrypting());
  EXPECT_EQ(h.sink.of(Direction::kEgress).calls + h.sink.of(Direction::kIngress).calls, 0u);
  // Each side waits at its first protected record; all after it is held.
  size_t total = 0;
  for (const auto& c : run.chunks) total += c.bytes.size();
  const int v = GetParam().version;
  EXPECT_EQ(h.decryptor.buffered_bytes(),
            total - BytesThroughFirstProtected(run, v, true) - BytesThroughFirstProtected(run, v, false));
  h.decryptor.Poll(end);  // no secrets yet: nothing moves
  EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kWaitingForSecrets);
  AddKeyLog(h.store, run.client_keylog, end);
  h.decryptor.Poll(end + 1000);
  EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kDecrypting);
  EXPECT_EQ(h.decryptor.buffered_bytes(), 0u);
  h.decryptor.OnClose();
  ExpectAll(h, run, Role::kClient);
}

// The order plaintext reached the sink in: direction and capture time of each call.
struct OrderSink : TlsPlaintextSink {
  void OnPlaintext(Direction dir, uint64_t ts_ns, std::string_view, uint64_t) override {
    order.emplace_back(dir, ts_ns);
  }
  void OnPlaintextGap(Direction, const StreamGap&) override {}
  std::vector<std::pair<Direction, uint64_t>> order;
};

// A traced server decrypting `run` with the client's key-log lines whose label starts with `late_label` given
// only after every record was fed, the others before. Nothing may come out before them (the request waits for
// them); then the request comes first and every call in capture order, both directions having had plaintext.
void ExpectRequestFirstInCaptureOrder(const TlsWireRun& run, std::string_view late_label, bool all_late) {
  std::vector<std::string> now, later;
  for (const std::string& line : run.client_keylog)
    (all_late || line.starts_with(late_label) ? later : now).push_back(line);
  ASSERT_EQ(later.size(), all_late ? run.client_keylog.size() : 1u);
  OrderSink sink;
  TlsSecretStore store;
  TlsDecryptor d(Role::kServer, store, sink, 1);
  AddKeyLog(store, now, 0);
  const uint64_t end = testing::FeedPieces(d, testing::Cut(run.chunks, Role::kServer));
  EXPECT_EQ(sink.order.size(), 0u);
  AddKeyLog(store, later, end);
  d.Poll(end);
  d.OnClose();
  ASSERT_FALSE(sink.order.empty());
  EXPECT_EQ(sink.order.front().first, Direction::kIngress);  // the request first
  for (size_t i = 1; i < sink.order.size(); ++i)
    EXPECT_LE(sink.order[i - 1].second, sink.order[i].second) << "call " << i;
  // Both directions had plaintext: the order was a choice, not a given.
  EXPECT_NE(std::count_if(sink.order.begin(), sink.order.end(),
                          [](const auto& o) { return o.first == Direction::kEgress; }),
            0);
}

// A traced server whose secrets come late (a key-log file read after the records): the request and the
// response both wait, and reach the sink in the order they were captured, as the HTTP session pairs them.
TEST_P(TlsSuite, LateSecretsKeepTheOrderAcrossDirections) {
  ExpectRequestFirstInCaptureOrder(Run(), "", /*all_late=*/true);
}

// A traced server with every secret but the one the client's records need, which comes later (TLS 1.3: the
// client's application traffic secret; TLS 1.2: the master secret). The request waits for it; the response,
// which TLS 1.3 could open at once, must not reach the sink first.
TEST_P(TlsSuite, AResponseNeverOvertakesTheRequestThatWaits) {
  ExpectRequestFirstInCaptureOrder(Run(), tls13() ? "CLIENT_TRAFFIC_SECRET_0" : "CLIENT_RANDOM",
                                   /*all_late=*/false);
}

TEST_P(TlsSuite, HandshakeSecretsFirstThenApplicationSecrets) {
  const TlsWireRun run = Run();
  std::vector<std::string> handshake, application;
  for (const std::string& line : run.client_keylog)
    (line.find("HANDSHAKE") != std::string::npos ? handshake : application).push_back(line);
  Harness h(Role::kServer);
  AddKeyLog(h.store, handshake, 0);
  const uint64_t end = h.Feed(run, Role::kServer);
  if (tls13()) {
    // The handshake decrypted; application records wait.
    EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kWaitingForSecrets);
    EXPECT_EQ(h.sink.of(Direction::kEgress).calls + h.sink.of(Direction::kIngress).calls, 0u);
  }
  AddKeyLog(h.store, application, end);
  h.decryptor.Poll(end);
  h.decryptor.OnClose();
  ExpectAll(h, run, Role::kServer);
}

TEST_P(TlsSuite, SecretsThatNeverComeGiveUpAfterTheWait) {
  const TlsWireRun run = Run();
  Harness h(Role::kClient);
  h.Feed(run, Role::kClient);
  // Records began to wait at 2000 (TLS 1.3: the server's flight) or 3000 (TLS 1.2: the client's Finished).
  const uint64_t since = tls13() ? 2000 : 3000;
  h.decryptor.Poll(since + 2'000'000'000 - 1);
  EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kWaitingForSecrets);
  h.decryptor.Poll(since + 2'000'000'000);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNoSecrets);
  EXPECT_EQ(h.decryptor.state(), TlsDecryptorState::kUntraced);
  EXPECT_EQ(h.decryptor.buffered_bytes(), 0u);
  EXPECT_EQ(h.decryptor.key_material_bytes(), 0u);
  // Secrets that come late change nothing.
  AddKeyLog(h.store, run.client_keylog, 0);
  h.decryptor.Poll(since + 3'000'000'000);
  h.decryptor.OnClose();
  EXPECT_EQ(h.sink.of(Direction::kEgress).calls + h.sink.of(Direction::kIngress).calls, 0u);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNoSecrets);
}

TEST_P(TlsSuite, ConnectionSeenFromTheMiddle) {
  const TlsWireRun run = Run();
  // The capture began with the server's last response (application data): no handshake to pair with.
  Harness h(Role::kClient);
  AddKeyLog(h.store, run.client_keylog, 0);
  h.Feed(run, Role::kClient, {.first_chunk = run.chunks.size() - 3});
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kHandshakeNotSeen);
  h.decryptor.OnClose();
  EXPECT_EQ(h.sink.of(Direction::kEgress).calls + h.sink.of(Direction::kIngress).calls, 0u);
}

TEST_P(TlsSuite, BufferedCiphertextIsBounded) {
  const TlsWireRun run = Run();
  TlsDecryptorLimits limits;
  limits.max_buffered_bytes = 20000;  // less than the 40000-byte upload
  Harness h(Role::kClient, 1, limits);
  h.Feed(run, Role::kClient);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kBufferFull);
  EXPECT_EQ(h.decryptor.buffered_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsSuite, ::testing::ValuesIn(kSuiteCases),
                         [](const ::testing::TestParamInfo<SuiteCase>& info) { return info.param.name; });

}  // namespace
}  // namespace l7tap::protocols
