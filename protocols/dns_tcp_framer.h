#pragma once
// One direction of DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message is preceded by its length as two
// big-endian bytes. Splits the in-order byte stream into messages however the stream was chunked.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace l7tap::protocols {

struct DnsTcpMessage {
  uint64_t first_ts_ns = 0;        // chunk that carried the message's first length byte
  uint64_t last_ts_ns = 0;         // chunk that carried the message's last byte
  std::span<const uint8_t> bytes;  // the message without its length prefix; only valid during the callback
  bool cut = false;                // some bytes were not captured: `bytes` is a prefix of the message
};

class DnsTcpFramer {
 public:
  using Sink = std::function<void(const DnsTcpMessage&)>;

  // In-order bytes; `uncopied_tail` bytes followed them in the stream but were not captured. Messages
  // complete in these bytes go to `out`, synchronously. Uncopied bytes inside a message only cut it; once
  // they hide a length prefix, the framing is lost (lost() turns true) and later input is ignored.
  void Push(uint64_t ts_ns, std::span<const uint8_t> bytes, uint64_t uncopied_tail, const Sink& out);
  // Bytes of the stream were lost: the partial message is dropped and, since a message boundary can no
  // longer be found with certainty, the direction is abandoned.
  void Gap();

  bool lost() const { return lost_; }

 private:
  void Emit(uint64_t ts_ns, std::span<const uint8_t> bytes, const Sink& out);

  bool lost_ = false;
  bool in_message_ = false;  // false: reading a length prefix
  uint8_t prefix_[2] = {0, 0};
  uint8_t prefix_have_ = 0;
  uint32_t length_ = 0;    // current message's length (at most 65535 by construction)
  uint32_t consumed_ = 0;  // bytes of it seen so far, captured or not
  bool cut_ = false;
  uint64_t first_ts_ns_ = 0;
  std::vector<uint8_t> partial_;  // captured bytes of a message that spans chunks
};

}  // namespace l7tap::protocols
