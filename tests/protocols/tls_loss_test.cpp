// TlsDecryptor when the capture loses bytes (copy caps that hide record headers, gaps inside and across
// records, tampered records) and on bytes that are not TLS at all.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "protocols/tls_decryptor.h"
#include "tls_test_support.h"

namespace l7tap::protocols {
namespace {

using testing::AddKeyLog;
using testing::Cut;
using testing::ExpectKnownBytesMatch;
using testing::ExpectPlaintext;
using testing::FeedPieces;
using testing::Harness;
using testing::kSuiteCases;
using testing::OptionsOf;
using testing::Pattern;
using testing::Piece;
using testing::ProtectedRecords;
using testing::Received;
using testing::SuiteCase;
using testing::TlsWire;
using testing::TlsWireRun;
using testing::Write;

class TlsLoss : public ::testing::TestWithParam<SuiteCase> {
 protected:
  bool tls13() const { return GetParam().version == 0x0304; }
  bool gcm12() const { return !tls13() && GetParam().id != 0xCCA8; }
  // Bytes a record adds to its plaintext, header included.
  size_t overhead() const { return tls13() ? 22 : gcm12() ? 29 : 21; }

  // The client's request, the server's 5000 bytes, then 300 more in a record of their own.
  TlsWireRun Run() {
    return wire_.Run({Write(true, "GET / HTTP/1.1\r\n\r\n"), Write(false, Pattern(5000, 1)),
                      Write(false, Pattern(300, 2))});
  }
  // The client's view, one record per piece; `index`: of the server's record holding `plaintext` bytes.
  std::vector<Piece> PerRecord(const TlsWireRun& run, size_t plaintext, size_t& index) {
    std::vector<Piece> pieces = Cut(run.chunks, Role::kClient, {.per_record = true});
    for (index = 0; index < pieces.size(); ++index)
      if (pieces[index].dir == Direction::kIngress && pieces[index].bytes.size() == plaintext + overhead())
        break;
    EXPECT_LT(index, pieces.size());
    return pieces;
  }
  std::unique_ptr<Harness> Decryptor(const TlsWireRun& run) {
    auto h = std::make_unique<Harness>(Role::kClient);
    AddKeyLog(h->store, run.client_keylog, 0);
    return h;
  }
  TlsWire wire_{OptionsOf(GetParam())};
};

TEST_P(TlsLoss, CopyCapHidingRecordHeadersResyncsOnTheNextRecord) {
  // 1 MiB in one write: one chunk of 64 records of which 4096 bytes are copied. The 63 records after the
  // first are hidden with their headers; the server's next record starts a chunk and is copied whole.
  const std::string big = Pattern(1 << 20, 3);
  const TlsWireRun run = wire_.Run(
      {Write(true, "GET /big HTTP/1.1\r\n\r\n"), Write(false, big, big.size()), Write(false, "end")});
  Harness h(Role::kClient);
  AddKeyLog(h.store, run.client_keylog, 0);
  h.Feed(run, Role::kClient, {.copy = 4096});
  h.decryptor.OnClose();
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNone);
  const Received& in = h.sink.of(Direction::kIngress);
  const size_t prefix = 4096 - 5 - (gcm12() ? 8 : 0);
  EXPECT_EQ(ExpectKnownBytesMatch(in, run.server_sent), prefix + 3);
  EXPECT_EQ(in.tail_bytes, 16384 - prefix);     // the first record's rest
  EXPECT_EQ(in.gap_bytes, (1u << 20) - 16384);  // the hidden records' plaintext, exactly
  EXPECT_EQ(in.gaps, 1u);
  EXPECT_EQ(in.unknown_length_gaps, 0u);
  ExpectPlaintext(h.sink.of(Direction::kEgress), run.client_sent);
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.desyncs, 1u);
  EXPECT_EQ(st.resyncs, 1u);
  EXPECT_EQ(st.records, ProtectedRecords(run, GetParam().version) - 63);
  EXPECT_EQ(st.records_partial, 1u);
  EXPECT_EQ(st.tag_failures, 0u);
}

TEST_P(TlsLoss, GapInsideARecordIsAPlaintextGapOfItsLength) {
  const TlsWireRun run = Run();
  size_t i;
  std::vector<Piece> pieces = PerRecord(run, 5000, i);
  // Bytes 1000-2499 of the record never seen; those after them still decrypt.
  const std::string record = pieces[i].bytes;
  pieces[i].bytes = record.substr(0, 1000);
  pieces.insert(pieces.begin() + i + 1,
                {Piece{Direction::kIngress, "", 0, 1500}, Piece{Direction::kIngress, record.substr(2500)}});
  const auto owned = Decryptor(run);
  Harness& h = *owned;
  FeedPieces(h.decryptor, pieces);
  h.decryptor.OnClose();
  const Received& in = h.sink.of(Direction::kIngress);
  EXPECT_EQ(ExpectKnownBytesMatch(in, run.server_sent), run.server_sent.size() - 1500);
  EXPECT_EQ(in.gap_bytes, 1500u);
  EXPECT_EQ(in.gaps, 1u);
  EXPECT_EQ(in.unknown_length_gaps, 0u);
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.records_partial, 1u);
  EXPECT_EQ(st.desyncs, 0u);
}

TEST_P(TlsLoss, RecordLostWholeResyncsWithTheExactGap) {
  const TlsWireRun run = Run();
  size_t i;
  std::vector<Piece> pieces = PerRecord(run, 5000, i);
  pieces[i] = Piece{Direction::kIngress, "", 0, pieces[i].bytes.size()};
  const auto owned = Decryptor(run);
  Harness& h = *owned;
  FeedPieces(h.decryptor, pieces);
  h.decryptor.OnClose();
  const Received& in = h.sink.of(Direction::kIngress);
  EXPECT_EQ(ExpectKnownBytesMatch(in, run.server_sent), 300u);
  EXPECT_EQ(in.gap_bytes, 5000u);
  EXPECT_EQ(in.gaps, 1u);
  EXPECT_EQ(in.unknown_length_gaps, 0u);
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.desyncs, 1u);
  EXPECT_EQ(st.resyncs, 1u);
}

TEST_P(TlsLoss, GapOfUnknownLengthResyncs) {
  const TlsWireRun run = Run();
  size_t i;
  std::vector<Piece> pieces = PerRecord(run, 5000, i);
  pieces[i] = Piece{Direction::kIngress, "", 0, 0, true};
  const auto owned = Decryptor(run);
  Harness& h = *owned;
  FeedPieces(h.decryptor, pieces);
  h.decryptor.OnClose();
  const Received& in = h.sink.of(Direction::kIngress);
  // The gap says nothing of its length: the 300 bytes after it follow at once.
  EXPECT_EQ(in.unknown_length_gaps, 1u);
  EXPECT_EQ(in.gap_bytes, 0u);
  EXPECT_TRUE(in.bytes == run.server_sent.substr(5000));
  EXPECT_EQ(h.decryptor.TakeStats().resyncs, 1u);
}

TEST_P(TlsLoss, TamperedRecordBecomesAGap) {
  const TlsWireRun run = Run();
  size_t i;
  std::vector<Piece> pieces = PerRecord(run, 5000, i);
  pieces[i].bytes[2000] ^= 1;
  const auto owned = Decryptor(run);
  Harness& h = *owned;
  FeedPieces(h.decryptor, pieces);
  h.decryptor.OnClose();
  const Received& in = h.sink.of(Direction::kIngress);
  EXPECT_EQ(ExpectKnownBytesMatch(in, run.server_sent), 300u);
  EXPECT_EQ(in.gap_bytes, 5000u);
  EXPECT_EQ(in.unknown_length_gaps, 0u);
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.tag_failures, 1u);
  EXPECT_EQ(st.desyncs, 1u);
  EXPECT_EQ(st.resyncs, 1u);
}

TEST_P(TlsLoss, GarbageAfterTheHandshakeEndsInDesync) {
  const TlsWireRun run = Run();
  const auto owned = Decryptor(run);
  Harness& h = *owned;
  const std::vector<Piece> pieces = Cut(run.chunks, Role::kClient);
  // The handshake and the request, then noise where the server's records should be.
  size_t n = 0;
  while (n < pieces.size() && !(pieces[n].dir == Direction::kEgress && n > 2)) ++n;
  FeedPieces(h.decryptor, std::vector<Piece>(pieces.begin(), pieces.begin() + n + 1));
  ASSERT_TRUE(h.decryptor.decrypting());
  // The first noise chunk loses the boundaries; the 64 after it (limits.max_resync_attempts) fail to take
  // the side up again.
  std::mt19937 rng(7);
  for (int i = 0; i <= 64; ++i) {
    std::string noise(1 + rng() % 3000, '\0');
    for (char& c : noise) c = char(rng());
    h.decryptor.consumer(Direction::kIngress).OnData(100000 + i, noise, rng() % 2 ? rng() % 5000 : 0);
    EXPECT_EQ(h.decryptor.untraced(), i < 64 ? TlsUntracedReason::kNone : TlsUntracedReason::kDesync) << i;
  }
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.desyncs, 1u);
  EXPECT_EQ(st.resyncs, 0u);
}

TEST(TlsLossTls13, KeyUpdateLostWithItsRecord) {
  // The client's KeyUpdate record never seen (a gap of its length): its next record only verifies with the
  // updated keys, which the decryptor derives as the KeyUpdate would have.
  TlsWire wire;
  const TlsWireRun run = wire.Run({Write(true, Pattern(700, 1)), testing::KeyUpdate(true, false),
                                   Write(true, Pattern(900, 2)), Write(false, Pattern(300, 3))});
  std::vector<Piece> pieces = Cut(run.chunks, Role::kClient, {.per_record = true});
  // The client's protected records: Finished, 700 bytes, the KeyUpdate (a 5-byte message), 900 bytes, alert.
  size_t i = 0;
  int seen = 0;
  for (; i < pieces.size(); ++i)
    if (pieces[i].dir == Direction::kEgress && pieces[i].bytes[0] == 23 && ++seen == 3) break;
  ASSERT_LT(i, pieces.size());
  ASSERT_EQ(pieces[i].bytes.size(), 5u + 5 + 17);
  pieces[i] = Piece{Direction::kEgress, "", 0, pieces[i].bytes.size()};
  Harness h(Role::kClient);
  AddKeyLog(h.store, run.client_keylog, 0);
  FeedPieces(h.decryptor, pieces);
  h.decryptor.OnClose();
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kNone);
  const Received& out = h.sink.of(Direction::kEgress);
  // No application byte was lost, but how many bytes the hidden record held is not known.
  EXPECT_TRUE(out.bytes == run.client_sent);
  EXPECT_EQ(out.unknown_length_gaps, 1u);
  EXPECT_EQ(out.gap_bytes, 0u);
  ExpectPlaintext(h.sink.of(Direction::kIngress), run.server_sent);
  const TlsDecryptorStats st = h.decryptor.TakeStats();
  EXPECT_EQ(st.key_updates, 1u);
  EXPECT_EQ(st.resyncs, 1u);
  EXPECT_EQ(st.desyncs, 1u);
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsLoss, ::testing::ValuesIn(kSuiteCases),
                         [](const ::testing::TestParamInfo<SuiteCase>& info) { return info.param.name; });

// A record of `type` around `body`.
std::string Record(uint8_t type, const std::string& body, uint16_t version = 0x0303) {
  return std::string{char(type), char(version >> 8), char(version), char(body.size() >> 8),
                     char(body.size())} +
         body;
}

std::string Handshake(uint8_t type, const std::string& body) {
  return std::string{char(type), char(body.size() >> 16), char(body.size() >> 8), char(body.size())} + body;
}

// A ClientHello offering TLS 1.3 with `extensions` (type, data) added.
std::string ClientHello(const std::string& extra_extensions) {
  std::string body = "\x03\x03" + std::string(32, '\x11') + std::string("\x00\x00\x02\x13\x01\x01\x00", 7);
  const std::string ext = std::string("\x00\x2b\x00\x03\x02\x03\x04", 7) + extra_extensions;
  body += std::string{char(ext.size() >> 8), char(ext.size())} + ext;
  return Record(22, Handshake(1, body), 0x0301);
}

TEST(TlsNotTls, FirstBytesTellWhatIsNotTraced) {
  struct Case {
    const char* name;
    std::string first;
    TlsUntracedReason reason;
  } cases[] = {
      {"plain HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", TlsUntracedReason::kNotTls},
      {"SSL 2 hello", std::string("\x80\x2e\x01\x03\x01", 5) + std::string(44, 'x'),
       TlsUntracedReason::kNotTls},
      {"application data first", Record(23, std::string(40, 'x')), TlsUntracedReason::kHandshakeNotSeen},
      {"a handshake record not a hello", Record(22, Handshake(11, std::string(20, 'x'))),
       TlsUntracedReason::kHandshakeNotSeen},
      {"a hello that does not parse", Record(22, Handshake(1, std::string(20, 'x'))),
       TlsUntracedReason::kNotTls},
      {"0-RTT offered", ClientHello(std::string("\x00\x2a\x00\x00", 4)), TlsUntracedReason::kEarlyData},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Harness h(Role::kClient);
    h.decryptor.consumer(Direction::kEgress).OnData(1000, c.first, 0);
    EXPECT_EQ(h.decryptor.untraced(), c.reason) << TlsUntracedReasonName(h.decryptor.untraced());
  }
}

TEST(TlsNotTls, OldVersionsAreNotDecrypted) {
  // TLS 1.1's ServerHello: legacy version 3.2, no supported_versions.
  const std::string sh = Record(
      22, Handshake(2, "\x03\x02" + std::string(32, '\x22') + std::string("\x00\xC0\x2F\x00", 4)), 0x0302);
  Harness h(Role::kClient);
  h.decryptor.consumer(Direction::kEgress).OnData(1000, ClientHello(""), 0);
  h.decryptor.consumer(Direction::kIngress).OnData(2000, sh, 0);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kUnsupportedVersion);
}

TEST(TlsNotTls, ServerHelloOnTheClientsSideIsNotThisConnection) {
  Harness h(Role::kServer);  // ingress is the client's: a ServerHello there means the role is not that
  h.decryptor.consumer(Direction::kIngress).OnData(1000, Record(22, Handshake(2, std::string(38, '\0'))), 0);
  EXPECT_EQ(h.decryptor.untraced(), TlsUntracedReason::kHandshakeNotSeen);
}

}  // namespace
}  // namespace l7tap::protocols
