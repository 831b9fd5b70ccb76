#include "protocols/stream_reassembler.h"

#include <algorithm>

namespace l7tap::protocols {

StreamReassembler::StreamReassembler(size_t max_pending) : max_pending_(max_pending) {}

void StreamReassembler::Push(uint64_t position, uint64_t ts_ns, std::string_view copied, uint64_t length,
                             StreamConsumer& out) {
  length = std::max<uint64_t>(length, copied.size());  // a copy can never exceed the chunk
  if (length == 0) return;
  if (!started_) {
    started_ = true;
    next_ = position;
  }
  if (position <= next_) {
    Deliver(position, ts_ns, copied, length, out);
    DrainReady(out);
    return;
  }
  auto [it, inserted] = held_.try_emplace(position, Held{ts_ns, std::string(copied), length});
  if (!inserted) {  // same start seen twice: keep the longer copy, the rest was a duplicate
    stats_.overlap_bytes += std::min(it->second.length, length);
    if (length > it->second.length) it->second = Held{ts_ns, std::string(copied), length};
  }
  if (held_.size() <= max_pending_) return;
  const uint64_t missing = held_.begin()->first - next_;
  ++stats_.gaps;
  stats_.gap_bytes += missing;
  next_ = held_.begin()->first;
  out.OnGap(missing);
  DrainReady(out);
}

void StreamReassembler::Flush(StreamConsumer& out) {
  while (!held_.empty()) {
    const uint64_t missing = held_.begin()->first - next_;
    if (missing > 0) {
      ++stats_.gaps;
      stats_.gap_bytes += missing;
      next_ = held_.begin()->first;
      out.OnGap(missing);
    }
    DrainReady(out);
  }
}

// `position` <= next_: drops what was already delivered (it may end inside the copied prefix or inside the
// uncopied tail) and hands the rest on.
void StreamReassembler::Deliver(uint64_t position, uint64_t ts_ns, std::string_view copied, uint64_t length,
                                StreamConsumer& out) {
  const uint64_t seen = next_ - position;
  if (seen >= length) {
    stats_.overlap_bytes += length;
    return;
  }
  stats_.overlap_bytes += seen;
  copied.remove_prefix(static_cast<size_t>(std::min<uint64_t>(seen, copied.size())));
  length -= seen;
  next_ += length;
  out.OnData(ts_ns, copied, length - copied.size());
}

void StreamReassembler::DrainReady(StreamConsumer& out) {
  while (!held_.empty() && held_.begin()->first <= next_) {
    auto node = held_.extract(held_.begin());
    const Held& h = node.mapped();
    Deliver(node.key(), h.ts_ns, h.copied, h.length, out);
  }
}

}  // namespace l7tap::protocols
