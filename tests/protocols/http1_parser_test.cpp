#include "protocols/http1_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace l7tap::protocols {
namespace {

using Kind = Http1Parser::Kind;
using Ev = Http1Event;
using Events = std::vector<Http1Event>;

// Feeds `data` to the end (or to kError/kUpgrade) and returns the events; `consumed` gets the bytes used.
Events Drive(Http1Parser& p, std::string_view data, size_t* consumed = nullptr) {
  Events events;
  size_t used = 0;
  for (;;) {
    const Http1Step step = p.Execute(data.substr(used));
    used += step.consumed;
    if (step.event == Ev::kDone) break;
    events.push_back(step.event);
    if (step.event == Ev::kError || step.event == Ev::kUpgrade) break;
  }
  if (consumed != nullptr) *consumed = used;
  return events;
}

constexpr std::string_view kCurlGet =
    "GET /index.html?lang=en HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: "
    "*/*\r\n\r\n";

TEST(Http1Parser, RequestEventsInOrder) {
  Http1Parser p(Kind::kRequest);
  size_t consumed = 0;
  EXPECT_EQ(Drive(p, kCurlGet, &consumed),
            (Events{Ev::kMessageBegin, Ev::kHeadersComplete, Ev::kMessageComplete}));
  EXPECT_EQ(consumed, kCurlGet.size());
  EXPECT_EQ(p.method(), "GET");
  EXPECT_EQ(p.url(), "/index.html?lang=en");
  EXPECT_FALSE(p.in_message());
  EXPECT_EQ(p.kind(), Kind::kRequest);
}

TEST(Http1Parser, MessageBeginStopsBeforeTheFirstByte) {
  Http1Parser p(Kind::kRequest);
  const Http1Step step = p.Execute("\r\nGET / HTTP/1.1\r\n");  // stray CRLF between messages is skipped
  EXPECT_EQ(step.event, Ev::kMessageBegin);
  EXPECT_EQ(step.consumed, 2u);
  EXPECT_TRUE(p.in_message());
}

TEST(Http1Parser, AccumulatesUrlAcrossCalls) {
  Http1Parser p(Kind::kRequest);
  EXPECT_EQ(Drive(p, "DELETE /api/v2/ite"), (Events{Ev::kMessageBegin}));
  EXPECT_EQ(Drive(p, "ms/9?force=true HTTP/1.1\r\nHost: a\r\n\r\n"),
            (Events{Ev::kHeadersComplete, Ev::kMessageComplete}));
  EXPECT_EQ(p.method(), "DELETE");
  EXPECT_EQ(p.url(), "/api/v2/items/9?force=true");
}

TEST(Http1Parser, TruncatesVeryLongUrls) {
  Http1Parser p(Kind::kRequest);
  const std::string url = "/" + std::string(5000, 'a');
  Drive(p, "GET " + url + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(p.url(), url.substr(0, Http1Parser::kMaxUrl));
}

TEST(Http1Parser, ResponseStatusAndContentLengthBody) {
  Http1Parser p(Kind::kResponse);
  EXPECT_EQ(Drive(p, "HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nContent-Length: 9\r\n\r\nnot "),
            (Events{Ev::kMessageBegin}));
  EXPECT_EQ(p.status_code(), 404);
  EXPECT_TRUE(p.in_message());
  EXPECT_EQ(Drive(p, "found"), (Events{Ev::kMessageComplete}));
  EXPECT_FALSE(p.in_message());
}

TEST(Http1Parser, HeadResponseHasNoBody) {
  Http1Parser p(Kind::kResponse);
  p.set_answering(Http1Parser::Answering::kHead);
  EXPECT_EQ(Drive(p, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
            (Events{Ev::kMessageBegin, Ev::kMessageComplete}));
  p.set_answering(Http1Parser::Answering::kOther);
  EXPECT_EQ(Drive(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            (Events{Ev::kMessageBegin, Ev::kMessageComplete}));
}

TEST(Http1Parser, NoBodyFor1xx204And304EvenWithContentLength) {
  Http1Parser p(Kind::kResponse);
  EXPECT_EQ(Drive(p, "HTTP/1.1 100 Continue\r\n\r\n"), (Events{Ev::kMessageBegin, Ev::kMessageComplete}));
  EXPECT_EQ(p.status_code(), 100);
  EXPECT_EQ(Drive(p, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"),
            (Events{Ev::kMessageBegin, Ev::kMessageComplete}));
  EXPECT_EQ(Drive(p, "HTTP/1.1 304 Not Modified\r\nETag: \"5f3a\"\r\nContent-Length: 3120\r\n\r\n"),
            (Events{Ev::kMessageBegin, Ev::kMessageComplete}));
  EXPECT_EQ(p.status_code(), 304);
}

TEST(Http1Parser, CanSkipInsideContentLengthBody) {
  Http1Parser p(Kind::kRequest);
  EXPECT_FALSE(p.CanSkip(1));  // between messages
  EXPECT_TRUE(p.CanSkip(0));
  Drive(p, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100");
  EXPECT_FALSE(p.CanSkip(1));  // inside headers
  Drive(p, "\r\n\r\n0123456789");
  EXPECT_TRUE(p.CanSkip(90));
  EXPECT_FALSE(p.CanSkip(91));
  EXPECT_EQ(p.Skip(50), Ev::kDone);
  EXPECT_TRUE(p.CanSkip(40));
  EXPECT_FALSE(p.CanSkip(41));
  EXPECT_EQ(p.Skip(40), Ev::kMessageComplete);  // the skipped bytes were the message's last
  EXPECT_FALSE(p.in_message());
  EXPECT_FALSE(p.CanSkip(1));
  EXPECT_EQ(Drive(p, kCurlGet), (Events{Ev::kMessageBegin, Ev::kHeadersComplete, Ev::kMessageComplete}));
}

TEST(Http1Parser, CanSkipRightAfterHeaders) {
  Http1Parser p(Kind::kRequest);
  Drive(p, "PUT /blob HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n");
  EXPECT_TRUE(p.CanSkip(1048576));
  EXPECT_FALSE(p.CanSkip(1048577));
  EXPECT_EQ(p.Skip(1048576), Ev::kMessageComplete);
}

TEST(Http1Parser, CanSkipOnlyInsideChunkData) {
  Http1Parser p(Kind::kResponse);
  Drive(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_FALSE(p.CanSkip(1));  // chunk size not read yet
  Drive(p, "1");
  EXPECT_FALSE(p.CanSkip(1));  // size still being parsed ("1" may become "1000")
  Drive(p, "0;part=1\r\n");    // 16 bytes of chunk data follow
  EXPECT_TRUE(p.CanSkip(16));
  EXPECT_FALSE(p.CanSkip(17));
  EXPECT_EQ(p.Skip(10), Ev::kDone);
  EXPECT_TRUE(p.CanSkip(6));
  EXPECT_EQ(p.Skip(6), Ev::kDone);
  EXPECT_FALSE(p.CanSkip(1));  // chunk CRLF expected
  EXPECT_EQ(Drive(p, "\r\n0\r\n\r\n"), (Events{Ev::kMessageComplete}));
}

TEST(Http1Parser, SkipOutsideABodyFails) {
  Http1Parser p(Kind::kRequest);
  EXPECT_EQ(p.Skip(5), Ev::kError);
  EXPECT_FALSE(p.error().empty());
  EXPECT_EQ(p.Execute(kCurlGet).event, Ev::kError);  // stays failed until Reset
  p.Reset();
  EXPECT_EQ(Drive(p, kCurlGet), (Events{Ev::kMessageBegin, Ev::kHeadersComplete, Ev::kMessageComplete}));
}

TEST(Http1Parser, ReadUntilCloseBodyEndsAtFinish) {
  Http1Parser p(Kind::kResponse);
  EXPECT_EQ(Drive(p, "HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\n\r\nhello"),
            (Events{Ev::kMessageBegin}));
  EXPECT_TRUE(p.CanSkip(uint64_t{1} << 40));  // every byte until close is body
  EXPECT_EQ(p.Skip(100000), Ev::kDone);
  EXPECT_EQ(p.Finish(), Ev::kMessageComplete);
  EXPECT_FALSE(p.in_message());
}

TEST(Http1Parser, FinishBetweenMessagesIsClean) {
  Http1Parser p(Kind::kResponse);
  EXPECT_EQ(p.Finish(), Ev::kDone);
  Drive(p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(p.Finish(), Ev::kDone);
}

TEST(Http1Parser, FinishInsideAMessageIsAnError) {
  Http1Parser p(Kind::kResponse);
  Drive(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(p.Finish(), Ev::kError);
  EXPECT_FALSE(p.error().empty());
}

TEST(Http1Parser, UpgradeRequestPausesUntilResumed) {
  Http1Parser p(Kind::kRequest);
  const std::string upgrade =
      "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  size_t consumed = 0;
  const std::string both = upgrade + std::string(kCurlGet);
  EXPECT_EQ(Drive(p, both, &consumed), (Events{Ev::kMessageBegin, Ev::kHeadersComplete, Ev::kUpgrade}));
  EXPECT_EQ(consumed, upgrade.size());
  EXPECT_EQ(p.Execute(kCurlGet).event, Ev::kUpgrade);  // still paused
  EXPECT_EQ(p.Execute(kCurlGet).consumed, 0u);
  EXPECT_FALSE(p.CanSkip(1));
  p.ResumeAfterUpgrade();
  EXPECT_EQ(Drive(p, kCurlGet), (Events{Ev::kMessageBegin, Ev::kHeadersComplete, Ev::kMessageComplete}));
}

TEST(Http1Parser, SwitchingProtocolsStopsAfterTheResponse) {
  Http1Parser p(Kind::kResponse);
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(Drive(p, head + "\x81\x05hello", &consumed), (Events{Ev::kMessageBegin, Ev::kUpgrade}));
  EXPECT_EQ(consumed, head.size());
  EXPECT_EQ(p.status_code(), 101);
}

TEST(Http1Parser, ConnectSuccessIsATunnel) {
  Http1Parser p(Kind::kResponse);
  p.set_answering(Http1Parser::Answering::kConnect);
  const std::string head = "HTTP/1.1 200 Connection established\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(Drive(p, head + "\x16\x03\x01\x02\x00", &consumed), (Events{Ev::kMessageBegin, Ev::kUpgrade}));
  EXPECT_EQ(consumed, head.size());
}

TEST(Http1Parser, ConnectRefusalIsPlainHttp) {
  Http1Parser p(Kind::kResponse);
  p.set_answering(Http1Parser::Answering::kConnect);
  EXPECT_EQ(Drive(p, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
            (Events{Ev::kMessageBegin, Ev::kMessageComplete}));
}

TEST(Http1Parser, ReportsErrors) {
  Http1Parser p(Kind::kRequest);
  size_t consumed = 0;
  EXPECT_EQ(Drive(p, "GET / HTTP/1.1\r\nHost: a\r\nBad Header Line\r\n\r\n", &consumed),
            (Events{Ev::kMessageBegin, Ev::kError}));
  EXPECT_NE(p.error().find("HPE_INVALID_HEADER_TOKEN"), std::string::npos) << p.error();
  EXPECT_EQ(p.Finish(), Ev::kError);
}

TEST(Http1Parser, KeepsParsingAfterConnectionClose) {
  Http1Parser p(Kind::kRequest);
  Drive(p, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Drive(p, kCurlGet), (Events{Ev::kMessageBegin, Ev::kHeadersComplete, Ev::kMessageComplete}));
}

}  // namespace
}  // namespace l7tap::protocols
