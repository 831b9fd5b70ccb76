#pragma once
// Puts one direction of a connection back in byte order from chunks tagged with their stream position, and
// says exactly what was lost between them.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace l7tap::protocols {

// Bytes of a stream that were never seen.
struct StreamGap {
  uint64_t missing = 0;      // bytes (a lower bound when !length_known)
  bool length_known = true;  // false: bytes moved that no position counted (a missed return probe)
  bool counted = false;      // the kernel reported the events dropped in it: lost_starts is exact
  uint32_t lost_events = 0;  // with counted: events dropped in it
  uint32_t lost_starts = 0;  // with counted: how many of them began a message
};

// Receives the in-order stream. `uncopied_tail` bytes followed `bytes` in the stream but were not captured
// (over the copy cap): their count is known, their content is not.
class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  virtual void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) = 0;
  virtual void OnGap(const StreamGap& gap) = 0;
};

struct ReassemblerStats {
  uint64_t gaps = 0;           // OnGap calls
  uint64_t gap_bytes = 0;      // bytes reported missing
  uint64_t overlap_bytes = 0;  // bytes seen twice and dropped
  uint64_t late_reports = 0;   // events reported lost after their hole was declared without them
};

// Bytes held in every stream's window together (one per node, one thread): past the capacity a hole is
// declared at once instead of waiting for reordered chunks.
struct HoldBudget {
  size_t capacity = 16 << 20;
  size_t used = 0;
  uint64_t refused = 0;  // chunks not held for want of room (their hole declared at once)
};

// One captured piece of the stream, with what the kernel knew was lost before it.
struct StreamChunk {
  uint64_t position = 0;
  uint64_t ts_ns = 0;
  std::string_view copied;  // a prefix of the `length` stream bytes starting at `position`
  uint64_t length = 0;
  uint32_t lost_events = 0;  // events of this direction dropped since the previous one delivered
  uint32_t lost_starts = 0;  // of those, the ones that began a message
  bool unseen = false;       // bytes before this chunk moved without being counted in positions
};

class StreamReassembler {
 public:
  // Chunks ahead of the expected position wait in a window of at most `max_pending` chunks. The hole before
  // them is declared a gap as soon as the kernel reports events lost (a later chunk carries the count), when
  // Expire finds it older than the reorder grace (events of one stream can reach the ring buffer out of
  // order by microseconds), or when the window is full.
  // `budget` (optional, outlives the reassembler): the node-wide cap on held bytes.
  explicit StreamReassembler(size_t max_pending = 16, HoldBudget* budget = nullptr);
  ~StreamReassembler();
  StreamReassembler(const StreamReassembler&) = delete;
  StreamReassembler& operator=(const StreamReassembler&) = delete;
  // Forgets everything (a new stream on the same connection), keeping the budget.
  void Reset();
  void set_budget(HoldBudget* budget) { budget_ = budget; }

  // The stream is known to begin at `position` (the connection's open was seen): bytes lost before the
  // first chunk are a gap too. Without it, the first chunk sets the start (capture began mid-stream).
  void StartAt(uint64_t position);
  void Push(const StreamChunk& chunk, StreamConsumer& out);
  // For chunks without loss reports.
  void Push(uint64_t position, uint64_t ts_ns, std::string_view copied, uint64_t length,
            StreamConsumer& out) {
    Push(StreamChunk{position, ts_ns, copied, length}, out);
  }
  // Declares the hole before held chunks a gap when the oldest of them was captured before `cutoff_ns`.
  void Expire(uint64_t cutoff_ns, StreamConsumer& out);
  // Delivers everything held, reporting holes as gaps (connection closed). `lost_events`/`lost_starts`:
  // losses the close reported after the last chunk delivered.
  void Flush(StreamConsumer& out, uint32_t lost_events = 0, uint32_t lost_starts = 0);

  bool holding() const { return held_ && !held_->empty(); }
  uint64_t next_position() const { return next_; }
  const ReassemblerStats& stats() const { return stats_; }
  ReassemblerStats TakeStats() { return std::exchange(stats_, {}); }

 private:
  struct Held {
    uint64_t ts_ns;
    std::string copied;
    uint64_t length;
    bool unseen;  // bytes before it moved unseen: an unknown-length gap precedes it
  };
  void Deliver(uint64_t position, uint64_t ts_ns, std::string_view copied, uint64_t length,
               StreamConsumer& out);
  void DrainReady(StreamConsumer& out);
  // Declares the hole before the first held chunk (with the loss reports gathered so far).
  void DeclareHole(StreamConsumer& out);
  void Report(StreamGap gap, StreamConsumer& out);
  // The loss reports gathered so far, for the gap they explain.
  StreamGap TakeReports(uint64_t missing, bool length_known);
  void Release(const Held& h);

  uint32_t max_pending_;
  HoldBudget* budget_;
  bool started_ = false;  // the start position is known (StartAt, or the first chunk seen)
  uint64_t next_ = 0;
  // Chunks past a hole, by position; made when first needed (most streams never hold one).
  std::unique_ptr<std::map<uint64_t, Held>> held_;
  // Loss reports not yet tied to a hole (a report can arrive on a chunk that was reordered ahead of it).
  uint32_t lost_events_ = 0;
  uint32_t lost_starts_ = 0;
  uint64_t reports_ts_ = 0;  // capture time of the chunk that brought the oldest of them
  ReassemblerStats stats_;
};

}  // namespace l7tap::protocols
