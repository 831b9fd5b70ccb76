// TlsRecordReader: records out of a stream cut anywhere, known in part, or lost with their boundaries.
#include "protocols/tls_record.h"

#include <gtest/gtest.h>

#include <string>

namespace l7tap::protocols {
namespace {

std::string Record(uint8_t type, const std::string& body) {
  return std::string{char(type), '\x03', '\x03', char(body.size() >> 8), char(body.size())} + body;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string BodyOf(const TlsRecord& r) {
  return std::string(reinterpret_cast<const char*>(r.body.data()), r.body.size());
}

TEST(TlsRecordHeader, PlausibleHeadersOnly) {
  auto h = [](std::string s) { return ParseTlsRecordHeader(Bytes(s)); };
  ASSERT_TRUE(h(std::string("\x17\x03\x03\x48\x00", 5)));
  EXPECT_EQ(h(std::string("\x17\x03\x03\x48\x00", 5))->length, 18432);  // 2^14 + 2048
  EXPECT_FALSE(h(std::string("\x17\x03\x03\x48\x01", 5)));              // one more
  EXPECT_TRUE(h(std::string("\x14\x03\x01\x00\x01", 5)));
  EXPECT_FALSE(h(std::string("\x13\x03\x03\x00\x01", 5)));  // type 19
  EXPECT_FALSE(h(std::string("\x18\x03\x03\x00\x01", 5)));  // heartbeat: not followed
  EXPECT_FALSE(h(std::string("\x16\x03\x00\x00\x01", 5)));  // SSL 3.0
  EXPECT_FALSE(h(std::string("\x16\x03\x05\x00\x01", 5)));
  EXPECT_FALSE(h(std::string("\x16\x03\x03\x00", 4)));
}

TEST(TlsRecordReader, RecordsCutAnywhere) {
  const std::string stream = Record(22, "hello") + Record(23, std::string(300, 'x')) + Record(21, "ab");
  for (size_t step : {size_t(1), size_t(3), size_t(5), size_t(7), stream.size()}) {
    SCOPED_TRACE(step);
    TlsRecordReader reader;
    std::vector<std::string> bodies;
    for (size_t at = 0; at < stream.size(); at += step) {
      std::string_view piece = std::string_view(stream).substr(at, step);
      while (!piece.empty()) {
        const size_t n = reader.Feed(at, Bytes(piece));
        piece.remove_prefix(n);
        if (reader.ready()) {
          EXPECT_TRUE(reader.record().complete());
          bodies.push_back(BodyOf(reader.record()));
          reader.Next();
        }
      }
    }
    ASSERT_EQ(bodies.size(), 3u);
    EXPECT_EQ(bodies[0], "hello");
    EXPECT_EQ(bodies[1], std::string(300, 'x'));
    EXPECT_EQ(bodies[2], "ab");
    EXPECT_FALSE(reader.lost());
  }
}

TEST(TlsRecordReader, TailInsideARecordIsAHole) {
  TlsRecordReader reader;
  const std::string r = Record(23, std::string(100, 'y'));
  EXPECT_EQ(reader.Feed(1, Bytes(std::string_view(r).substr(0, 45))), 45u);
  EXPECT_EQ(reader.Skip(2, 60, nullptr), 60u);  // the record's last 60 body bytes
  ASSERT_TRUE(reader.ready());
  const TlsRecord& rec = reader.record();
  EXPECT_EQ(rec.ts_ns, 2u);
  ASSERT_EQ(rec.holes.size(), 1u);
  EXPECT_EQ(rec.holes[0].offset, 40u);
  EXPECT_EQ(rec.holes[0].length, 60u);
  EXPECT_TRUE(rec.holes[0].tail);
  EXPECT_EQ(BodyOf(rec), std::string(40, 'y') + std::string(60, '\0'));
  reader.Next();
  EXPECT_FALSE(reader.lost());
}

TEST(TlsRecordReader, TailPastTheRecordLosesTheBoundaries) {
  TlsRecordReader reader;
  const std::string r = Record(23, std::string(100, 'y'));
  reader.Feed(1, Bytes(std::string_view(r).substr(0, 45)));
  // 60 bytes end the record; 500 more hide the next header.
  EXPECT_EQ(reader.Skip(1, 560, nullptr), 60u);
  ASSERT_TRUE(reader.ready());
  reader.Next();
  EXPECT_EQ(reader.Skip(1, 500, nullptr), 500u);
  EXPECT_TRUE(reader.lost());
  EXPECT_FALSE(reader.bad_header());
  EXPECT_EQ(reader.Feed(2, Bytes("abc")), 3u);  // hidden too until a resync
  EXPECT_EQ(reader.hidden().bytes, 503u);
  const TlsHidden h = reader.Resync();
  EXPECT_EQ(h.bytes, 503u);
  EXPECT_TRUE(h.length_known);
  EXPECT_FALSE(reader.lost());
  EXPECT_EQ(reader.Feed(3, Bytes(Record(23, "z"))), 6u);
  EXPECT_TRUE(reader.ready());
}

TEST(TlsRecordReader, GapInsideARecordKeepsItsLossReports) {
  TlsRecordReader reader;
  const std::string r = Record(23, std::string(100, 'y'));
  reader.Feed(1, Bytes(std::string_view(r).substr(0, 25)));
  StreamGap gap{30, true, true, 2, 1};
  EXPECT_EQ(reader.Skip(1, 30, &gap), 30u);
  reader.Feed(2, Bytes(std::string_view(r).substr(55)));
  ASSERT_TRUE(reader.ready());
  const TlsRecord& rec = reader.record();
  ASSERT_EQ(rec.holes.size(), 1u);
  EXPECT_EQ(rec.holes[0].offset, 20u);
  EXPECT_FALSE(rec.holes[0].tail);
  EXPECT_TRUE(rec.holes[0].gap.counted);
  EXPECT_EQ(rec.holes[0].gap.lost_events, 2u);
  EXPECT_EQ(BodyOf(rec).substr(50), std::string(50, 'y'));
}

TEST(TlsRecordReader, GapOfUnknownLengthEndsTheRecordAndLosesTheBoundaries) {
  TlsRecordReader reader;
  const std::string r = Record(23, std::string(100, 'y'));
  reader.Feed(1, Bytes(std::string_view(r).substr(0, 25)));
  StreamGap gap{0, false};
  EXPECT_FALSE(reader.SkipUnknown(2, gap));  // ended the record: again after it
  ASSERT_TRUE(reader.ready());
  EXPECT_EQ(reader.record().holes[0].length, 80u);
  reader.Next();
  EXPECT_TRUE(reader.SkipUnknown(2, gap));
  EXPECT_TRUE(reader.lost());
  EXPECT_FALSE(reader.hidden().length_known);
}

TEST(TlsRecordReader, BadHeaderLosesTheBoundaries) {
  TlsRecordReader reader;
  EXPECT_EQ(reader.Feed(1, Bytes("GET / HTTP/1.1\r\n")), 16u);
  EXPECT_TRUE(reader.lost());
  EXPECT_TRUE(reader.bad_header());
  EXPECT_EQ(reader.hidden().bytes, 16u);
}

TEST(TlsRecordReader, RecordThatDidNotDecryptIsHidden) {
  TlsRecordReader reader;
  reader.Feed(1, Bytes(Record(23, std::string(40, 'q'))));
  ASSERT_TRUE(reader.ready());
  reader.LoseAfterRecord();
  reader.Next();
  EXPECT_TRUE(reader.lost());
  EXPECT_EQ(reader.hidden().bytes, 45u);
}

}  // namespace
}  // namespace l7tap::protocols
