#include "protocols/http1_session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/stream_reassembler.h"

namespace l7tap::protocols {
namespace {

constexpr Direction kIn = Direction::kIngress;
constexpr Direction kOut = Direction::kEgress;

// Bytes as curl 7.88, nginx 1.22 and Python's http.server put them on the wire.
std::string CurlGet(std::string_view target, std::string_view method = "GET") {
  return std::string(method) + " " + std::string(target) +
         " HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
}

std::string CurlPost(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string Nginx(std::string_view status, std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 " + std::string(status) +
         "\r\nServer: nginx/1.22.1\r\nDate: Sat, 22 Nov 2025 02:49:00 GMT\r\nContent-Type: text/html\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n" + std::string(extra) + "\r\n" +
         std::string(body);
}

const std::string kNotFoundBody =
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not "
    "Found</h1></center>\r\n"
    "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";

const std::string kChunked =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: Expires\r\n\r\n"
    "7;ext=1\r\nMozilla\r\n9;name=\"quoted value\"\r\nDeveloper\r\n7\r\nNetwork\r\n"
    "0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n";

// One connection with the transactions it produced.
struct Conn {
  explicit Conn(Role role) : session(role, [this](HttpTransaction&& t) { txns.push_back(std::move(t)); }) {}
  std::vector<HttpTransaction> txns;
  Http1Session session;
};

void ExpectTxn(const HttpTransaction& t, Role role, uint64_t start, uint64_t end, std::string_view method,
               std::string_view target, int status) {
  EXPECT_EQ(t.role, role);
  EXPECT_EQ(t.start_ns, start);
  EXPECT_EQ(t.end_ns, end);
  EXPECT_EQ(t.method, method);
  EXPECT_EQ(t.target, target);
  EXPECT_EQ(t.status, status);
}

// Every counter, exactly: the five common ones as arguments, the loss reasons in `lost`.
void ExpectStats(const Http1Stats& s, uint64_t parse_errors, uint64_t unmatched, uint64_t unanswered,
                 uint64_t incomplete, uint64_t desyncs, const Http1Stats& lost = {}) {
  EXPECT_EQ(s.parse_errors, parse_errors);
  EXPECT_EQ(s.unmatched_responses, unmatched);
  EXPECT_EQ(s.unanswered_requests, unanswered);
  EXPECT_EQ(s.incomplete_messages, incomplete);
  EXPECT_EQ(s.desyncs, desyncs);
  EXPECT_EQ(s.requests_cut, lost.requests_cut);
  EXPECT_EQ(s.responses_lost, lost.responses_lost);
  EXPECT_EQ(s.requests_framing_lost, lost.requests_framing_lost);
  EXPECT_EQ(s.requests_queue_full, lost.requests_queue_full);
  EXPECT_EQ(s.chunks_skipped, lost.chunks_skipped);
}

TEST(Http1Session, KeepAliveThreeExchanges) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/api/users/42"), 0);
  c.session.OnData(kOut, 200, Nginx("200 OK", "{\"id\":42}"), 0);
  c.session.OnData(kIn, 300, CurlGet("/missing"), 0);
  c.session.OnData(kOut, 400, Nginx("404 Not Found", kNotFoundBody), 0);
  c.session.OnData(kIn, 500, CurlGet("/docs"), 0);
  c.session.OnData(kOut, 600, Nginx("301 Moved Permanently", "", "Location: http://localhost:8080/docs/\r\n"),
                   0);
  ASSERT_EQ(c.txns.size(), 3u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/api/users/42", 200);
  ExpectTxn(c.txns[1], Role::kServer, 300, 400, "GET", "/missing", 404);
  ExpectTxn(c.txns[2], Role::kServer, 500, 600, "GET", "/docs", 301);
  EXPECT_EQ(c.session.state(), Http1State::kHttp);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, QuiescesOnlyWithNothingInFlight) {
  Conn c(Role::kServer);
  EXPECT_TRUE(c.session.Quiesce());  // nothing yet
  c.session.OnData(kIn, 100, CurlGet("/a"), 0);
  EXPECT_FALSE(c.session.Quiesce());  // a request waits for its answer
  EXPECT_FALSE(c.session.quiesced());
  c.session.OnData(kOut, 200, Nginx("200 OK", "aaaa").substr(0, 30), 0);
  EXPECT_FALSE(c.session.Quiesce());  // half a response
  c.session.OnData(kOut, 210, Nginx("200 OK", "aaaa").substr(30), 0);
  EXPECT_TRUE(c.session.Quiesce());
  EXPECT_TRUE(c.session.quiesced());
  c.session.OnData(kIn, 300, CurlGet("/b"), 0);  // back, role and counts kept
  c.session.OnData(kOut, 400, Nginx("404 Not Found", kNotFoundBody), 0);
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 210, "GET", "/a", 200);
  ExpectTxn(c.txns[1], Role::kServer, 300, 400, "GET", "/b", 404);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

// Found by fuzzing: a response lost before its request was known (counted), then a response ahead of the
// next request. That request's answer is the lost one: it is accounted, not paired with the early response.
TEST(Http1Session, RequestWhoseAnswerWasLostDoesNotPairWithAnEarlyResponse) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/a"), 0);
  c.session.OnData(kIn, 200, Nginx("200 OK", "a"), 0);
  StreamGap lost{0, /*length_known=*/false, /*counted=*/true, 1, 1};
  c.session.OnGap(kIn, lost);                                  // a response whose request is not known yet
  c.session.OnData(kIn, 290, Nginx("404 Not Found", "b"), 0);  // ahead of its request
  c.session.OnData(kOut, 300, CurlGet("/b"), 0);               // answered by the lost response
  ASSERT_EQ(c.txns.size(), 1u);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 1, 0, 0, 1, {.responses_lost = 1});
}

TEST(Http1Session, PipelinedRequestsPairInOrder) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/a"), 0);
  c.session.OnData(kOut, 110, CurlGet("/b", "HEAD"), 0);
  c.session.OnData(kOut, 120, CurlGet("/c"), 0);
  EXPECT_TRUE(c.txns.empty());
  c.session.OnData(kIn, 200, Nginx("200 OK", "aaaa"), 0);
  // HEAD answer: Content-Length describes the resource, no body follows.
  c.session.OnData(kIn, 210, "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 5000\r\n\r\n", 0);
  c.session.OnData(kIn, 220, Nginx("404 Not Found", kNotFoundBody), 0);
  ASSERT_EQ(c.txns.size(), 3u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 200, "GET", "/a", 200);
  ExpectTxn(c.txns[1], Role::kClient, 110, 210, "HEAD", "/b", 200);
  ExpectTxn(c.txns[2], Role::kClient, 120, 220, "GET", "/c", 404);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

// A multi-threaded client's writer can reach its syscall exit after its reader has the answer: the response's
// event comes first. Every request byte was seen in order, so the early response answers the next request.
TEST(Http1Session, ResponseReorderedAheadOfItsRequestStillPairs) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/a"), 0);
  c.session.OnData(kIn, 200, Nginx("200 OK", "aaaa"), 0);
  c.session.OnData(kIn, 290, Nginx("404 Not Found", kNotFoundBody), 0);  // ahead of its request
  EXPECT_EQ(c.txns.size(), 1u);
  c.session.OnData(kOut, 300, CurlGet("/b"), 0);  // stamped late, at the writer's syscall exit
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 200, "GET", "/a", 200);
  ExpectTxn(c.txns[1], Role::kClient, 290, 290, "GET", "/b", 404);
  // An answer no request ever claims is still counted, at close.
  c.session.OnData(kIn, 400, Nginx("200 OK", "zz"), 0);
  c.session.OnClose();
  EXPECT_EQ(c.txns.size(), 2u);
  ExpectStats(c.session.stats(), 0, 1, 0, 0, 0);
}

TEST(Http1Session, CoalescedMessagesInOneChunk) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/1") + CurlPost("/2", "{\"n\":2}") + CurlGet("/3"), 0);
  c.session.OnData(kOut, 200, Nginx("200 OK", "one") + Nginx("201 Created", "") + Nginx("200 OK", "three"),
                   0);
  ASSERT_EQ(c.txns.size(), 3u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/1", 200);
  ExpectTxn(c.txns[1], Role::kServer, 100, 200, "POST", "/2", 201);
  ExpectTxn(c.txns[2], Role::kServer, 100, 200, "GET", "/3", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, ContentLengthBodiesAcrossChunks) {
  Conn c(Role::kServer);
  const std::string req =
      CurlPost("/api/orders", "{\"item\":\"book\",\"qty\":3,\"note\":\"gift wrap please\"}");
  const size_t cut = req.find("\"qty\"");
  c.session.OnData(kIn, 100, req.substr(0, cut), 0);
  c.session.OnData(kIn, 150, req.substr(cut), 0);
  const std::string resp = Nginx("201 Created", "{\"order\":981,\"status\":\"accepted\"}");
  c.session.OnData(kOut, 200, resp.substr(0, resp.size() - 10), 0);
  EXPECT_TRUE(c.txns.empty());
  c.session.OnData(kOut, 260, resp.substr(resp.size() - 10), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 260, "POST", "/api/orders", 201);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, ChunkedBodyWithExtensionsAndTrailers) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/stream"), 0);
  const size_t a = kChunked.find("Developer");
  const size_t b = kChunked.find("Expires: Wed");
  c.session.OnData(kIn, 200, kChunked.substr(0, a), 0);
  c.session.OnData(kIn, 210, kChunked.substr(a, b - a), 0);
  EXPECT_TRUE(c.txns.empty());  // last chunk seen, trailers not yet
  c.session.OnData(kIn, 220, kChunked.substr(b), 0);
  c.session.OnData(kOut, 300, CurlGet("/next"), 0);
  c.session.OnData(kIn, 400, Nginx("200 OK", "fine"), 0);
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 220, "GET", "/stream", 200);
  ExpectTxn(c.txns[1], Role::kClient, 300, 400, "GET", "/next", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, HeadResponseHasNoBodyThenNextRequest) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/debian-12.iso", "HEAD"), 0);
  c.session.OnData(kOut, 200,
                   "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: application/octet-stream\r\n"
                   "Content-Length: 658505728\r\nAccept-Ranges: bytes\r\n\r\n",
                   0);
  c.session.OnData(kIn, 300, CurlGet("/index.html"), 0);
  c.session.OnData(kOut, 400, Nginx("200 OK", "<html>hi</html>"), 0);
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "HEAD", "/debian-12.iso", 200);
  ExpectTxn(c.txns[1], Role::kServer, 300, 400, "GET", "/index.html", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, ContinueThenFinalResponse) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100,
                   "PUT /files/report.pdf HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
                   "Accept: */*\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
                   0);
  c.session.OnData(kIn, 150, "HTTP/1.1 100 Continue\r\n\r\n", 0);
  EXPECT_TRUE(c.txns.empty());
  c.session.OnData(kOut, 160, "hello world", 0);
  c.session.OnData(kIn, 200, Nginx("201 Created", ""), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 200, "PUT", "/files/report.pdf", 201);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, SwitchingProtocolsIgnoresEverythingAfter) {
  Conn c(Role::kServer);
  c.session.OnData(
      kIn, 100,
      "GET /chat HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      0);
  c.session.OnData(
      kOut, 200,
      std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n") +
          "\x81\x05hello",
      0);
  EXPECT_EQ(c.session.state(), Http1State::kUpgraded);
  c.session.OnData(kIn, 300, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 0);
  c.session.OnData(kOut, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);  // websocket payload
  c.session.OnGap(kIn, 1000);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/chat", 101);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, RefusedUpgradeKeepsParsingHttp) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100,
                   "GET / HTTP/1.1\r\nHost: localhost:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
                   0);
  c.session.OnData(kOut, 110, CurlGet("/second"), 0);  // pipelined: waits until the upgrade is refused
  c.session.OnData(kIn, 200, Nginx("200 OK", "plain http") + Nginx("200 OK", "again"), 0);
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 200, "GET", "/", 200);
  ExpectTxn(c.txns[1], Role::kClient, 110, 200, "GET", "/second", 200);
  EXPECT_EQ(c.session.state(), Http1State::kHttp);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, ConnectTunnelIsOneTransaction) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100,
                   "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: curl/7.88.1\r\n"
                   "Proxy-Connection: Keep-Alive\r\n\r\n",
                   0);
  c.session.OnData(kIn, 200,
                   std::string("HTTP/1.1 200 Connection established\r\n\r\n") + "\x16\x03\x03\x00\x7a", 0);
  c.session.OnData(kOut, 300, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0);
  EXPECT_EQ(c.session.state(), Http1State::kUpgraded);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 200, "CONNECT", "example.com:443", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, Http10BodyEndsAtClose) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100,
                   "GET /report.txt HTTP/1.0\r\nHost: localhost:8000\r\nUser-Agent: curl/7.88.1\r\n\r\n", 0);
  c.session.OnData(
      kOut, 200,
      "HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\nDate: Sat, 22 Nov 2025 02:49:00 GMT\r\n"
      "Content-Type: text/plain\r\n\r\n",
      0);
  c.session.OnData(kOut, 250, "line 1\n", 0);
  c.session.OnData(kOut, 300, "line 2\n", 50000);  // the rest of a big write was not copied
  EXPECT_TRUE(c.txns.empty());
  c.session.OnClose();
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 300, "GET", "/report.txt", 200);
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

// A request/response pair split in two at every offset: each split yields exactly one transaction.
TEST(Http1Session, RequestSplitAtEveryOffsetWithRoleInferred) {
  const std::string req = CurlPost("/api/login", "{\"user\":\"ada\",\"password\":\"lovelace\"}");
  const std::string resp = Nginx("200 OK", "{\"token\":\"abc\"}");
  for (size_t i = 1; i < req.size(); ++i) {
    SCOPED_TRACE("split at " + std::to_string(i));
    Conn c(Role::kUnknown);
    c.session.OnData(kOut, 100, req.substr(0, i), 0);
    c.session.OnData(kOut, 110, req.substr(i), 0);
    c.session.OnData(kIn, 200, resp, 0);
    EXPECT_EQ(c.session.role(), Role::kClient);
    ASSERT_EQ(c.txns.size(), 1u);
    ExpectTxn(c.txns[0], Role::kClient, 100, 200, "POST", "/api/login", 200);
    c.session.OnClose();
    ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
  }
}

TEST(Http1Session, ResponseSplitAtEveryOffset) {
  const std::string req = CurlGet("/index.html");
  for (const std::string& resp : {Nginx("404 Not Found", kNotFoundBody), kChunked}) {
    for (size_t i = 1; i < resp.size(); ++i) {
      SCOPED_TRACE("split at " + std::to_string(i));
      Conn c(Role::kServer);
      c.session.OnData(kIn, 100, req, 0);
      c.session.OnData(kOut, 200, resp.substr(0, i), 0);
      c.session.OnData(kOut, 210, resp.substr(i), 0);
      ASSERT_EQ(c.txns.size(), 1u);
      ExpectTxn(c.txns[0], Role::kServer, 100, 210, "GET", "/index.html", resp == kChunked ? 200 : 404);
      c.session.OnClose();
      ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
    }
  }
}

TEST(Http1Session, LargeUploadWithUncopiedTail) {
  Conn c(Role::kClient);
  StreamReassembler out;
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
      "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n";
  const std::string copied = head + std::string(4096 - head.size(), 'Z');
  out.Push(0, 100, copied, head.size() + (1 << 20), c.session.consumer(kOut));
  c.session.OnData(kIn, 900, Nginx("200 OK", "stored"), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 900, "POST", "/upload", 200);
  c.session.OnData(kOut, 1000, CurlGet("/after"), 0);  // framing intact after the skipped megabyte
  c.session.OnData(kIn, 1100, Nginx("200 OK", ""), 0);
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[1], Role::kClient, 1000, 1100, "GET", "/after", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, ReassembledOutOfOrderChunks) {
  Conn c(Role::kServer);
  StreamReassembler in;
  StreamReassembler out;
  const std::string req = CurlGet("/ordered");
  in.Push(0, 100, req.substr(0, 5), 5, c.session.consumer(kIn));
  in.Push(15, 120, req.substr(15), req.size() - 15, c.session.consumer(kIn));  // held
  in.Push(5, 110, req.substr(5, 10), 10, c.session.consumer(kIn));
  out.Push(0, 200, Nginx("200 OK", "x"), Nginx("200 OK", "x").size(), c.session.consumer(kOut));
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/ordered", 200);
}

TEST(Http1Session, GarbageIsNotHttp) {
  const std::vector<std::string> garbage = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1f", 13),  // TLS ClientHello
      "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
      "*1\r\n$4\r\nPING\r\n",                        // redis
      std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8),  // postgres SSLRequest
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "HTTP/2 200\r\n",
      "hello world\r\n",
      std::string(100, 'A'),
  };
  for (const std::string& g : garbage) {
    for (Role role : {Role::kClient, Role::kServer}) {  // the connection's start was seen
      SCOPED_TRACE(g);
      Conn c(role);
      c.session.OnData(kOut, 100, g, 0);
      EXPECT_EQ(c.session.state(), Http1State::kNotHttp);
      c.session.OnData(kOut, 110, CurlGet("/"), 0);
      c.session.OnData(kIn, 120, Nginx("200 OK", ""), 0);
      c.session.OnGap(kIn, 10);
      c.session.OnClose();
      EXPECT_TRUE(c.txns.empty());
      EXPECT_EQ(c.session.role(), role);
      ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
    }
  }
}

// Opened before the capture: the first bytes seen may be the middle of a message. They are skipped until a
// chunk begins one; what came before is not guessed.
TEST(Http1Session, ConnectionOlderThanTheCaptureCountsFromItsFirstCompleteRequest) {
  Conn c(Role::kUnknown);
  c.session.OnData(kIn, 100, "ontent-Length: 5\r\n\r\nhello", 0);  // a request already under way
  c.session.OnData(kOut, 110, Nginx("200 OK", "its answer"), 0);   // answers it: unmatched
  EXPECT_EQ(c.session.state(), Http1State::kHttp);
  c.session.OnData(kIn, 200, CurlGet("/first-whole"), 0);
  c.session.OnData(kOut, 210, Nginx("200 OK", "x"), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 200, 210, "GET", "/first-whole", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 1, 0, 0, 0, {.chunks_skipped = 1});
}

TEST(Http1Session, ConnectionOlderThanTheCaptureThatNeverShowsHttpIsGivenUp) {
  Conn c(Role::kUnknown);
  for (int i = 0; i < 16; ++i) c.session.OnData(kOut, 100 + i, "*1\r\n$4\r\nPING\r\n", 0);  // redis
  EXPECT_EQ(c.session.state(), Http1State::kDetecting);
  c.session.OnData(kOut, 200, "*1\r\n$4\r\nPING\r\n", 0);
  EXPECT_EQ(c.session.state(), Http1State::kNotHttp);
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0, {.chunks_skipped = 16});
}

TEST(Http1Session, ParseErrorMidStream) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/ok"), 0);
  c.session.OnData(kOut, 200, Nginx("200 OK", "fine"), 0);
  c.session.OnData(kIn, 300, "GET /next HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n", 0);
  EXPECT_EQ(c.session.state(), Http1State::kNotHttp);
  c.session.OnData(kOut, 400, Nginx("400 Bad Request", ""), 0);  // ignored from now on
  c.session.OnClose();
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/ok", 200);
  ExpectStats(c.session.stats(), 1, 0, 0, 0, 0);
}

TEST(Http1Session, UnknownMethodTokenIsAParseError) {
  Conn c(Role::kUnknown);
  c.session.OnData(kOut, 100, "GETTING STARTED WITH HTTP\r\n",
                   0);  // looks like a request line; llhttp disagrees
  EXPECT_EQ(c.session.state(), Http1State::kNotHttp);
  EXPECT_EQ(c.session.role(), Role::kClient);
  ExpectStats(c.session.stats(), 1, 0, 0, 0, 0);
}

TEST(Http1Session, RoleInferredFromWhoSendsRequests) {
  {
    Conn c(Role::kUnknown);
    c.session.OnData(kIn, 100, CurlGet("/read"), 0);  // a request read: we are the server
    c.session.OnData(kOut, 200, Nginx("200 OK", ""), 0);
    EXPECT_EQ(c.session.role(), Role::kServer);
    ASSERT_EQ(c.txns.size(), 1u);
    ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/read", 200);
  }
  {
    Conn c(Role::kUnknown);
    c.session.OnData(kOut, 100, CurlGet("/written"), 0);  // a request written: we are the client
    c.session.OnData(kIn, 200, Nginx("200 OK", ""), 0);
    EXPECT_EQ(c.session.role(), Role::kClient);
    ASSERT_EQ(c.txns.size(), 1u);
    ExpectTxn(c.txns[0], Role::kClient, 100, 200, "GET", "/written", 200);
  }
  {
    Conn c(Role::kUnknown);
    c.session.OnData(kIn, 100, Nginx("200 OK", "late"),
                     0);  // capture began after the request: a response read
    EXPECT_EQ(c.session.role(), Role::kClient);
    c.session.OnData(kOut, 200, CurlGet("/then"), 0);
    c.session.OnData(kIn, 300, Nginx("200 OK", ""), 0);
    ASSERT_EQ(c.txns.size(), 1u);
    ExpectTxn(c.txns[0], Role::kClient, 200, 300, "GET", "/then", 200);
    c.session.OnClose();
    ExpectStats(c.session.stats(), 0, 1, 0, 0, 0);
  }
  {
    Conn c(Role::kUnknown);
    c.session.OnData(kOut, 100, "HTTP/1.1 204 No Content\r\n\r\n", 0);  // a response written: the server
    EXPECT_EQ(c.session.role(), Role::kServer);
    EXPECT_TRUE(c.txns.empty());
    EXPECT_EQ(c.session.stats().unmatched_responses, 1u);
  }
}

TEST(Http1Session, KnownRoleContradictedByBytesIsNotHttp) {
  Conn c(Role::kServer);
  c.session.OnData(kOut, 100, CurlGet("/"), 0);  // a server writing requests
  EXPECT_EQ(c.session.state(), Http1State::kNotHttp);
  EXPECT_EQ(c.session.role(), Role::kServer);
}

TEST(Http1Session, TimestampsComeFromTheRightChunks) {
  for (Role role : {Role::kServer, Role::kClient}) {
    SCOPED_TRACE(RoleName(role));
    const Direction req_dir = role == Role::kServer ? kIn : kOut;
    const Direction resp_dir = role == Role::kServer ? kOut : kIn;
    Conn c(role);
    const std::string first = CurlPost("/a", "0123456789");
    const std::string second = CurlGet("/b");
    // First request in two chunks; the second begins inside the first's last chunk.
    c.session.OnData(req_dir, 1'000, first.substr(0, 7), 0);
    c.session.OnData(req_dir, 1'500, first.substr(7) + second.substr(0, 3), 0);
    c.session.OnData(req_dir, 1'800, second.substr(3), 0);
    const std::string r1 = Nginx("200 OK", "first body");
    const std::string r2 = Nginx("404 Not Found", kNotFoundBody);
    // The first response ends inside the chunk where the second begins; the second ends two chunks later.
    c.session.OnData(resp_dir, 2'000, r1.substr(0, 20), 0);
    c.session.OnData(resp_dir, 2'750, r1.substr(20) + r2.substr(0, 30), 0);
    c.session.OnData(resp_dir, 3'100, r2.substr(30, 40), 0);
    c.session.OnData(resp_dir, 3'900, r2.substr(70), 0);
    ASSERT_EQ(c.txns.size(), 2u);
    ExpectTxn(c.txns[0], role, 1'000, 2'750, "POST", "/a", 200);
    ExpectTxn(c.txns[1], role, 1'500, 3'900, "GET", "/b", 404);
  }
}

TEST(Http1Session, AbruptCloseMidResponse) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/big"), 0);
  const std::string resp = Nginx("200 OK", std::string(1000, 'b'));
  c.session.OnData(kOut, 200, resp.substr(0, resp.size() - 400), 0);
  c.session.OnClose();
  EXPECT_TRUE(c.txns.empty());
  ExpectStats(c.session.stats(), 0, 0, 1, 1, 0);
  c.session.OnData(kOut, 300, resp.substr(resp.size() - 400), 0);  // after close: ignored
  c.session.OnClose();
  EXPECT_TRUE(c.txns.empty());
  ExpectStats(c.session.stats(), 0, 0, 1, 1, 0);
}

TEST(Http1Session, AbruptCloseMidRequest) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/a"), 0);
  c.session.OnData(kIn, 200, Nginx("200 OK", ""), 0);
  c.session.OnData(kOut, 300, "GET /b HTTP/1.1\r\nHost: loc", 0);
  c.session.OnClose();
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectStats(c.session.stats(), 0, 0, 0, 1, 0);
}

TEST(Http1Session, UnansweredRequestsCountedAtClose) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/a") + CurlGet("/b"), 0);
  c.session.OnClose();
  EXPECT_TRUE(c.txns.empty());
  ExpectStats(c.session.stats(), 0, 0, 2, 0, 0);
}

TEST(Http1Session, OutstandingRequestsAreBounded) {
  Conn c(Role::kServer);
  for (uint64_t i = 0; i < 70; ++i) c.session.OnData(kIn, 100 + i, CurlGet("/r" + std::to_string(i)), 0);
  EXPECT_EQ(c.session.stats().requests_queue_full, 6u);  // the oldest beyond 64 were given up
  c.session.OnData(kOut, 500, Nginx("200 OK", ""), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 106, 500, "GET", "/r6", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 63, 0, 0, {.requests_queue_full = 6});
}

TEST(Http1Session, GapInsideBodyIsSkipped) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/file"), 0);
  const std::string resp = Nginx("200 OK", std::string(100, 'f'));
  const size_t body = resp.size() - 100;
  c.session.OnData(kOut, 200, resp.substr(0, body + 30), 0);
  c.session.OnGap(kOut, 50);
  c.session.OnData(kOut, 300, resp.substr(body + 80), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 300, "GET", "/file", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 0);
}

TEST(Http1Session, GapEndingABodyCompletesAtTheLastChunkSeen) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/file"), 0);
  const std::string resp = Nginx("200 OK", std::string(100, 'f'));
  c.session.OnData(kOut, 200, resp.substr(0, resp.size() - 40), 0);
  c.session.OnGap(kOut, 40);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "GET", "/file", 200);
}

TEST(Http1Session, ResponseSideGapInHeadersResyncs) {
  Conn c(Role::kServer);
  c.session.OnData(kIn, 100, CurlGet("/lost"), 0);
  const std::string lost = Nginx("200 OK", "lost body");
  c.session.OnData(kOut, 200, lost.substr(0, 20), 0);
  c.session.OnGap(kOut, 40);                        // cuts the headers: cannot skip
  c.session.OnData(kOut, 210, lost.substr(60), 0);  // not a message start: dropped
  c.session.OnData(kIn, 300, CurlGet("/found"), 0);
  c.session.OnData(kOut, 400, Nginx("200 OK", "found"), 0);  // begins a chunk: parsing resumes
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 300, 400, "GET", "/found", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 1, {.responses_lost = 1});  // "/lost": its answer was cut
}

TEST(Http1Session, RequestSideGapNeverPairsALostRequestsResponse) {
  Conn c(Role::kClient);
  c.session.OnData(kOut, 100, CurlGet("/one"), 0);
  c.session.OnData(kIn, 150, Nginx("200 OK", "1"), 0);
  c.session.OnGap(kOut, CurlGet("/two").size());  // request "/two" lost whole, between messages
  // The gap was declared late, so "/three" is parsed before the answer to "/two" arrives.
  c.session.OnData(kOut, 300, CurlGet("/three"), 0);
  c.session.OnData(kIn, 250, Nginx("200 OK", "2"), 0);  // began before "/three": cannot answer it
  c.session.OnData(kIn, 350, Nginx("200 OK", "3"), 0);
  ASSERT_EQ(c.txns.size(), 2u);
  ExpectTxn(c.txns[0], Role::kClient, 100, 150, "GET", "/one", 200);
  ExpectTxn(c.txns[1], Role::kClient, 300, 350, "GET", "/three", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 1, 0, 0, 1);
}

TEST(Http1Session, RequestSideGapInsideBodyAfterHeadersStillPairs) {
  Conn c(Role::kServer);
  const std::string req =
      "POST /chunks HTTP/1.1\r\nHost: localhost:8080\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
  c.session.OnData(kIn, 100, req, 0);
  c.session.OnGap(kIn, 12);                    // chunk framing lost: cannot skip
  c.session.OnData(kIn, 120, "0\r\n\r\n", 0);  // not a request start: dropped
  c.session.OnData(kOut, 200, Nginx("200 OK", "got it"), 0);
  ASSERT_EQ(c.txns.size(), 1u);  // the headers were seen, so the request still pairs
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "POST", "/chunks", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 0, 1);
}

TEST(Http1Session, UncopiedTailInsideHeadersIsAGap) {
  Conn c(Role::kServer);
  const std::string huge =
      "GET /x HTTP/1.1\r\nHost: localhost\r\nCookie: " + std::string(8000, 'c') + "\r\n\r\n";
  c.session.OnData(kIn, 100, huge.substr(0, 4096), huge.size() - 4096);
  c.session.OnData(kOut, 200, Nginx("200 OK", "x"), 0);
  c.session.OnData(kIn, 300, CurlGet("/y"), 0);
  c.session.OnData(kOut, 400, Nginx("200 OK", "y"), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 300, 400, "GET", "/y", 200);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 1, 0, 0, 1, {.requests_cut = 1});
}

TEST(Http1Session, ResponseWithoutRequestIsUnmatched) {
  Conn c(Role::kServer);
  c.session.OnData(kOut, 100, Nginx("500 Internal Server Error", "oops"), 0);
  c.session.OnData(kIn, 200, CurlGet("/"), 0);
  c.session.OnData(kOut, 300, Nginx("200 OK", ""), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 200, 300, "GET", "/", 200);
  ExpectStats(c.session.stats(), 0, 1, 0, 0, 0);
}

TEST(Http1Session, EarlyResponseBeforeRequestBodyEnds) {
  Conn c(Role::kServer);
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 100000000\r\n\r\n";
  c.session.OnData(kIn, 100, head, 0);
  c.session.OnData(kOut, 200, Nginx("413 Request Entity Too Large", "", "Connection: close\r\n"), 0);
  ASSERT_EQ(c.txns.size(), 1u);
  ExpectTxn(c.txns[0], Role::kServer, 100, 200, "POST", "/upload", 413);
  c.session.OnClose();
  ExpectStats(c.session.stats(), 0, 0, 0, 1, 0);  // the upload was cut
}

}  // namespace
}  // namespace l7tap::protocols
