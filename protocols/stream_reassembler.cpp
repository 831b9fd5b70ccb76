#include "protocols/stream_reassembler.h"

#include <algorithm>

namespace l7tap::protocols {

StreamReassembler::StreamReassembler(size_t max_pending, HoldBudget* budget)
    : max_pending_(uint32_t(max_pending)), budget_(budget) {}

StreamReassembler::~StreamReassembler() { Reset(); }

void StreamReassembler::Reset() {
  if (held_)
    for (const auto& [position, h] : *held_) Release(h);
  held_.reset();
  started_ = false;
  next_ = 0;
  lost_events_ = lost_starts_ = 0;
}

void StreamReassembler::StartAt(uint64_t position) {
  if (started_) return;
  started_ = true;
  next_ = position;
}

void StreamReassembler::Release(const Held& h) {
  if (budget_) budget_->used -= h.copied.size();
}

StreamGap StreamReassembler::TakeReports(uint64_t missing, bool length_known) {
  StreamGap gap{missing, length_known, lost_events_ > 0, lost_events_, lost_starts_};
  lost_events_ = lost_starts_ = 0;
  return gap;
}

void StreamReassembler::Push(const StreamChunk& c, StreamConsumer& out) {
  const uint64_t length = std::max<uint64_t>(c.length, c.copied.size());  // a copy never exceeds the chunk
  if (!started_ && length > 0) {
    started_ = true;
    next_ = c.position;
    // Losses before the first chunk seen: where they were is not known, only that they came before it.
    if (c.lost_events > 0) Report(StreamGap{0, false, true, c.lost_events, c.lost_starts}, out);
  } else if (c.lost_events > 0) {
    if (lost_events_ == 0) reports_ts_ = c.ts_ns;
    lost_events_ += c.lost_events;
    lost_starts_ += c.lost_starts;
  }
  if (length == 0) return;
  if (c.position <= next_) {
    if (c.unseen) Report(TakeReports(0, false), out);  // bytes moved unseen right before it
    Deliver(c.position, c.ts_ns, c.copied, length, out);
    DrainReady(out);
    // A report that came on a chunk reordered ahead of the hole it explains.
    if (lost_events_ > 0 && holding()) DeclareHole(out);
    return;
  }
  if (budget_ && budget_->used + c.copied.size() > budget_->capacity) {
    // No room to wait for reordered chunks: the holes before this one are declared now.
    ++budget_->refused;
    while (holding() && held_->begin()->first < c.position) DeclareHole(out);
    if (c.position > next_) Report(TakeReports(c.position - next_, true), out);
    next_ = std::max(next_, c.position);
    if (c.unseen) Report(TakeReports(0, false), out);
    Deliver(c.position, c.ts_ns, c.copied, length, out);
    DrainReady(out);
    return;
  }
  if (!held_) held_ = std::make_unique<std::map<uint64_t, Held>>();
  auto [it, inserted] =
      held_->try_emplace(c.position, Held{c.ts_ns, std::string(c.copied), length, c.unseen});
  if (inserted) {
    if (budget_) budget_->used += c.copied.size();
  } else {  // same start seen twice: keep the longer copy, the rest was a duplicate
    stats_.overlap_bytes += std::min(it->second.length, length);
    if (length > it->second.length) {
      Release(it->second);
      it->second = Held{c.ts_ns, std::string(c.copied), length, c.unseen};
      if (budget_) budget_->used += c.copied.size();
    }
  }
  // The kernel said events were lost: the hole is theirs, nothing is reordered into it.
  if (lost_events_ > 0 || held_->size() > max_pending_) DeclareHole(out);
}

void StreamReassembler::Expire(uint64_t cutoff_ns, StreamConsumer& out) {
  while (holding() && held_->begin()->second.ts_ns < cutoff_ns) DeclareHole(out);
  // Reports with no hole left to explain came late (their hole was declared without them): a hole found
  // later is not theirs.
  if (!holding() && lost_events_ > 0 && reports_ts_ < cutoff_ns) {
    stats_.late_reports += lost_events_;
    lost_events_ = lost_starts_ = 0;
  }
}

void StreamReassembler::Flush(StreamConsumer& out, uint32_t lost_events, uint32_t lost_starts) {
  while (holding()) DeclareHole(out);
  lost_events_ += lost_events;
  lost_starts_ += lost_starts;
  // Lost after the last chunk delivered: where the stream ended is not known.
  if (lost_events_ > 0) Report(TakeReports(0, false), out);
}

void StreamReassembler::DeclareHole(StreamConsumer& out) {
  const uint64_t start = held_->begin()->first;
  if (start > next_) {
    const StreamGap gap = TakeReports(start - next_, true);
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
    Release(h);
    if (h.unseen) Report(TakeReports(0, false), out);
    Deliver(node.key(), h.ts_ns, h.copied, h.length, out);
  }
}

}  // namespace l7tap::protocols
