#include "protocols/dns_tcp_framer.h"

#include <gtest/gtest.h>

#include <vector>

namespace l7tap::protocols {
namespace {

using Bytes = std::vector<uint8_t>;

struct Seen {
  uint64_t first_ts;
  uint64_t last_ts;
  Bytes bytes;
  bool cut;
};

struct Framer {
  void Push(uint64_t ts, const Bytes& b, uint64_t uncopied = 0) {
    framer.Push(ts, b, uncopied, [this](const DnsTcpMessage& m) {
      seen.push_back(Seen{m.first_ts_ns, m.last_ts_ns, Bytes(m.bytes.begin(), m.bytes.end()), m.cut});
    });
  }
  DnsTcpFramer framer;
  std::vector<Seen> seen;
};

TEST(DnsTcpFramer, MessagesAcrossAndWithinChunks) {
  Framer f;
  f.Push(1, {0, 3, 'a', 'b', 'c', 0, 2, 'd'});
  ASSERT_EQ(f.seen.size(), 1u);
  EXPECT_EQ(f.seen[0].bytes, (Bytes{'a', 'b', 'c'}));
  EXPECT_EQ(f.seen[0].first_ts, 1u);
  EXPECT_EQ(f.seen[0].last_ts, 1u);
  f.Push(2, {'e', 0});
  f.Push(3, {1, 'f'});
  ASSERT_EQ(f.seen.size(), 3u);
  EXPECT_EQ(f.seen[1].bytes, (Bytes{'d', 'e'}));
  EXPECT_EQ(f.seen[1].first_ts, 1u);
  EXPECT_EQ(f.seen[1].last_ts, 2u);
  EXPECT_EQ(f.seen[2].bytes, (Bytes{'f'}));
  EXPECT_EQ(f.seen[2].first_ts, 2u);  // its first length byte came with chunk 2
  EXPECT_EQ(f.seen[2].last_ts, 3u);
  EXPECT_FALSE(f.framer.lost());
}

TEST(DnsTcpFramer, ZeroLengthAndLargestMessage) {
  Framer f;
  Bytes big{0xff, 0xff};
  big.resize(2 + 65535, 'x');
  f.Push(1, {0, 0});
  f.Push(2, big);
  ASSERT_EQ(f.seen.size(), 2u);
  EXPECT_TRUE(f.seen[0].bytes.empty());
  EXPECT_EQ(f.seen[1].bytes.size(), 65535u);
}

TEST(DnsTcpFramer, UncopiedBytes) {
  Framer f;
  f.Push(1, {0, 5, 'a'}, 2);  // 3 of 5 bytes seen
  EXPECT_TRUE(f.seen.empty());
  f.Push(2, {'d', 'e', 0, 1, 'z'});
  ASSERT_EQ(f.seen.size(), 2u);
  EXPECT_EQ(f.seen[0].bytes, (Bytes{'a'}));  // the prefix before the hole: 'd', 'e' came after it
  EXPECT_TRUE(f.seen[0].cut);
  EXPECT_EQ(f.seen[1].bytes, (Bytes{'z'}));
  EXPECT_FALSE(f.seen[1].cut);
  f.Push(3, {0, 4, 'a'}, 3);  // ends exactly at the message's end
  ASSERT_EQ(f.seen.size(), 3u);
  EXPECT_TRUE(f.seen[2].cut);
  EXPECT_EQ(f.seen[2].last_ts, 3u);
  EXPECT_FALSE(f.framer.lost());
  f.Push(4, {0}, 1);  // half a length prefix uncopied
  EXPECT_TRUE(f.framer.lost());
  f.Push(5, {0, 1, 'q'});
  EXPECT_EQ(f.seen.size(), 3u);
}

TEST(DnsTcpFramer, UncopiedPastTheMessageEnd) {
  Framer f;
  f.Push(1, {0, 2, 'a'}, 5);
  ASSERT_EQ(f.seen.size(), 1u);  // the cut message is still delivered
  EXPECT_TRUE(f.seen[0].cut);
  EXPECT_TRUE(f.framer.lost());
}

TEST(DnsTcpFramer, GapDropsThePartialMessage) {
  Framer f;
  f.Push(1, {0, 4, 'a', 'b'});
  f.framer.Gap();
  f.Push(2, {'c', 'd', 0, 1, 'e'});
  EXPECT_TRUE(f.seen.empty());
  EXPECT_TRUE(f.framer.lost());
}

}  // namespace
}  // namespace l7tap::protocols
