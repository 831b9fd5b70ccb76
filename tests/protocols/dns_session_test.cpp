#include "protocols/dns_session.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns_wire.h"
#include "protocols/stream_reassembler.h"

namespace l7tap::protocols {
namespace {

using testing::Bytes;
using testing::Framed;
using testing::kNoError;
using testing::kNxDomain;
using testing::kServFail;
using testing::kTypeA;
using testing::kTypeAaaa;
using testing::Query;
using testing::Response;

constexpr Direction kIn = Direction::kIngress;
constexpr Direction kOut = Direction::kEgress;

const std::string kA = "example.com. 300 IN A 93.184.216.34";
const std::string kAaaa = "example.com. 300 IN AAAA 2606:2800:220:1:248:1893:25c8:1946";

// One socket with the transactions it produced.
struct Socket {
  Socket() : session([this](DnsTransaction&& t) { txns.push_back(std::move(t)); }) {}
  void Udp(Direction dir, uint64_t ts, const Bytes& b, const DatagramPeer& peer = {}) {
    session.OnDatagram(dir, ts, b, static_cast<uint32_t>(b.size()), peer);
  }
  std::vector<DnsTransaction> txns;
  DnsSession session;
};

void ExpectTxn(const DnsTransaction& t, Role role, Transport transport, uint64_t start, uint64_t end,
               std::string_view name, uint16_t type, uint8_t rcode, bool truncated = false) {
  EXPECT_EQ(t.role, role);
  EXPECT_EQ(t.transport, transport);
  EXPECT_EQ(t.start_ns, start);
  EXPECT_EQ(t.end_ns, end);
  EXPECT_EQ(t.name, name);
  EXPECT_EQ(t.type, type);
  EXPECT_EQ(t.rcode, rcode);
  EXPECT_EQ(t.truncated, truncated);
}

void ExpectStats(const DnsStats& s, uint64_t unanswered, uint64_t unmatched, uint64_t malformed,
                 uint64_t retransmits = 0, uint64_t stream_gaps = 0, uint64_t truncated_captures = 0) {
  EXPECT_EQ(s.unanswered, unanswered);
  EXPECT_EQ(s.unmatched_responses, unmatched);
  EXPECT_EQ(s.malformed, malformed);
  EXPECT_EQ(s.retransmits, retransmits);
  EXPECT_EQ(s.stream_gaps, stream_gaps);
  EXPECT_EQ(s.truncated_captures, truncated_captures);
}

TEST(DnsSession, ClientUdpQueryAndAnswer) {
  Socket s;
  s.Udp(kOut, 1000, Query("Example.com.", kTypeA, 0x1a2b));
  EXPECT_EQ(s.session.pending(), 1u);
  s.Udp(kIn, 1500, Response("example.COM.", kTypeA, 0x1a2b, kNoError, {kA}));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 1000, 1500, "example.com", kTypeA, kNoError);
  EXPECT_EQ(s.session.pending(), 0u);
  ExpectStats(s.session.stats(), 0, 0, 0);
}

TEST(DnsSession, ServerRole) {
  Socket s;
  s.Udp(kIn, 100, Query("nope.example.", kTypeAaaa, 77));
  s.Udp(kOut, 350, Response("nope.example.", kTypeAaaa, 77, kNxDomain));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kServer, Transport::kUdp, 100, 350, "nope.example", kTypeAaaa, kNxDomain);
  ExpectStats(s.session.stats(), 0, 0, 0);
}

TEST(DnsSession, AAndAaaaAnsweredInReverseOrder) {
  for (const uint16_t aaaa_id : {0x4242, 0x4243}) {  // glibc: same id possible, different ids usual
    SCOPED_TRACE(aaaa_id);
    Socket s;
    s.Udp(kOut, 10, Query("example.com.", kTypeA, 0x4242));
    s.Udp(kOut, 11, Query("example.com.", kTypeAaaa, aaaa_id));
    s.Udp(kIn, 20, Response("example.com.", kTypeAaaa, aaaa_id, kNoError, {kAaaa}));
    s.Udp(kIn, 25, Response("example.com.", kTypeA, 0x4242, kNoError, {kA}));
    ASSERT_EQ(s.txns.size(), 2u);
    ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 11, 20, "example.com", kTypeAaaa, kNoError);
    ExpectTxn(s.txns[1], Role::kClient, Transport::kUdp, 10, 25, "example.com", kTypeA, kNoError);
    ExpectStats(s.session.stats(), 0, 0, 0);
  }
}

TEST(DnsSession, SameIdDifferentQuestionNotMatched) {
  Socket s;
  s.Udp(kOut, 10, Query("example.com.", kTypeA, 9));
  s.Udp(kIn, 20, Response("example.net.", kTypeA, 9, kNoError));         // other name
  s.Udp(kIn, 21, Response("example.com.", kTypeAaaa, 9, kNoError));      // other type
  s.Udp(kIn, 22, Response("example.com.", kTypeA, 10, kNoError, {kA}));  // other id
  EXPECT_TRUE(s.txns.empty());
  EXPECT_EQ(s.session.pending(), 1u);
  ExpectStats(s.session.stats(), 0, 3, 0);
  s.Udp(kIn, 30, Response("example.com.", kTypeA, 9, kServFail));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 10, 30, "example.com", kTypeA, kServFail);
}

TEST(DnsSession, ResponseMustTravelTheOtherWay) {
  Socket s;
  s.Udp(kOut, 10, Query("example.com.", kTypeA, 9));
  s.Udp(kOut, 20, Response("example.com.", kTypeA, 9, kNoError, {kA}));  // written, not read: not its answer
  EXPECT_TRUE(s.txns.empty());
  ExpectStats(s.session.stats(), 0, 1, 0);
}

TEST(DnsSession, ResponseWithoutQueryIsUnmatched) {
  Socket s;
  s.Udp(kIn, 20, Response("example.com.", kTypeA, 1, kNoError, {kA}));
  EXPECT_TRUE(s.txns.empty());
  ExpectStats(s.session.stats(), 0, 1, 0);
}

TEST(DnsSession, ExpireGivesUpOldQueries) {
  Socket s;
  s.Udp(kOut, 0, Query("a.example.", kTypeA, 1));
  s.Udp(kOut, 100, Query("b.example.", kTypeA, 2));
  s.Udp(kOut, 200, Query("c.example.", kTypeA, 3));
  s.session.Expire(250, 100);  // ages 250, 150, 50: the first two are older than 100
  EXPECT_EQ(s.session.pending(), 1u);
  ExpectStats(s.session.stats(), 2, 0, 0);
  s.session.Expire(300, 100);  // age exactly 100: not older
  EXPECT_EQ(s.session.pending(), 1u);
  s.Udp(kIn, 310, Response("a.example.", kTypeA, 1, kNoError));  // too late
  s.Udp(kIn, 320, Response("c.example.", kTypeA, 3, kNoError));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 200, 320, "c.example", kTypeA, kNoError);
  s.session.Close();
  ExpectStats(s.session.stats(), 2, 1, 0);
}

TEST(DnsSession, CloseGivesUpEveryPendingQuery) {
  Socket s;
  s.Udp(kOut, 1, Query("a.example.", kTypeA, 1));
  s.Udp(kOut, 2, Query("a.example.", kTypeAaaa, 2));
  s.Udp(kIn, 3, Query("served.example.", kTypeA, 3));
  s.session.Close();
  EXPECT_EQ(s.session.pending(), 0u);
  ExpectStats(s.session.stats(), 3, 0, 0);
  s.session.Close();
  ExpectStats(s.session.stats(), 3, 0, 0);
  EXPECT_TRUE(s.txns.empty());
}

TEST(DnsSession, RetransmissionKeepsTheFirstSend) {
  Socket s;
  const Bytes q = Query("slow.example.", kTypeA, 5);
  s.Udp(kOut, 10, q);
  s.Udp(kOut, 1010, q);
  s.Udp(kIn, 1200, Response("slow.example.", kTypeA, 5, kNoError));
  s.Udp(kIn, 1300, Response("slow.example.", kTypeA, 5, kNoError));  // answer to the retry
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 10, 1200, "slow.example", kTypeA, kNoError);
  ExpectStats(s.session.stats(), 0, 1, 0, /*retransmits=*/1);
}

TEST(DnsSession, MalformedDatagramsAreCounted) {
  Socket s;
  s.Udp(kOut, 1, Bytes{1, 2, 3});
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  s.Udp(kIn, 2, Bytes(http.begin(), http.end()));
  s.Udp(kOut, 3, Query("fine.example.", kTypeA, 1));
  s.Udp(kIn, 4, Response("fine.example.", kTypeA, 1, kNoError));
  EXPECT_EQ(s.txns.size(), 1u);
  ExpectStats(s.session.stats(), 0, 0, 2);
}

TEST(DnsSession, CutDatagramIsReadForItsQuestion) {
  Socket s;
  s.Udp(kOut, 1, Query("example.com.", kTypeA, 1));
  const Bytes full = Response("example.com.", kTypeA, 1, kNoError, {kA, kA, kA});
  s.session.OnDatagram(kIn, 2, std::span(full).first(40), static_cast<uint32_t>(full.size()));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 1, 2, "example.com", kTypeA, kNoError);
  // Cut inside the header: nothing can be read.
  s.session.OnDatagram(kIn, 3, std::span(full).first(8), static_cast<uint32_t>(full.size()));
  ExpectStats(s.session.stats(), 0, 0, 0, 0, 0, /*truncated_captures=*/1);
}

TEST(DnsSession, TruncatedAnswerReported) {
  Socket udp;
  udp.Udp(kOut, 1, Query("big.example.", kTypeA, 8));
  udp.Udp(kIn, 2, Response("big.example.", kTypeA, 8, kNoError, {}, {}, /*truncated=*/true));
  ASSERT_EQ(udp.txns.size(), 1u);
  ExpectTxn(udp.txns[0], Role::kClient, Transport::kUdp, 1, 2, "big.example", kTypeA, kNoError, true);
  // The retry over TCP is its own socket and its own transaction.
  Socket tcp;
  tcp.session.OnStream(kOut, 3, Framed(Query("big.example.", kTypeA, 9)));
  tcp.session.OnStream(kIn, 4, Framed(Response("big.example.", kTypeA, 9, kNoError, {kA})));
  ASSERT_EQ(tcp.txns.size(), 1u);
  ExpectTxn(tcp.txns[0], Role::kClient, Transport::kTcp, 3, 4, "big.example", kTypeA, kNoError, false);
}

TEST(DnsSession, PendingQueriesAreBounded) {
  Socket s;
  for (uint16_t id = 0; id <= DnsSession::kMaxPending; ++id) s.Udp(kOut, id, Query("x.example.", kTypeA, id));
  EXPECT_EQ(s.session.pending(), DnsSession::kMaxPending);
  ExpectStats(s.session.stats(), 1, 0, 0);
  s.Udp(kIn, 5000, Response("x.example.", kTypeA, 0, kNoError));  // the oldest was given up
  s.Udp(kIn, 5001, Response("x.example.", kTypeA, 1, kNoError));
  ASSERT_EQ(s.txns.size(), 1u);
  EXPECT_EQ(s.txns[0].start_ns, 1u);
  ExpectStats(s.session.stats(), 1, 1, 0);
}

// Many sockets share one node-wide budget: past it a socket gives up its own oldest query, and one with
// none to give up does not follow the new one; both are counted, and the budget is released with sessions.
TEST(DnsSession, PendingQueriesShareANodeWideBudget) {
  DnsPendingBudget budget;
  budget.capacity = 3;
  std::vector<DnsTransaction> txns;
  auto sink = [&](DnsTransaction&& t) { txns.push_back(std::move(t)); };
  auto a = std::make_unique<DnsSession>(sink, &budget);
  DnsSession b(sink, &budget);
  auto udp = [](DnsSession& s, Direction dir, uint64_t ts, const Bytes& m) {
    s.OnDatagram(dir, ts, m, static_cast<uint32_t>(m.size()));
  };
  udp(*a, kOut, 1, Query("a1.example.", kTypeA, 1));
  udp(*a, kOut, 2, Query("a2.example.", kTypeA, 2));
  udp(*a, kOut, 3, Query("a3.example.", kTypeA, 3));
  EXPECT_EQ(budget.used, 3u);
  udp(b, kOut, 4, Query("b1.example.", kTypeA, 4));  // b holds none to give up: not followed
  EXPECT_EQ(budget.refused, 1u);
  udp(*a, kOut, 5, Query("a4.example.", kTypeA, 5));  // a gives up its oldest, a1
  EXPECT_EQ(budget.evicted, 1u);
  EXPECT_EQ(budget.used, 3u);
  udp(*a, kIn, 6, Response("a4.example.", kTypeA, 5, kNoError));
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(budget.used, 2u);
  ExpectStats(a->stats(), 1, 0, 0);
  ExpectStats(b.stats(), 1, 0, 0);
  a.reset();  // its two pending queries leave the budget with it
  EXPECT_EQ(budget.used, 0u);
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

TEST(DnsSession, TcpTwoQueriesOneWriteAnswersSplitAnywhere) {
  const Bytes queries =
      Concat(Framed(Query("example.com.", kTypeA, 1)), Framed(Query("example.com.", kTypeAaaa, 2)));
  const Bytes first = Framed(Response("example.com.", kTypeA, 1, kNoError, {kA}));
  const Bytes answers = Concat(first, Framed(Response("example.com.", kTypeAaaa, 2, kNoError, {kAaaa})));
  for (size_t split = 0; split <= answers.size(); ++split) {
    SCOPED_TRACE(split);
    Socket s;
    s.session.OnStream(kOut, 100, queries);
    s.session.OnStream(kIn, 200, std::span(answers).first(split));
    s.session.OnStream(kIn, 300, std::span(answers).subspan(split));
    ASSERT_EQ(s.txns.size(), 2u);
    ExpectTxn(s.txns[0], Role::kClient, Transport::kTcp, 100, split >= first.size() ? 200 : 300,
              "example.com", kTypeA, kNoError);
    ExpectTxn(s.txns[1], Role::kClient, Transport::kTcp, 100, split == answers.size() ? 200 : 300,
              "example.com", kTypeAaaa, kNoError);
    EXPECT_EQ(s.session.pending(), 0u);
    ExpectStats(s.session.stats(), 0, 0, 0);
  }
}

TEST(DnsSession, TcpByteAtATimeServer) {
  const Bytes query = Framed(Query("served.example.", kTypeA, 3));
  const Bytes answer = Framed(Response("served.example.", kTypeA, 3, kNoError, {kA}));
  Socket s;
  for (size_t i = 0; i < query.size(); ++i) s.session.OnStream(kIn, 1000 + i, std::span(query).subspan(i, 1));
  for (size_t i = 0; i < answer.size(); ++i)
    s.session.OnStream(kOut, 5000 + i, std::span(answer).subspan(i, 1));
  ASSERT_EQ(s.txns.size(), 1u);
  // Server: first query byte read to last answer byte written.
  ExpectTxn(s.txns[0], Role::kServer, Transport::kTcp, 1000, 5000 + answer.size() - 1, "served.example",
            kTypeA, kNoError);
}

TEST(DnsSession, TcpGapAbandonsThatDirection) {
  Socket s;
  s.session.OnStream(kOut, 1, Framed(Query("a.example.", kTypeA, 1)));
  const Bytes answer = Framed(Response("a.example.", kTypeA, 1, kNoError, {kA}));
  s.session.OnStream(kIn, 2, std::span(answer).first(10));
  s.session.OnStreamGap(kIn);
  s.session.OnStream(kIn, 3, answer);  // framing unknown after the gap: ignored
  EXPECT_TRUE(s.txns.empty());
  ExpectStats(s.session.stats(), 0, 0, 0, 0, /*stream_gaps=*/1);
  // The other direction is unaffected.
  s.session.OnStream(kOut, 4, Framed(Query("b.example.", kTypeA, 2)));
  EXPECT_EQ(s.session.pending(), 2u);
  s.session.Close();
  ExpectStats(s.session.stats(), 2, 0, 0, 0, 1);
}

TEST(DnsSession, TcpUncopiedBytesInsideAMessageOnlyCutIt) {
  Socket s;
  s.session.OnStream(kOut, 1,
                     Concat(Framed(Query("a.example.", kTypeA, 1)), Framed(Query("b.example.", kTypeA, 2))));
  const Bytes first = Framed(Response("a.example.", kTypeA, 1, kNoError, {kA, kA, kA, kA}));
  const Bytes second = Framed(Response("b.example.", kTypeA, 2, kNoError, {kA}));
  // 40 bytes of the first answer captured, the rest of it uncopied; then the second answer whole.
  s.session.OnStream(kIn, 2, std::span(first).first(40), first.size() - 40);
  s.session.OnStream(kIn, 3, second);
  ASSERT_EQ(s.txns.size(), 2u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kTcp, 1, 2, "a.example", kTypeA, kNoError);
  ExpectTxn(s.txns[1], Role::kClient, Transport::kTcp, 1, 3, "b.example", kTypeA, kNoError);
  ExpectStats(s.session.stats(), 0, 0, 0);
}

TEST(DnsSession, TcpUncopiedLengthPrefixLosesFraming) {
  Socket s;
  s.session.OnStream(kOut, 1,
                     Concat(Framed(Query("a.example.", kTypeA, 1)), Framed(Query("b.example.", kTypeA, 2))));
  const Bytes first = Framed(Response("a.example.", kTypeA, 1, kNoError, {kA}));
  const Bytes second = Framed(Response("b.example.", kTypeA, 2, kNoError, {kA}));
  // The first answer is cut, and the uncopied bytes run into the second answer's length prefix.
  s.session.OnStream(kIn, 2, std::span(first).first(40), first.size() - 40 + 1);
  s.session.OnStream(kIn, 3, std::span(second).subspan(1));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kTcp, 1, 2, "a.example", kTypeA, kNoError);
  ExpectStats(s.session.stats(), 0, 0, 0, 0, /*stream_gaps=*/1);
}

TEST(DnsSession, FedByStreamReassemblers) {
  Socket s;
  StreamReassembler out_stream;
  StreamReassembler in_stream;
  const Bytes query = Framed(Query("example.com.", kTypeA, 1));
  const Bytes answer = Framed(Response("example.com.", kTypeA, 1, kNoError, {kA}));
  auto view = [](const Bytes& b, size_t from, size_t n) {
    return std::string_view(reinterpret_cast<const char*>(b.data()) + from, n);
  };
  out_stream.Push(0, 10, view(query, 0, query.size()), query.size(), s.session.consumer(kOut));
  // The answer's two halves arrive out of order.
  const size_t half = answer.size() / 2;
  in_stream.Push(0, 20, view(answer, 0, 2), 2, s.session.consumer(kIn));  // sets the stream start
  in_stream.Push(half, 30, view(answer, half, answer.size() - half), answer.size() - half,
                 s.session.consumer(kIn));
  EXPECT_TRUE(s.txns.empty());
  in_stream.Push(2, 25, view(answer, 2, half - 2), half - 2, s.session.consumer(kIn));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kTcp, 10, 30, "example.com", kTypeA, kNoError);
  // A hole the reassembler gives up on is a gap.
  StreamReassembler lossy(1);
  lossy.Push(0, 40, view(query, 0, 5), 5, s.session.consumer(kOut));
  lossy.Push(10, 41, view(query, 10, 1), 1, s.session.consumer(kOut));
  lossy.Push(12, 42, view(query, 12, 1), 1, s.session.consumer(kOut));
  EXPECT_EQ(s.session.stats().stream_gaps, 1u);
}

DatagramPeer V4(uint8_t last, uint16_t port) {
  DatagramPeer p{.family = 4, .port = port};
  p.addr[0] = 127;
  p.addr[3] = last;
  return p;
}

DatagramPeer V6Loopback(uint16_t port) {
  DatagramPeer p{.family = 6, .port = port};
  p.addr[15] = 1;
  return p;
}

// One unconnected socket asks two servers the same question with the same id (musl asks every nameserver at
// once): each answer pairs with the query sent to its sender, whatever the order.
TEST(DnsSession, UnconnectedClientPairsByServer) {
  Socket s;
  const DatagramPeer a = V4(1, 53), b = V6Loopback(53);
  s.Udp(kOut, 100, Query("a.test.", kTypeA, 7), a);
  s.Udp(kOut, 110, Query("a.test.", kTypeA, 7), b);  // not a retransmit: another server
  EXPECT_EQ(s.session.pending(), 2u);
  s.Udp(kIn, 300, Response("a.test.", kTypeA, 7, kNxDomain), b);
  s.Udp(kIn, 400, Response("a.test.", kTypeA, 7, kNoError), a);
  ASSERT_EQ(s.txns.size(), 2u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 110, 300, "a.test", kTypeA, kNxDomain);
  EXPECT_EQ(s.txns[0].peer, b);
  ExpectTxn(s.txns[1], Role::kClient, Transport::kUdp, 100, 400, "a.test", kTypeA, kNoError);
  EXPECT_EQ(s.txns[1].peer, a);
  ExpectStats(s.session.stats(), 0, 0, 0);
}

// An answer from a server that was not asked (same id and question: spoofed, or a stray reply) pairs with
// nothing; the query stays pending for its own server's answer.
TEST(DnsSession, AnswerFromAnotherPeerDoesNotPair) {
  Socket s;
  s.Udp(kOut, 100, Query("a.test.", kTypeA, 9), V4(1, 53));
  s.Udp(kIn, 200, Response("a.test.", kTypeA, 9, kNoError), V4(2, 53));
  s.Udp(kIn, 210, Response("a.test.", kTypeA, 9, kNoError), V4(1, 5353));  // same address, another port
  EXPECT_TRUE(s.txns.empty());
  EXPECT_EQ(s.session.pending(), 1u);
  s.Udp(kIn, 300, Response("a.test.", kTypeA, 9, kNoError), V4(1, 53));
  ASSERT_EQ(s.txns.size(), 1u);
  ExpectTxn(s.txns[0], Role::kClient, Transport::kUdp, 100, 300, "a.test", kTypeA, kNoError);
  ExpectStats(s.session.stats(), 0, 2, 0);
}

// A connected socket whose peer is not known (its open was lost) sends without an address; the answer read
// with recvfrom names its server, and still pairs.
TEST(DnsSession, QueryWithoutPeerPairsWithAnAnswerNamingOne) {
  Socket s;
  s.Udp(kOut, 100, Query("a.test.", kTypeA, 4));
  s.Udp(kIn, 200, Response("a.test.", kTypeA, 4, kNoError), V4(1, 53));
  ASSERT_EQ(s.txns.size(), 1u);
  EXPECT_EQ(s.txns[0].peer, V4(1, 53));
  ExpectStats(s.session.stats(), 0, 0, 0);
}

// A server answering many clients on one socket: clients that chose the same id and question each get their
// own transaction, with their address as the peer.
TEST(DnsSession, ServerPairsByClient) {
  Socket s;
  const DatagramPeer c1 = V4(1, 40001), c2 = V4(1, 40002), c3 = V6Loopback(40001);
  s.Udp(kIn, 10, Query("b.test.", kTypeAaaa, 1), c1);
  s.Udp(kIn, 11, Query("b.test.", kTypeAaaa, 1), c2);
  s.Udp(kIn, 12, Query("b.test.", kTypeAaaa, 1), c3);
  s.Udp(kIn, 13, Query("b.test.", kTypeAaaa, 1), c2);  // c2 asks again while pending: its retransmit
  s.Udp(kOut, 20, Response("b.test.", kTypeAaaa, 1, kNoError), c3);
  s.Udp(kOut, 21, Response("b.test.", kTypeAaaa, 1, kNoError), c1);
  s.Udp(kOut, 22, Response("b.test.", kTypeAaaa, 1, kNoError), c2);
  ASSERT_EQ(s.txns.size(), 3u);
  EXPECT_EQ(s.txns[0].peer, c3);
  ExpectTxn(s.txns[0], Role::kServer, Transport::kUdp, 12, 20, "b.test", kTypeAaaa, kNoError);
  EXPECT_EQ(s.txns[1].peer, c1);
  ExpectTxn(s.txns[1], Role::kServer, Transport::kUdp, 10, 21, "b.test", kTypeAaaa, kNoError);
  EXPECT_EQ(s.txns[2].peer, c2);
  ExpectTxn(s.txns[2], Role::kServer, Transport::kUdp, 11, 22, "b.test", kTypeAaaa, kNoError);
  ExpectStats(s.session.stats(), 0, 0, 0, 1);
}

// The per-socket bound holds whatever the peers: past kMaxPending the oldest query is given up, counted
// unanswered and in the node-wide budget's evictions.
TEST(DnsSession, ManyPeersStayBounded) {
  DnsPendingBudget budget;
  std::vector<DnsTransaction> txns;
  DnsSession session([&](DnsTransaction&& t) { txns.push_back(std::move(t)); }, &budget);
  const size_t n = DnsSession::kMaxPending + 5;
  for (size_t i = 0; i < n; ++i) {
    const Bytes q = Query("a.test.", kTypeA, 3);
    session.OnDatagram(kIn, i, q, static_cast<uint32_t>(q.size()), V4(1, static_cast<uint16_t>(20000 + i)));
  }
  EXPECT_EQ(session.pending(), DnsSession::kMaxPending);
  EXPECT_EQ(budget.used, DnsSession::kMaxPending);
  EXPECT_EQ(budget.evicted, 5u);
  EXPECT_EQ(session.stats().unanswered, 5u);
  // The first five clients' answers find nothing; the sixth's pairs.
  const Bytes r = Response("a.test.", kTypeA, 3, kNoError);
  session.OnDatagram(kOut, n, r, static_cast<uint32_t>(r.size()), V4(1, 20000));
  session.OnDatagram(kOut, n + 1, r, static_cast<uint32_t>(r.size()), V4(1, 20005));
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(txns[0].start_ns, 5u);
  EXPECT_EQ(session.stats().unmatched_responses, 1u);
  session.Close();
  EXPECT_EQ(budget.used, 0u);
}

TEST(DnsSession, TransportNames) {
  EXPECT_STREQ(TransportName(Transport::kUdp), "udp");
  EXPECT_STREQ(TransportName(Transport::kTcp), "tcp");
}

}  // namespace
}  // namespace l7tap::protocols
