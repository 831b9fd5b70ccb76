#include "protocols/dns_tcp_framer.h"

#include <algorithm>

namespace l7tap::protocols {
namespace {

// A buffer grown for one large message (up to 64 KiB) is not kept for the rest of a long connection.
constexpr size_t kKeptCapacity = 4096;

}  // namespace

void DnsTcpFramer::Push(uint64_t ts_ns, std::span<const uint8_t> bytes, uint64_t uncopied_tail,
                        const Sink& out) {
  if (lost_) return;
  size_t i = 0;
  while (i < bytes.size()) {
    if (!in_message_) {
      if (prefix_have_ == 0) first_ts_ns_ = ts_ns;
      prefix_[prefix_have_++] = bytes[i++];
      if (prefix_have_ < 2) continue;
      prefix_have_ = 0;
      in_message_ = true;
      length_ = static_cast<uint32_t>(prefix_[0] << 8 | prefix_[1]);
      consumed_ = 0;
      cut_ = false;
      if (length_ == 0) Emit(ts_ns, {}, out);  // not DNS; the parser says so, framing is unaffected
      continue;
    }
    const size_t take = std::min<size_t>(length_ - consumed_, bytes.size() - i);
    const auto piece = bytes.subspan(i, take);
    i += take;
    if (consumed_ == 0 && take == length_) {
      consumed_ = length_;
      Emit(ts_ns, piece, out);  // whole message in this chunk: no copy
      continue;
    }
    // After a cut, the captured prefix ends where the hole began: later bytes of this message are not glued
    // on.
    if (!cut_) partial_.insert(partial_.end(), piece.begin(), piece.end());
    consumed_ += static_cast<uint32_t>(take);
    if (consumed_ == length_) Emit(ts_ns, partial_, out);
  }

  if (uncopied_tail == 0) return;
  if (!in_message_) {
    // The uncopied bytes begin with (part of) a length prefix: where later messages start is unknown.
    Gap();
    return;
  }
  cut_ = true;
  const uint64_t remaining = length_ - consumed_;
  if (uncopied_tail < remaining) {
    consumed_ += static_cast<uint32_t>(uncopied_tail);
    return;
  }
  consumed_ = length_;
  Emit(ts_ns, partial_, out);
  if (uncopied_tail > remaining) Gap();
}

void DnsTcpFramer::Gap() {
  lost_ = true;
  in_message_ = false;
  prefix_have_ = 0;
  partial_.clear();
  partial_.shrink_to_fit();
}

void DnsTcpFramer::Emit(uint64_t ts_ns, std::span<const uint8_t> bytes, const Sink& out) {
  out(DnsTcpMessage{first_ts_ns_, ts_ns, bytes, cut_});
  in_message_ = false;
  partial_.clear();
  if (partial_.capacity() > kKeptCapacity) partial_.shrink_to_fit();
}

}  // namespace l7tap::protocols
