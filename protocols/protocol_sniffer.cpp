#include "protocols/protocol_sniffer.h"

#include <algorithm>

#include "protocols/http2_frame.h"

namespace l7tap::protocols {

StreamProtocol SniffStream(std::string_view first_bytes) {
  // "PRI" is no HTTP/1 method anyone uses: RFC 9113 chose the preface so that HTTP/1 servers reject it.
  const size_t n = std::min(first_bytes.size(), kHttp2Preface.size());
  if (n >= 3 && first_bytes.substr(0, n) == kHttp2Preface.substr(0, n)) return StreamProtocol::kHttp2;
  // HTTP/1 messages begin with a letter; a frame header begins with its length's high byte, 0 for any frame
  // under 64 KiB. The chain of plausible headers keeps text from passing.
  if (!first_bytes.empty() && first_bytes[0] == 0 && StartsWithHttp2Frames(first_bytes, 1u << 20))
    return StreamProtocol::kHttp2;
  return StreamProtocol::kHttp1;
}

}  // namespace l7tap::protocols
