#pragma once
// Puts one direction of a connection back in byte order from chunks tagged with their stream position.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace l7tap::protocols {

// Receives the in-order stream. `uncopied_tail` bytes followed `bytes` in the stream but were not captured
// (over the copy cap): their count is known, their content is not.
class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  virtual void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) = 0;
  // `missing` bytes of the stream were never seen (lost events or reordering beyond the window).
  virtual void OnGap(uint64_t missing) = 0;
};

struct ReassemblerStats {
  uint64_t gaps = 0;           // OnGap calls
  uint64_t gap_bytes = 0;      // bytes reported missing
  uint64_t overlap_bytes = 0;  // bytes seen twice and dropped
};

class StreamReassembler {
 public:
  // Chunks ahead of the expected position wait in a window of at most `max_pending` chunks; when the
  // window is full the hole before the earliest held chunk is declared a gap.
  explicit StreamReassembler(size_t max_pending = 16);

  // `copied` is a prefix of the `length` stream bytes starting at `position` (copied.size() <= length).
  // The first chunk sets the start (capture may begin mid-stream); bytes already delivered are trimmed.
  void Push(uint64_t position, uint64_t ts_ns, std::string_view copied, uint64_t length, StreamConsumer& out);
  // Delivers everything held, reporting holes as gaps (connection closed).
  void Flush(StreamConsumer& out);

  uint64_t next_position() const { return next_; }
  const ReassemblerStats& stats() const { return stats_; }

 private:
  struct Held {
    uint64_t ts_ns;
    std::string copied;
    uint64_t length;
  };
  void Deliver(uint64_t position, uint64_t ts_ns, std::string_view copied, uint64_t length,
               StreamConsumer& out);
  void DrainReady(StreamConsumer& out);

  size_t max_pending_;
  bool started_ = false;  // the first chunk seen sets the start position (capture may begin mid-stream)
  uint64_t next_ = 0;
  std::map<uint64_t, Held> held_;
  ReassemblerStats stats_;
};

}  // namespace l7tap::protocols
