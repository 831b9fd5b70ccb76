#include "protocols/http2_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "h2_wire.h"
#include "protocols/http2_frame.h"
#include "protocols/protocol_session.h"
#include "protocols/protocol_sniffer.h"

namespace l7tap::protocols {
namespace {

using testing::H2Exchange;
using testing::H2Options;
using testing::RunH2;
using testing::RunH2Rounds;
using testing::WireChunk;

struct Result {
  std::vector<HttpTransaction> transactions;
  Http2Stats stats;
};

// How the chunks reach the session: whole, cut in two at `split` (0: whole), and with only the first `copy`
// bytes of each copied (the rest an uncopied tail).
struct Feeding {
  size_t split = 0;
  size_t copy = SIZE_MAX;
  size_t first_chunk = 0;  // chunks before it are never seen (the capture began later)
};

Result Feed(const std::vector<WireChunk>& chunks, Role role, const Feeding& how = {}) {
  Result r;
  Http2Session session(
      role, [&](HttpTransaction&& t) { r.transactions.push_back(std::move(t)); }, how.first_chunk == 0);
  uint64_t ts = 1000;
  for (size_t i = how.first_chunk; i < chunks.size(); ++i) {
    const WireChunk& c = chunks[i];
    // The traced side writes its own bytes and reads the peer's.
    const bool mine = (role == Role::kClient) == c.from_client;
    const Direction dir = mine ? Direction::kEgress : Direction::kIngress;
    std::string_view bytes = c.bytes;
    std::vector<std::string_view> pieces;
    if (how.split && how.split < bytes.size()) {
      pieces = {bytes.substr(0, how.split), bytes.substr(how.split)};
    } else {
      pieces = {bytes};
    }
    for (std::string_view piece : pieces) {
      const size_t copied = std::min(piece.size(), how.copy);
      session.OnData(dir, ts, piece.substr(0, copied), piece.size() - copied);
      ts += 1000;
    }
  }
  session.OnClose();
  r.stats = session.TakeStats();
  return r;
}

std::vector<H2Exchange> Mixed(int n) {
  std::vector<H2Exchange> out;
  for (int i = 0; i < n; ++i) {
    H2Exchange e;
    e.path = "/items/" + std::to_string(i);
    e.request_headers = {{"user-agent", "curl/7.88.1"}, {"accept", "*/*"}};
    if (i % 3 == 1) {
      e.method = "POST";
      e.request_body = std::string(100 + i * 37, 'x');
      e.status = 201;
    } else if (i % 3 == 2) {
      e.status = 404;
      e.response_body = "not found\n";
    } else {
      e.response_body = std::string(500 + i * 11, 'b');
    }
    e.response_headers = {{"server", "nginx/1.22.1"}, {"content-type", "text/plain"}};
    out.push_back(e);
  }
  return out;
}

// Each exchange became exactly one complete transaction with its request's method and path and its status.
void ExpectExact(const Result& r, const std::vector<H2Exchange>& want, Role role) {
  ASSERT_EQ(r.transactions.size(), want.size());
  std::vector<const HttpTransaction*> by_path;
  for (const H2Exchange& e : want) {
    auto it = std::find_if(r.transactions.begin(), r.transactions.end(),
                           [&](const HttpTransaction& t) { return t.target == e.path; });
    ASSERT_NE(it, r.transactions.end()) << e.path;
    EXPECT_EQ(it->method, e.method) << e.path;
    EXPECT_EQ(it->status, e.status) << e.path;
    EXPECT_EQ(it->role, role);
    EXPECT_EQ(it->version, HttpVersion::k2);
    EXPECT_EQ(it->end, StreamEnd::kComplete) << e.path;
    EXPECT_LE(it->start_ns, it->end_ns);
    EXPECT_FALSE(it->grpc);
  }
  EXPECT_EQ(r.stats.header_state_lost, 0u);
  EXPECT_EQ(r.stats.header_blocks_failed, 0u);
  EXPECT_EQ(r.stats.desyncs, 0u);
  EXPECT_EQ(r.stats.protocol_errors, 0u);
  EXPECT_EQ(r.stats.streams_closed, 0u);
  EXPECT_EQ(r.stats.streams_lost, 0u);
}

TEST(Http2Session, ConcurrentStreamsOnOneConnectionBothSides) {
  const auto exchanges = Mixed(12);
  const auto chunks = RunH2(exchanges);
  ExpectExact(Feed(chunks, Role::kServer), exchanges, Role::kServer);
  ExpectExact(Feed(chunks, Role::kClient), exchanges, Role::kClient);
}

TEST(Http2Session, RoleComesFromThePrefaceWhenUnknown) {
  const auto exchanges = Mixed(3);
  const auto chunks = RunH2(exchanges);
  // Fed as a server sees them, without telling it.
  Result r;
  Http2Session s(
      Role::kUnknown, [&](HttpTransaction&& t) { r.transactions.push_back(std::move(t)); }, true);
  for (const WireChunk& c : chunks)
    s.OnData(c.from_client ? Direction::kIngress : Direction::kEgress, 1, c.bytes, 0);
  r.stats = s.TakeStats();
  EXPECT_EQ(s.role(), Role::kServer);
  ExpectExact(r, exchanges, Role::kServer);
}

TEST(Http2Session, EverySplitOffsetGivesTheSameTransactions) {
  const auto exchanges = Mixed(5);
  const auto chunks = RunH2(exchanges);
  size_t longest = 0;
  for (const WireChunk& c : chunks) longest = std::max(longest, c.bytes.size());
  for (size_t split = 1; split < longest; ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    ExpectExact(Feed(chunks, Role::kServer, {.split = split}), exchanges, Role::kServer);
    ExpectExact(Feed(chunks, Role::kClient, {.split = split}), exchanges, Role::kClient);
  }
}

TEST(Http2Session, OneByteAtATime) {
  const auto exchanges = Mixed(6);
  std::vector<WireChunk> bytes;
  for (const WireChunk& c : RunH2(exchanges))
    for (char ch : c.bytes) bytes.push_back({c.from_client, std::string(1, ch)});
  ExpectExact(Feed(bytes, Role::kServer), exchanges, Role::kServer);
}

TEST(Http2Session, PaddingAndContinuationFrames) {
  auto exchanges = Mixed(4);
  // 40 KiB of request headers: HEADERS plus CONTINUATION frames.
  exchanges[0].request_headers.push_back({"x-big", std::string(40 << 10, 'h')});
  exchanges[2].response_headers.push_back({"x-big", std::string(20 << 10, 'r')});
  const auto chunks = RunH2(exchanges, {.padding = 17});
  size_t continuations = 0;
  for (const WireChunk& c : chunks)
    if (c.bytes.size() >= 9 && c.bytes[3] == char(Http2FrameType::kContinuation)) ++continuations;
  EXPECT_GT(continuations, 0u) << "the test must produce CONTINUATION frames";
  ExpectExact(Feed(chunks, Role::kServer), exchanges, Role::kServer);
  ExpectExact(Feed(chunks, Role::kClient), exchanges, Role::kClient);
  ExpectExact(Feed(chunks, Role::kServer, {.split = 7}), exchanges, Role::kServer);
}

TEST(Http2Session, LargeTableAnnouncedBySettingsIsFollowed) {
  std::vector<std::vector<H2Exchange>> rounds;
  std::vector<H2Exchange> all;
  for (int r = 0; r < 4; ++r) {
    std::vector<H2Exchange> round = Mixed(5);
    for (size_t i = 0; i < round.size(); ++i) {
      round[i].path += "/r" + std::to_string(r);
      // Distinct big values: they only fit a table far beyond the 4096-byte default.
      round[i].request_headers.push_back({"x-session-" + std::to_string(i), std::string(900, char('a' + i))});
      all.push_back(round[i]);
    }
    rounds.push_back(round);
  }
  const auto chunks = RunH2Rounds(rounds, {.header_table_size = 65536});
  ExpectExact(Feed(chunks, Role::kServer), all, Role::kServer);
}

TEST(Http2Session, ResetStreamsAreCountedWithTheirEnd) {
  auto exchanges = Mixed(4);
  exchanges[1].reset = true;
  const auto chunks = RunH2(exchanges);
  for (Role role : {Role::kServer, Role::kClient}) {
    const Result r = Feed(chunks, role);
    ASSERT_EQ(r.transactions.size(), 4u);
    for (const HttpTransaction& t : r.transactions) {
      if (t.target == exchanges[1].path) {
        EXPECT_EQ(t.end, StreamEnd::kReset);
        EXPECT_EQ(t.status, 0);
      } else {
        EXPECT_EQ(t.end, StreamEnd::kComplete);
      }
    }
    EXPECT_EQ(r.stats.streams_reset, 1u);
  }
}

TEST(Http2Session, StreamsRefusedByGoawayAreCountedAsSuch) {
  const auto exchanges = Mixed(3);
  const auto chunks = RunH2(exchanges, {.goaway_after = true});
  for (Role role : {Role::kServer, Role::kClient}) {
    const Result r = Feed(chunks, role);
    ASSERT_EQ(r.transactions.size(), 3u);
    size_t goaway = 0;
    for (const HttpTransaction& t : r.transactions) {
      if (t.target == exchanges[0].path) {
        EXPECT_EQ(t.end, StreamEnd::kComplete);
        EXPECT_EQ(t.status, exchanges[0].status);
      } else {
        EXPECT_EQ(t.end, StreamEnd::kGoaway);
        ++goaway;
      }
    }
    EXPECT_EQ(goaway, 2u);
    EXPECT_EQ(r.stats.streams_goaway, 2u);
  }
}

TEST(Http2Session, InformationalResponsesAreNotTheStatus) {
  auto exchanges = Mixed(2);
  exchanges[0].informational = 103;
  const auto chunks = RunH2(exchanges);
  ExpectExact(Feed(chunks, Role::kServer), exchanges, Role::kServer);
}

TEST(Http2Session, GrpcStatusFromTrailersAndTrailersOnly) {
  std::vector<H2Exchange> calls(3);
  for (size_t i = 0; i < calls.size(); ++i) {
    H2Exchange& e = calls[i];
    e.method = "POST";
    e.path = i == 2 ? "/l7tap.test.Echo/ServerStream" : "/l7tap.test.Echo/Unary";
    e.request_headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
    e.request_body = std::string("\0\0\0\0\5hello", 10);
    e.response_headers = {{"content-type", "application/grpc"}};
  }
  calls[0].response_body = std::string("\0\0\0\0\5hello", 10);
  calls[0].trailers = {{"grpc-status", "0"}};
  calls[1].trailers_only = true;
  calls[1].trailers = {{"grpc-status", "5"}, {"grpc-message", "not found"}};
  calls[2].response_body = std::string(3 * 10, 'm');
  calls[2].trailers = {{"grpc-status", "3"}};
  const auto chunks = RunH2(calls);
  for (Role role : {Role::kServer, Role::kClient}) {
    const Result r = Feed(chunks, role);
    ASSERT_EQ(r.transactions.size(), 3u);
    std::vector<int> statuses;
    for (const HttpTransaction& t : r.transactions) {
      EXPECT_TRUE(t.grpc);
      EXPECT_EQ(t.status, 200);
      statuses.push_back(t.grpc_status);
    }
    std::sort(statuses.begin(), statuses.end());
    EXPECT_EQ(statuses, (std::vector<int>{0, 3, 5}));
  }
}

TEST(Http2Session, SeenMidwayLaterStreamsAreCountedWithWhatDecodes) {
  // Round 1 fills both tables; the capture begins with round 2, whose requests reuse round 1's entries.
  const std::vector<std::vector<H2Exchange>> rounds = {Mixed(4), Mixed(4)};
  const auto chunks = RunH2Rounds(rounds);
  size_t round2 = 0;  // the first chunk written after round 1 completed: the client's next HEADERS
  {
    const auto first = RunH2Rounds({rounds[0]});
    round2 = first.size();
  }
  ASSERT_LT(round2, chunks.size());
  for (Role role : {Role::kServer, Role::kClient}) {
    const Result r = Feed(chunks, role, {.first_chunk = round2});
    ASSERT_EQ(r.transactions.size(), rounds[1].size());
    EXPECT_EQ(r.stats.header_state_lost, 2u);  // one per direction
    // Round 2 repeats round 1's fields: some refer to entries from before the capture.
    EXPECT_GT(r.stats.header_blocks_failed, 0u);
    // 200 and 404 are static-table entries and always decode; 201 was indexed in round 1, so round 2 refers
    // to an entry from before the capture and it stays unknown (0).
    size_t statuses = 0, static_statuses = 0;
    for (const HttpTransaction& t : r.transactions) statuses += t.status != 0;
    for (const H2Exchange& e : rounds[1]) static_statuses += e.status == 200 || e.status == 404;
    EXPECT_EQ(statuses, static_statuses);
    for (const HttpTransaction& t : r.transactions) {
      // What decodes is right; what does not is empty, never another stream's value.
      const auto it = std::find_if(rounds[1].begin(), rounds[1].end(),
                                   [&](const H2Exchange& e) { return e.path == t.target; });
      if (!t.target.empty()) {
        EXPECT_NE(it, rounds[1].end()) << t.target;
      }
      if (!t.method.empty()) {
        EXPECT_TRUE(t.method == "GET" || t.method == "POST");
      }
      EXPECT_TRUE(t.status == 0 || t.status == 200 || t.status == 201 || t.status == 404) << t.status;
      EXPECT_EQ(t.end, StreamEnd::kComplete);
    }
  }
}

TEST(Http2Session, GapInsideDataLosesNothing) {
  const auto exchanges = Mixed(6);
  const auto chunks = RunH2(exchanges);
  // Every chunk of server DATA (frames with a body) copied for its first 20 bytes only: the frame header and
  // a little payload, the rest skipped by length.
  ExpectExact(Feed(chunks, Role::kServer, {.copy = 64}), exchanges, Role::kServer);
}

TEST(Http2Session, GapInsideHeadersLosesStateNotStreams) {
  const auto exchanges = Mixed(6);
  auto chunks = RunH2(exchanges);
  // Find the third client HEADERS frame and report its block as lost (as an uncopied tail after 12 bytes).
  Result r;
  Http2Session s(
      Role::kServer, [&](HttpTransaction&& t) { r.transactions.push_back(std::move(t)); }, true);
  int headers = 0;
  for (const WireChunk& c : chunks) {
    const Direction dir = c.from_client ? Direction::kIngress : Direction::kEgress;
    if (c.from_client && c.bytes.size() > 12 && c.bytes[3] == char(Http2FrameType::kHeaders) &&
        ++headers == 3) {
      s.OnData(dir, 5, std::string_view(c.bytes).substr(0, 12), c.bytes.size() - 12);
      continue;
    }
    s.OnData(dir, 5, c.bytes, 0);
  }
  s.OnClose();
  r.stats = s.TakeStats();
  ASSERT_EQ(headers >= 3, true) << "the client must write separate HEADERS frames";
  EXPECT_EQ(r.transactions.size(), exchanges.size());
  EXPECT_GE(r.stats.header_state_lost, 1u);
  for (const HttpTransaction& t : r.transactions) EXPECT_EQ(t.end, StreamEnd::kComplete);
}

TEST(Http2Session, FrameHeaderInAnUncopiedTailResynchronisesAtTheNextChunk) {
  const auto exchanges = Mixed(8);
  const auto chunks = RunH2(exchanges);
  // All of the server's bytes in one buffer copied for 100 bytes: frame boundaries past it are lost; the
  // next chunks (the client's) are unaffected, and the session does not stall or crash.
  std::vector<WireChunk> merged;
  std::string server;
  for (const WireChunk& c : chunks) {
    if (c.from_client) {
      if (!server.empty()) merged.push_back({false, std::exchange(server, {})});
      merged.push_back(c);
    } else {
      server += c.bytes;
    }
  }
  if (!server.empty()) merged.push_back({false, server});
  const Result r = Feed(merged, Role::kServer, {.copy = 100});
  EXPECT_GE(r.stats.desyncs, 1u);
  EXPECT_LE(r.transactions.size() + r.stats.streams_lost, exchanges.size());
  EXPECT_EQ(r.transactions.size() + r.stats.streams_lost + r.stats.streams_closed, exchanges.size() - 0);
}

TEST(Http2Session, BytesThatAreNotHttp2StopTheSession) {
  Result r;
  Http2Session s(
      Role::kServer, [&](HttpTransaction&& t) { r.transactions.push_back(std::move(t)); }, true);
  s.OnData(Direction::kIngress, 1, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0);
  // A CONTINUATION without a block.
  s.OnData(Direction::kIngress, 2, std::string("\0\0\1\x09\x04\0\0\0\1x", 10), 0);
  EXPECT_TRUE(s.failed());
  EXPECT_EQ(s.TakeStats().protocol_errors, 1u);
}

// Through the interface, as the tracker switches sessions.
struct Collector final : TransactionSink {
  void OnHttp(HttpTransaction&& t) override { transactions.push_back(std::move(t)); }
  void OnDns(DnsTransaction&&) override {}
  std::vector<HttpTransaction> transactions;
};

TEST(Http2Session, UpgradeFromHttp1ToH2cKeepsTheUpgradedRequest) {
  H2Exchange first;
  first.path = "/upgraded";
  first.response_body = "hello\n";
  const auto more = Mixed(3);
  const auto chunks = testing::RunH2cUpgrade(first, more);
  for (Role role : {Role::kServer, Role::kClient}) {
    Collector sink;
    std::unique_ptr<ProtocolSession> session = MakeHttp1Session(role, sink);
    for (const WireChunk& c : chunks) {
      const Direction dir =
          (role == Role::kClient) == c.from_client ? Direction::kEgress : Direction::kIngress;
      session->consumer(dir).OnData(1000, c.bytes, 0);
      if (session->status() == SessionStatus::kHandOver) {
        Http2HandOver h = session->TakeHandOver();
        session = MakeHttp2Session(h.request.role, sink, true, &h);
      }
    }
    session->OnClose();
    ASSERT_EQ(std::string(session->name()), "http2");
    ProtocolStats stats;
    session->TakeStats(stats);
    EXPECT_EQ(stats.http2.protocol_errors, 0u);
    std::vector<H2Exchange> all = {first};
    all.insert(all.end(), more.begin(), more.end());
    ASSERT_EQ(sink.transactions.size(), all.size());
    for (const H2Exchange& e : all) {
      const auto it = std::find_if(sink.transactions.begin(), sink.transactions.end(),
                                   [&](const HttpTransaction& t) { return t.target == e.path; });
      ASSERT_NE(it, sink.transactions.end()) << e.path;
      EXPECT_EQ(it->status, e.status);
      EXPECT_EQ(it->method, e.method);
      EXPECT_EQ(it->role, role);
      EXPECT_EQ(it->end, StreamEnd::kComplete);
    }
  }
}

TEST(ProtocolSniffer, PrefaceAndFramesAreHttp2TextIsHttp1) {
  const auto chunks = RunH2(Mixed(2));
  EXPECT_EQ(SniffStream(chunks[0].bytes), StreamProtocol::kHttp2);  // the client's preface
  for (const WireChunk& c : chunks)
    if (!c.from_client) {
      EXPECT_EQ(SniffStream(c.bytes), StreamProtocol::kHttp2);  // server SETTINGS first
    }
  EXPECT_EQ(SniffStream("PRI"), StreamProtocol::kHttp2);
  EXPECT_EQ(SniffStream("GET / HTTP/1.1\r\n"), StreamProtocol::kHttp1);
  EXPECT_EQ(SniffStream("HTTP/1.1 200 OK\r\n"), StreamProtocol::kHttp1);
  EXPECT_EQ(SniffStream(std::string("\0\0\0\0\0\0\0\0", 8)), StreamProtocol::kHttp1);  // too short to tell
  EXPECT_EQ(SniffStream(std::string("\0\0\4\x07\0\0\0\0\1", 9)), StreamProtocol::kHttp1);  // GOAWAY too short
}

}  // namespace
}  // namespace l7tap::protocols
