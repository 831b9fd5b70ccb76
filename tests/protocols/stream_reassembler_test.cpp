#include "protocols/stream_reassembler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace l7tap::protocols {
namespace {

// What the consumer saw, in order: data as "ts:bytes+uncopied", gaps as "gap:missing", with "+?" when more
// bytes moved unseen and " lost E/S" when the kernel counted E events lost, S of them message starts.
class Recorder : public StreamConsumer {
 public:
  void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override {
    events.push_back(std::to_string(ts_ns) + ":" + std::string(bytes) + "+" + std::to_string(uncopied_tail));
  }
  void OnGap(const StreamGap& gap) override {
    std::string e = "gap:" + std::to_string(gap.missing) + (gap.length_known ? "" : "+?");
    if (gap.counted) e += " lost " + std::to_string(gap.lost_events) + "/" + std::to_string(gap.lost_starts);
    events.push_back(e);
  }
  std::vector<std::string> events;
};

using Events = std::vector<std::string>;

TEST(StreamReassembler, DeliversInOrderChunks) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "GET /", 5, out);
  r.Push(5, 11, " HTTP/", 6, out);
  r.Push(11, 12, "1.1\r\n", 5, out);
  EXPECT_EQ(out.events, (Events{"10:GET /+0", "11: HTTP/+0", "12:1.1\r\n+0"}));
  EXPECT_EQ(r.next_position(), 16u);
  EXPECT_EQ(r.stats().gaps, 0u);
  EXPECT_EQ(r.stats().gap_bytes, 0u);
  EXPECT_EQ(r.stats().overlap_bytes, 0u);
}

TEST(StreamReassembler, FirstChunkSetsStartPosition) {
  StreamReassembler r;
  Recorder out;
  r.Push(70000, 10, "HTTP/1.1 200 OK\r\n", 17, out);  // capture began mid-connection
  r.Push(70017, 11, "\r\n", 2, out);
  EXPECT_EQ(out.events, (Events{"10:HTTP/1.1 200 OK\r\n+0", "11:\r\n+0"}));
  EXPECT_EQ(r.next_position(), 70019u);
  EXPECT_EQ(r.stats().gaps, 0u);
}

TEST(StreamReassembler, ReordersWithinWindow) {
  StreamReassembler r(4);
  Recorder out;
  r.Push(0, 10, "aaaaa", 5, out);
  r.Push(10, 12, "ccccc", 5, out);  // ahead: held
  r.Push(15, 13, "ddd", 3, out);    // ahead: held
  EXPECT_EQ(out.events, (Events{"10:aaaaa+0"}));
  r.Push(5, 11, "bbbbb", 5, out);  // fills the hole: everything contiguous follows, each with its own ts
  EXPECT_EQ(out.events, (Events{"10:aaaaa+0", "11:bbbbb+0", "12:ccccc+0", "13:ddd+0"}));
  EXPECT_EQ(r.next_position(), 18u);
  EXPECT_EQ(r.stats().gaps, 0u);
  EXPECT_EQ(r.stats().overlap_bytes, 0u);
}

TEST(StreamReassembler, WindowOverflowDeclaresGapOfExactlyTheMissingBytes) {
  StreamReassembler r(2);
  Recorder out;
  r.Push(0, 10, "01234", 5, out);
  // Bytes 5..7 never arrive.
  r.Push(8, 12, "89", 2, out);
  r.Push(10, 13, "ab", 2, out);
  EXPECT_EQ(out.events.size(), 1u);  // two held: window full but not overflowing
  r.Push(20, 15, "kl", 2, out);      // third held chunk overflows the window
  EXPECT_EQ(out.events, (Events{"10:01234+0", "gap:3", "12:89+0", "13:ab+0"}));
  EXPECT_EQ(r.next_position(), 12u);  // 12..19 still missing; "kl" waits
  EXPECT_EQ(r.stats().gaps, 1u);
  EXPECT_EQ(r.stats().gap_bytes, 3u);
  r.Push(12, 14, "cdefghij", 8, out);
  EXPECT_EQ(out.events.back(), "15:kl+0");
  EXPECT_EQ(r.next_position(), 22u);
  EXPECT_EQ(r.stats().gaps, 1u);
}

TEST(StreamReassembler, ZeroWindowTurnsEveryHoleIntoAGap) {
  StreamReassembler r(0);
  Recorder out;
  r.Push(0, 1, "ab", 2, out);
  r.Push(7, 2, "hi", 2, out);
  r.Push(5, 3, "fg", 2, out);  // late: already declared lost
  EXPECT_EQ(out.events, (Events{"1:ab+0", "gap:5", "2:hi+0"}));
  EXPECT_EQ(r.stats().gap_bytes, 5u);
  EXPECT_EQ(r.stats().overlap_bytes, 2u);
}

TEST(StreamReassembler, DropsDuplicates) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "hello", 5, out);
  r.Push(0, 11, "hello", 5, out);
  r.Push(2, 12, "llo", 3, out);
  EXPECT_EQ(out.events, (Events{"10:hello+0"}));
  EXPECT_EQ(r.stats().overlap_bytes, 8u);
  EXPECT_EQ(r.next_position(), 5u);
}

TEST(StreamReassembler, TrimsOverlappingPrefix) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "hello", 5, out);
  r.Push(3, 11, "lo world", 8, out);
  EXPECT_EQ(out.events, (Events{"10:hello+0", "11: world+0"}));
  EXPECT_EQ(r.stats().overlap_bytes, 2u);
  EXPECT_EQ(r.next_position(), 11u);
}

TEST(StreamReassembler, TrimsHeldChunksThatOverlapEachOther) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "ABCDE", 5, out);
  r.Push(10, 12, "KLMNO", 5, out);
  r.Push(12, 13, "MNOPQ", 5, out);
  r.Push(10, 14, "KLM", 3, out);  // same start as a held chunk, shorter: dropped
  r.Push(5, 11, "FGHIJ", 5, out);
  EXPECT_EQ(out.events, (Events{"10:ABCDE+0", "11:FGHIJ+0", "12:KLMNO+0", "13:PQ+0"}));
  EXPECT_EQ(r.stats().overlap_bytes, 6u);
  EXPECT_EQ(r.next_position(), 17u);
}

TEST(StreamReassembler, PassesUncopiedTailsThrough) {
  StreamReassembler r;
  Recorder out;
  const std::string head(4096, 'x');
  r.Push(0, 10, head, 1 << 20, out);  // 1 MiB written, first 4 KiB copied
  r.Push(1 << 20, 11, "next", 4, out);
  EXPECT_EQ(out.events, (Events{"10:" + head + "+" + std::to_string((1 << 20) - 4096), "11:next+0"}));
  EXPECT_EQ(r.next_position(), (1u << 20) + 4);
}

TEST(StreamReassembler, TrimEndingInsideCopiedPrefixKeepsTheRestOfTheCopy) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "abcdef", 6, out);
  r.Push(4, 11, "efgh", 10, out);  // 4 copied, 6 uncopied; 2 already seen
  EXPECT_EQ(out.events, (Events{"10:abcdef+0", "11:gh+6"}));
  EXPECT_EQ(r.stats().overlap_bytes, 2u);
  EXPECT_EQ(r.next_position(), 14u);
}

TEST(StreamReassembler, TrimReachingIntoUncopiedTailShortensTheTail) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "abcdef", 6, out);
  r.Push(2, 11, "cd", 8, out);  // 2 copied + 6 uncopied; 4 already seen (2 copied, 2 uncopied)
  EXPECT_EQ(out.events, (Events{"10:abcdef+0", "11:+4"}));
  EXPECT_EQ(r.stats().overlap_bytes, 4u);
  EXPECT_EQ(r.next_position(), 10u);
}

TEST(StreamReassembler, FlushReportsEveryHole) {
  StreamReassembler r;
  Recorder out;
  r.Push(0, 10, "01234", 5, out);
  r.Push(10, 12, "abcde", 5, out);
  r.Push(20, 13, "klm", 3, out);
  r.Flush(out);
  EXPECT_EQ(out.events, (Events{"10:01234+0", "gap:5", "12:abcde+0", "gap:5", "13:klm+0"}));
  EXPECT_EQ(r.stats().gaps, 2u);
  EXPECT_EQ(r.stats().gap_bytes, 10u);
  EXPECT_EQ(r.next_position(), 23u);
  r.Flush(out);  // nothing held: nothing happens
  EXPECT_EQ(out.events.size(), 5u);
}

TEST(StreamReassembler, IgnoresEmptyChunks) {
  StreamReassembler r;
  Recorder out;
  r.Push(100, 10, "", 0, out);  // does not set the start either
  r.Push(5, 11, "abc", 3, out);
  EXPECT_EQ(out.events, (Events{"11:abc+0"}));
  EXPECT_EQ(r.next_position(), 8u);
}

StreamChunk Chunk(uint64_t position, uint64_t ts, std::string_view bytes, uint32_t lost_events = 0,
                  uint32_t lost_starts = 0, bool unseen = false) {
  return StreamChunk{position, ts, bytes, bytes.size(), lost_events, lost_starts, unseen};
}

TEST(StreamReassembler, ReportedLossDeclaresTheHoleAtOnce) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "GET /a HTTP/1.1\r\n\r\n"), out);
  // The next request was dropped (ring buffer full); the one after carries the count.
  r.Push(Chunk(39, 30, "GET /c HTTP/1.1\r\n\r\n", 1, 1), out);
  EXPECT_EQ(out.events,
            (Events{"10:GET /a HTTP/1.1\r\n\r\n+0", "gap:20 lost 1/1", "30:GET /c HTTP/1.1\r\n\r\n+0"}));
  EXPECT_FALSE(r.holding());
  EXPECT_EQ(r.stats().gaps, 1u);
  EXPECT_EQ(r.stats().gap_bytes, 20u);
}

TEST(StreamReassembler, ReportOnALaterChunkExplainsAnEarlierHole) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Push(Chunk(8, 12, "cccc"), out);  // reached the ring ahead of the drop it follows: no count yet
  EXPECT_TRUE(r.holding());
  r.Push(Chunk(12, 13, "dddd", 1, 0), out);
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "gap:4 lost 1/0", "12:cccc+0", "13:dddd+0"}));
}

TEST(StreamReassembler, ExpireDeclaresHolesOlderThanTheCutoff) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Push(Chunk(8, 100, "cccc"), out);
  r.Expire(100, out);  // captured at the cutoff: may still be reordered
  EXPECT_EQ(out.events.size(), 1u);
  r.Expire(101, out);
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "gap:4", "100:cccc+0"}));
  EXPECT_FALSE(r.holding());
}

TEST(StreamReassembler, KnownStartMakesLossBeforeTheFirstChunkAGap) {
  StreamReassembler r;
  Recorder out;
  r.StartAt(0);
  r.Push(Chunk(25, 10, "HTTP/1.1 200 OK\r\n", 1, 1), out);
  EXPECT_EQ(out.events, (Events{"gap:25 lost 1/1", "10:HTTP/1.1 200 OK\r\n+0"}));
}

TEST(StreamReassembler, UnseenBytesBecomeAGapOfUnknownLength) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Push(Chunk(4, 11, "bbbb", 0, 0, /*unseen=*/true), out);  // a missed return: positions never counted it
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "gap:0+?", "11:bbbb+0"}));
}

TEST(StreamReassembler, FlushReportsLossAfterTheLastChunk) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Flush(out, 2, 1);  // the close said two events were dropped after it
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "gap:0+? lost 2/1"}));
  r.Flush(out);
  EXPECT_EQ(out.events.size(), 2u);
}

TEST(StreamReassembler, UnseenChunkAheadWaitsForTheChunkReorderedBeforeIt) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Push(Chunk(8, 12, "cccc", 0, 0, /*unseen=*/true), out);  // ahead: held with its mark
  r.Push(Chunk(4, 11, "bbbb"), out);                         // the reordered one fills the hole
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "11:bbbb+0", "gap:0+?", "12:cccc+0"}));
  EXPECT_EQ(r.stats().overlap_bytes, 0u);
}

TEST(StreamReassembler, LossBeforeTheFirstChunkOfAnUnopenedStreamIsReportedBeforeIt) {
  StreamReassembler r;  // no StartAt: the open was not seen
  Recorder out;
  r.Push(Chunk(500, 10, "GET /x HTTP/1.1\r\n\r\n", 2, 1), out);
  EXPECT_EQ(out.events, (Events{"gap:0+? lost 2/1", "10:GET /x HTTP/1.1\r\n\r\n+0"}));
}

TEST(StreamReassembler, ReportsArrivingAfterTheirHoleWasDeclaredAreDroppedAndCounted) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Push(Chunk(8, 11, "cccc"), out);
  r.Expire(12, out);                         // declared without a count
  r.Push(Chunk(12, 13, "dddd", 1, 0), out);  // the count comes after
  r.Expire(14, out);
  EXPECT_EQ(r.stats().late_reports, 1u);
  r.Push(Chunk(20, 15, "ffff"), out);  // a later hole is not given that count
  r.Flush(out);
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "gap:4", "11:cccc+0", "13:dddd+0", "gap:4", "15:ffff+0"}));
}

TEST(StreamReassembler, FlushGivesHeldHolesTheirReportsAndTheCloseItsOwn) {
  StreamReassembler r;
  Recorder out;
  r.Push(Chunk(0, 10, "aaaa"), out);
  r.Push(Chunk(8, 11, "cccc"), out);  // held
  r.Flush(out, 1, 1);                 // the close reports one more, after everything delivered
  EXPECT_EQ(out.events, (Events{"10:aaaa+0", "gap:4", "11:cccc+0", "gap:0+? lost 1/1"}));
}

TEST(StreamReassembler, ANodeWideBudgetBoundsHeldBytes) {
  HoldBudget budget;
  budget.capacity = 6;
  Recorder out1, out2;
  {
    StreamReassembler a(16, &budget), b(16, &budget);
    a.Push(Chunk(0, 10, "aa"), out1);
    a.Push(Chunk(4, 11, "cccc"), out1);  // held: 4 of 6 bytes
    EXPECT_EQ(budget.used, 4u);
    b.Push(Chunk(0, 10, "xx"), out2);
    b.Push(Chunk(6, 12, "zzz"), out2);  // no room: its hole is declared at once
    EXPECT_EQ(budget.refused, 1u);
    EXPECT_EQ(out2.events, (Events{"10:xx+0", "gap:4", "12:zzz+0"}));
    EXPECT_EQ(budget.used, 4u);
  }
  EXPECT_EQ(budget.used, 0u);  // released with the streams
}

}  // namespace
}  // namespace l7tap::protocols
