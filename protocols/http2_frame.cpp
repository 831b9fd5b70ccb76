#include "protocols/http2_frame.h"

namespace l7tap::protocols {

Http2FrameHeader DecodeFrameHeader(const uint8_t* p) {
  Http2FrameHeader h;
  h.length = uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
  h.type = p[3];
  h.flags = p[4];
  h.reserved_bit = (p[5] & 0x80) != 0;
  h.stream_id = (uint32_t(p[5]) & 0x7f) << 24 | uint32_t(p[6]) << 16 | uint32_t(p[7]) << 8 | p[8];
  return h;
}

bool PlausibleFrameHeader(const Http2FrameHeader& h, uint32_t max_frame_size) {
  using namespace http2_flags;
  if (h.reserved_bit || h.length > max_frame_size) return false;
  const bool connection = h.stream_id == 0;
  switch (h.kind()) {
    case Http2FrameType::kData:
      return !connection && (h.flags & ~(kEndStream | kPadded)) == 0;
    case Http2FrameType::kHeaders:
      return !connection && (h.flags & ~(kEndStream | kEndHeaders | kPadded | kPriority)) == 0;
    case Http2FrameType::kPriority:
      return !connection && h.flags == 0 && h.length == 5;
    case Http2FrameType::kRstStream:
      return !connection && h.flags == 0 && h.length == 4;
    case Http2FrameType::kSettings:
      return connection && (h.flags & ~kAck) == 0 && h.length % 6 == 0 &&
             (!(h.flags & kAck) || h.length == 0);
    case Http2FrameType::kPushPromise:
      return !connection && (h.flags & ~(kEndHeaders | kPadded)) == 0 && h.length >= 4;
    case Http2FrameType::kPing:
      return connection && (h.flags & ~kAck) == 0 && h.length == 8;
    case Http2FrameType::kGoaway:
      return connection && h.flags == 0 && h.length >= 8;
    case Http2FrameType::kWindowUpdate:
      return h.flags == 0 && h.length == 4;
    case Http2FrameType::kContinuation:
      return !connection && (h.flags & ~kEndHeaders) == 0;
  }
  return false;
}

bool StartsWithHttp2Frames(std::string_view bytes, uint32_t max_frame_size) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t at = 0;
  bool any = false;
  while (at + kHttp2FrameHeaderSize <= bytes.size()) {
    const Http2FrameHeader h = DecodeFrameHeader(p + at);
    if (!PlausibleFrameHeader(h, max_frame_size)) return false;
    any = true;
    at += kHttp2FrameHeaderSize + h.length;
  }
  return any;
}

}  // namespace l7tap::protocols
