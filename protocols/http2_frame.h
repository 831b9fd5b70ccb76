#pragma once
// HTTP/2 frame headers (RFC 9113 §4.1): decoding, and the checks that tell a frame boundary from arbitrary
// bytes (connection sniffing, and finding the frames again after lost bytes).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace l7tap::protocols {

inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kHttp2FrameHeaderSize = 9;
// The largest frame a peer may announce (SETTINGS_MAX_FRAME_SIZE upper bound).
inline constexpr uint32_t kHttp2MaxFrameSize = (1u << 24) - 1;

enum class Http2FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};

namespace http2_flags {
inline constexpr uint8_t kEndStream = 0x1;   // DATA, HEADERS
inline constexpr uint8_t kAck = 0x1;         // SETTINGS, PING
inline constexpr uint8_t kEndHeaders = 0x4;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kPadded = 0x8;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kPriority = 0x20;   // HEADERS
}  // namespace http2_flags

namespace http2_settings {
inline constexpr uint16_t kHeaderTableSize = 0x1;
inline constexpr uint16_t kMaxFrameSize = 0x5;
}  // namespace http2_settings

struct Http2FrameHeader {
  uint32_t length = 0;  // payload bytes
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // reserved bit cleared
  bool reserved_bit = false;
  Http2FrameType kind() const { return static_cast<Http2FrameType>(type); }
};

// `p` points at 9 bytes.
Http2FrameHeader DecodeFrameHeader(const uint8_t* p);

// A header a conforming sender could have written: a type RFC 9113 defines, only flags that type defines, the
// reserved bit clear, a stream id that is zero exactly for connection frames, a length the type allows and at
// most `max_frame_size`. Extension frame types are valid on the wire but fail this check: it is for finding
// frame boundaries, where a false match costs more than a missed one.
bool PlausibleFrameHeader(const Http2FrameHeader& h, uint32_t max_frame_size);

// `bytes` (the start of a chunk) begins at a frame boundary: every frame header inside it is plausible,
// and at least one whole header is there.
bool StartsWithHttp2Frames(std::string_view bytes, uint32_t max_frame_size);

}  // namespace l7tap::protocols
