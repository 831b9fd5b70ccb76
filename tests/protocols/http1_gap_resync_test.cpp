// A keep-alive HTTP/1 exchange sequence fed through the reassembler into the session with one capture event
// lost at every position in turn, as the kernel loses them (ring buffer full): the transaction that lost
// bytes is accounted for exactly, and every other one is counted with its exact timestamps.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocols/http1_session.h"
#include "protocols/stream_reassembler.h"

namespace l7tap::protocols {
namespace {

// One syscall's bytes.
struct Piece {
  Direction dir;
  uint64_t ts;
  std::string bytes;
  int exchange;
  bool request;
  bool starts_message;  // what the kernel counts in a dropped event: a request or a final-status line
  // When this piece is lost: 0, its exchange is lost; otherwise the exchange still counts and ends then
  // (body bytes of known length are stepped over; a lost 1xx answers nothing).
  uint64_t end_if_lost = 0;
};

struct Exchange {
  std::string target;
  int status;
  uint64_t start = 0;  // first request piece
  uint64_t end = 0;    // last response piece
};

std::string Response(int status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nServer: nginx/1.22.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

struct Sequence {
  std::vector<Piece> pieces;
  std::vector<Exchange> exchanges;
};

// The shapes of exchange a sequence cycles through: a GET in one read/write each; a POST whose body is its
// own syscall; a response whose body is its own syscall; a chunked response in four syscalls; a POST with
// Expect: 100-continue (headers, 100 Continue, body, final response).
enum Shape { kGet, kPostBodyApart, kBodyApart, kChunked, kContinue, kShapes };

// Keep-alive: each request, then its response. `first`: the shape the sequence starts with.
Sequence KeepAlive(Role role, int count = 12, int first = kGet, int shapes = kContinue) {
  Sequence s;
  const Direction req_dir = role == Role::kServer ? Direction::kIngress : Direction::kEgress;
  const Direction resp_dir = role == Role::kServer ? Direction::kEgress : Direction::kIngress;
  uint64_t ts = 1000;
  for (int i = 0; i < count; ++i) {
    const int shape = (first + i) % shapes;
    Exchange e{"/item/" + std::to_string(i), 200 + i % 3};
    const size_t from = s.pieces.size();
    std::vector<size_t> at_end;  // pieces whose loss leaves the exchange ending at its last piece
    size_t head = 0;             // the response head, where a lost body ends it
    auto add = [&](bool request, std::string bytes, bool starts) {
      ts += 10;
      s.pieces.push_back({request ? req_dir : resp_dir, ts, std::move(bytes), i, request, starts});
      return ts;
    };
    const std::string body = "{\"n\":" + std::to_string(i) + "}";
    const std::string post = "POST " + e.target +
                             " HTTP/1.1\r\nHost: svc\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n";
    if (shape == kPostBodyApart || shape == kContinue) {
      e.start = add(true, post + (shape == kContinue ? "Expect: 100-continue\r\n\r\n" : "\r\n"), true);
      if (shape == kContinue) {
        add(false, "HTTP/1.1 100 Continue\r\n\r\n", false);
        at_end.push_back(s.pieces.size() - 1);
      }
      add(true, body, false);
      at_end.push_back(s.pieces.size() - 1);
    } else {
      e.start = add(true, "GET " + e.target + " HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n", true);
    }
    if (shape == kBodyApart) {
      const std::string big(300, char('a' + i));
      const std::string whole = Response(e.status, big);
      add(false, whole.substr(0, whole.size() - big.size()), true);
      head = s.pieces.size() - 1;
      e.end = add(false, big, false);
      s.pieces.back().end_if_lost = s.pieces[head].ts;
    } else if (shape == kChunked) {
      add(false, "HTTP/1.1 " + std::to_string(e.status) + " X\r\nTransfer-Encoding: chunked\r\n\r\n", true);
      add(false, "5\r\nhello\r\n", false);
      add(false, "6\r\n world\r\n", false);
      e.end = add(false, "0\r\n\r\n", false);
    } else {
      e.end = add(false, Response(e.status, "ok"), true);
    }
    for (size_t k : at_end) s.pieces[k].end_if_lost = e.end;
    (void)from;
    s.exchanges.push_back(e);
  }
  return s;
}

// Pipelined: every request (one syscall each), then every response in order.
Sequence Pipelined(Role role, int count = 8) {
  Sequence s;
  const Direction req_dir = role == Role::kServer ? Direction::kIngress : Direction::kEgress;
  const Direction resp_dir = role == Role::kServer ? Direction::kEgress : Direction::kIngress;
  uint64_t ts = 1000;
  for (int i = 0; i < count; ++i) {
    Exchange e{"/p/" + std::to_string(i), 200 + i % 3};
    ts += 10;
    e.start = ts;
    s.pieces.push_back({req_dir, ts, "GET " + e.target + " HTTP/1.1\r\nHost: svc\r\n\r\n", i, true, true});
    s.exchanges.push_back(e);
  }
  for (int i = 0; i < count; ++i) {
    ts += 10;
    s.exchanges[i].end = ts;
    s.pieces.push_back({resp_dir, ts, Response(s.exchanges[i].status, "ok"), i, false, true});
  }
  return s;
}

struct Outcome {
  std::vector<HttpTransaction> txns;
  Http1Stats stats;
  uint32_t kernel_lost_request_starts = 0;  // what the kernel's counter would say
};

// Feeds every piece but `dropped`. counted: the kernel's loss report rides on the direction's next event
// (or the close); otherwise the hole is found only by the reorder timeout.
Outcome Feed(Role role, const Sequence& s, const std::set<size_t>& dropped, bool counted,
             bool quiesce = false) {
  Outcome out;
  Http1Session session(role, [&](HttpTransaction&& t) { out.txns.push_back(std::move(t)); });
  std::array<StreamReassembler, 2> streams;
  std::array<uint64_t, 2> position{};
  std::array<StreamChunk, 2> report{};   // loss waiting to be reported, per direction
  for (auto& r : streams) r.StartAt(0);  // the open was seen
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    const Piece& p = s.pieces[i];
    const int d = static_cast<int>(p.dir);
    if (dropped.contains(i)) {
      report[d].lost_events += 1;
      report[d].lost_starts += p.starts_message ? 1 : 0;
      if (p.request && p.starts_message) ++out.kernel_lost_request_starts;
    } else {
      StreamChunk c{position[d], p.ts, p.bytes, p.bytes.size()};
      if (counted) {
        c.lost_events = std::exchange(report[d].lost_events, 0);
        c.lost_starts = std::exchange(report[d].lost_starts, 0);
      }
      streams[d].Push(c, session.consumer(p.dir));
      streams[d].Expire(p.ts + 1, session.consumer(p.dir));  // the grace has passed by the next event
      if (quiesce) session.Quiesce();  // as the agent does to idle connections: nothing may change
    }
    position[d] += p.bytes.size();
  }
  for (int d = 0; d < 2; ++d) {
    streams[d].Flush(session.consumer(Direction(d)), counted ? report[d].lost_events : 0,
                     counted ? report[d].lost_starts : 0);
  }
  session.OnClose();
  out.stats = session.stats();
  return out;
}

void ExpectCounted(const HttpTransaction& t, const Exchange& e, Role role, uint64_t end) {
  EXPECT_EQ(t.role, role);
  EXPECT_EQ(t.target, e.target);
  EXPECT_EQ(t.status, e.status);
  EXPECT_EQ(t.start_ns, e.start);
  EXPECT_EQ(t.end_ns, end);
}

void CheckEveryPosition(Role role, const Sequence& s, bool counted, bool quiesce = false) {
  const size_t n = s.exchanges.size();
  {
    const Outcome all = Feed(role, s, {}, counted, quiesce);
    ASSERT_EQ(all.txns.size(), n);
    for (size_t i = 0; i < n; ++i) ExpectCounted(all.txns[i], s.exchanges[i], role, s.exchanges[i].end);
  }
  for (size_t k = 0; k < s.pieces.size(); ++k) {
    const Piece& lost = s.pieces[k];
    SCOPED_TRACE("piece " + std::to_string(k) + " of exchange " + std::to_string(lost.exchange) +
                 (lost.request ? " (request" : " (response") + (lost.starts_message ? " start)" : " body)"));
    const Outcome o = Feed(role, s, {k}, counted, quiesce);
    // The exchange that lost a piece counts, ending at end_if_lost, or is lost; every other one counts.
    size_t t = 0;
    for (size_t i = 0; i < n; ++i) {
      const Exchange& e = s.exchanges[i];
      const bool affected = int(i) == lost.exchange;
      if (affected && lost.end_if_lost == 0) continue;
      ASSERT_LT(t, o.txns.size()) << "exchange " << i << " not counted";
      ExpectCounted(o.txns[t++], e, role, affected ? lost.end_if_lost : e.end);
    }
    EXPECT_EQ(o.txns.size(), t);
    // Exactly accounted: counted + lost by reason = sent.
    const Http1Stats& st = o.stats;
    EXPECT_EQ(o.txns.size() + o.kernel_lost_request_starts + st.responses_lost + st.requests_cut +
                  st.requests_framing_lost + st.requests_queue_full + st.unanswered_requests,
              n);
    EXPECT_EQ(st.parse_errors, 0u);
  }
}

void CheckEveryPosition(Role role, bool counted, bool quiesce = false) {
  CheckEveryPosition(role, KeepAlive(role), counted, quiesce);
}

TEST(Http1GapResync, ServerWithCountedLossAtEveryPosition) { CheckEveryPosition(Role::kServer, true); }
TEST(Http1GapResync, ClientWithCountedLossAtEveryPosition) { CheckEveryPosition(Role::kClient, true); }
TEST(Http1GapResync, ServerWithUncountedLossAtEveryPosition) { CheckEveryPosition(Role::kServer, false); }
TEST(Http1GapResync, ClientWithUncountedLossAtEveryPosition) { CheckEveryPosition(Role::kClient, false); }
// Quiesce between pieces frees the parsing state whenever nothing is in flight: the outcome is the same.
TEST(Http1GapResync, QuiescedSessionsGiveTheSameOutcome) {
  for (bool counted : {true, false}) {
    CheckEveryPosition(Role::kServer, counted, true);
    CheckEveryPosition(Role::kClient, counted, true);
  }
}

// The first exchange a POST (its headers lost, the body arrives first), and 100-continue exchanges (a lost
// 100 Continue answers nothing: its request still waits for the final response).
TEST(Http1GapResync, PostFirstAndContinueExchangesAtEveryPosition) {
  for (Role role : {Role::kServer, Role::kClient}) {
    for (bool counted : {true, false}) {
      SCOPED_TRACE(std::string(role == Role::kServer ? "server" : "client") + (counted ? " counted" : ""));
      CheckEveryPosition(role, KeepAlive(role, 10, kPostBodyApart, kShapes), counted);
      CheckEveryPosition(role, KeepAlive(role, 10, kContinue, kShapes), counted);
    }
  }
}

// A pipelining client: the kernel's counts keep every other pair right wherever one event is lost.
TEST(Http1GapResync, PipelinedWithCountedLossAtEveryPosition) {
  for (Role role : {Role::kServer, Role::kClient}) CheckEveryPosition(role, Pipelined(role), true);
}

// Two events lost anywhere (the kernel's counts make every pair exact): every exchange neither touched is
// counted, and counted + lost = sent.
TEST(Http1GapResync, TwoLossesAnywhereStayExactlyAccounted) {
  for (Role role : {Role::kServer, Role::kClient}) {
    const Sequence s = KeepAlive(role);
    for (size_t a = 0; a < s.pieces.size(); ++a) {
      for (size_t b = a + 1; b < s.pieces.size(); ++b) {
        SCOPED_TRACE("pieces " + std::to_string(a) + " and " + std::to_string(b));
        const Outcome o = Feed(role, s, {a, b}, true);
        std::set<int> touched;
        for (size_t k : {a, b})
          if (s.pieces[k].end_if_lost == 0) touched.insert(s.pieces[k].exchange);
        ASSERT_EQ(o.txns.size(), s.exchanges.size() - touched.size());
        size_t t = 0;
        for (size_t i = 0; i < s.exchanges.size(); ++i) {
          if (touched.contains(int(i))) continue;
          EXPECT_EQ(o.txns[t].target, s.exchanges[i].target);
          EXPECT_EQ(o.txns[t++].start_ns, s.exchanges[i].start);
        }
        const Http1Stats& st = o.stats;
        EXPECT_EQ(o.txns.size() + o.kernel_lost_request_starts + st.responses_lost + st.requests_cut +
                      st.requests_framing_lost + st.unanswered_requests,
                  s.exchanges.size());
      }
    }
  }
}

// Pipelining: three requests in flight, the second response lost. The count keeps the third response on
// the third request.
TEST(Http1GapResync, PipelinedLostResponseKeepsLaterPairsRight) {
  std::vector<HttpTransaction> txns;
  Http1Session s(Role::kClient, [&](HttpTransaction&& t) { txns.push_back(std::move(t)); });
  StreamReassembler out, in;
  out.StartAt(0);
  in.StartAt(0);
  uint64_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string req = "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: svc\r\n\r\n";
    out.Push(StreamChunk{pos, uint64_t(100 + i), req, req.size()}, s.consumer(Direction::kEgress));
    pos += req.size();
  }
  const std::string r0 = Response(200, "zero"), r1 = Response(201, "one"), r2 = Response(202, "two");
  in.Push(StreamChunk{0, 200, r0, r0.size()}, s.consumer(Direction::kIngress));
  // r1 dropped; r2 carries the report.
  in.Push(StreamChunk{r0.size() + r1.size(), 220, r2, r2.size(), 1, 1}, s.consumer(Direction::kIngress));
  ASSERT_EQ(txns.size(), 2u);
  EXPECT_EQ(txns[0].target, "/p0");
  EXPECT_EQ(txns[0].status, 200);
  EXPECT_EQ(txns[1].target, "/p2");
  EXPECT_EQ(txns[1].status, 202);
  EXPECT_EQ(txns[1].start_ns, 102u);
  EXPECT_EQ(s.stats().responses_lost, 1u);
}

// A quiet keep-alive connection: the lost answer is declared as soon as the next one arrives, not after
// more traffic.
TEST(Http1GapResync, LossOnAQuietConnectionDoesNotStallTheNextExchange) {
  std::vector<HttpTransaction> txns;
  Http1Session s(Role::kServer, [&](HttpTransaction&& t) { txns.push_back(std::move(t)); });
  StreamReassembler in, out;
  in.StartAt(0);
  out.StartAt(0);
  const std::string a = "GET /a HTTP/1.1\r\n\r\n", b = "GET /b HTTP/1.1\r\n\r\n";
  const std::string ra = Response(200, "a"), rb = Response(200, "b");
  in.Push(StreamChunk{0, 100, a, a.size()}, s.consumer(Direction::kIngress));
  // ra dropped.
  in.Push(StreamChunk{a.size(), 300, b, b.size()}, s.consumer(Direction::kIngress));
  out.Push(StreamChunk{ra.size(), 310, rb, rb.size(), 1, 1}, s.consumer(Direction::kEgress));
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(txns[0].target, "/b");
  EXPECT_EQ(txns[0].start_ns, 300u);
  EXPECT_EQ(txns[0].end_ns, 310u);
  EXPECT_EQ(s.stats().responses_lost, 1u);
  EXPECT_FALSE(out.holding());
}

}  // namespace
}  // namespace l7tap::protocols
