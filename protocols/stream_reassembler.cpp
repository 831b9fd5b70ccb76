#include "protocols/stream_reassembler.h"

#include <algorithm>

namespace l7tap::protocols {

StreamReassembler::StreamReassembler(size_t max_pending) : max_pending_(uint32_t(max_pending)) {}

void StreamReassembler::StartAt(uint64_t position) {
  if (started_) return;
  started_ = true;
  next_ = position;
}

void StreamReassembler::Push(const StreamChunk& c, StreamConsumer& out) {
  const uint64_t length = std::max<uint64_t>(c.length, c.copied.size());  // a copy never exceeds the chunk
  lost_events_ += c.lost_events;
  lost_starts_ += c.lost_starts;
  if (length == 0) return;
  StartAt(c.position);
  if (c.unseen) {
    // Bytes moved before this chunk that no position counts: whatever was held before it goes first, then
    // a gap of unknown length right before it.
    while (holding() && held_->begin()->first < c.position) DeclareHole(out);
    const uint64_t missing = c.position > next_ ? c.position - next_ : 0;
    next_ = std::max(next_, c.position);
    StreamGap gap{missing, /*length_known=*/false, lost_events_ > 0, lost_events_, lost_starts_};
    lost_events_ = lost_starts_ = 0;
    Report(gap, out);
  }
  if (c.position <= next_) {
    Deliver(c.position, c.ts_ns, c.copied, length, out);
    DrainReady(out);
    // A report that came on a chunk reordered ahead of the hole it explains.
    if (lost_events_ > 0 && holding()) DeclareHole(out);
    return;
  }
  if (!held_) held_ = std::make_unique<std::map<uint64_t, Held>>();
  auto [it, inserted] = held_->try_emplace(c.position, Held{c.ts_ns, std::string(c.copied), length});
  if (!inserted) {  // same start seen twice: keep the longer copy, the rest was a duplicate
    stats_.overlap_bytes += std::min(it->second.length, length);
    if (length > it->second.length) it->second = Held{c.ts_ns, std::string(c.copied), length};
  }
  // The kernel said events were lost: the hole is theirs, nothing is reordered into it.
  if (lost_events_ > 0 || held_->size() > max_pending_) DeclareHole(out);
}

void StreamReassembler::Expire(uint64_t cutoff_ns, StreamConsumer& out) {
  while (holding() && held_->begin()->second.ts_ns < cutoff_ns) DeclareHole(out);
}

void StreamReassembler::Flush(StreamConsumer& out, uint32_t lost_events, uint32_t lost_starts) {
  lost_events_ += lost_events;
  lost_starts_ += lost_starts;
  while (holding()) DeclareHole(out);
  if (lost_events_ > 0) {  // lost after the last chunk delivered: where the stream ended is not known
    StreamGap gap{0, /*length_known=*/false, /*counted=*/true, lost_events_, lost_starts_};
    lost_events_ = lost_starts_ = 0;
    Report(gap, out);
  }
}

void StreamReassembler::DeclareHole(StreamConsumer& out) {
  const uint64_t start = held_->begin()->first;
  if (start > next_) {
    StreamGap gap{start - next_, /*length_known=*/true, lost_events_ > 0, lost_events_, lost_starts_};
    lost_events_ = lost_starts_ = 0;
    next_ = start;
    Report(gap, out);
  }
  DrainReady(out);
}

void StreamReassembler::Report(StreamGap gap, StreamConsumer& out) {
  ++stats_.gaps;
  stats_.gap_bytes += gap.missing;
  out.OnGap(gap);
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
  while (holding() && held_->begin()->first <= next_) {
    auto node = held_->extract(held_->begin());
    const Held& h = node.mapped();
    Deliver(node.key(), h.ts_ns, h.copied, h.length, out);
  }
}

}  // namespace l7tap::protocols
