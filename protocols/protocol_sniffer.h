#pragma once
// Which protocol a TCP connection carries, from the first bytes delivered for it.
#include <string_view>

namespace l7tap::protocols {

enum class StreamProtocol : uint8_t { kHttp1, kHttp2 };

// HTTP/2 is the client preface, or a chunk that begins with plausible frames: a server's SETTINGS can be
// seen before the client's preface, and a connection seen mid-way shows frames only. Everything else goes to
// HTTP/1, which refuses what is not HTTP/1 itself. Also asked of the chunks an HTTP/1 session skipped while
// looking for a message start.
StreamProtocol SniffStream(std::string_view first_bytes);

}  // namespace l7tap::protocols
