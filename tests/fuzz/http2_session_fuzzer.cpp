// Http2Session on both directions of one connection, chunked and interrupted as the input says (format:
// fuzz_records.h). Config byte: role (% 3: unknown, client, server); bit 2: the capture began with the
// connection (from_start); bit 3: no OnClose at the end. Ops (low 3 bits; bit 3 is the direction):
//   0, 4, 5, 6: data   1: data then an uncopied tail of 2^(op >> 4) bytes   2: gap of `value` bytes
//   3: close (later calls are ignored)   7: gap of unknown length
// The first data is also given to the sniffer. Every transaction handed out is checked for what the agent
// relies on.
#include <cstdint>
#include <cstdlib>

#include "protocols/http2_session.h"
#include "protocols/protocol_sniffer.h"
#include "tests/fuzz/fuzz_records.h"

using l7tap::protocols::Direction;
using l7tap::protocols::HttpTransaction;
using l7tap::protocols::Role;

namespace {

void Check(const HttpTransaction& t, uint64_t now_ns) {
  if (t.role == Role::kUnknown || t.start_ns > now_ns || t.end_ns > now_ns || t.start_ns > t.end_ns ||
      (t.status != 0 && (t.status < 100 || t.status > 999)) ||
      t.version != l7tap::protocols::HttpVersion::k2 || t.target.size() > 2048 || t.method.size() > 32 ||
      t.grpc_status < -1)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  l7tap::fuzz::Records records(data, size);
  const uint8_t config = records.Config();
  const auto role = static_cast<Role>(config % 3);
  uint64_t ts = 1'000'000;
  bool closed = false, sniffed = false;
  l7tap::protocols::Http2Session session(
      role, [&](HttpTransaction&& t) { Check(t, ts); }, (config & 4) != 0);

  uint8_t op = 0;
  uint16_t value = 0;
  while (records.Next(op, value)) {
    ts += 1000 + (op >> 4);
    const Direction dir = (op & 8) != 0 ? Direction::kIngress : Direction::kEgress;
    if (closed) break;
    switch (op & 7) {
      case 1:
        session.OnData(dir, ts, records.Take(value), uint64_t{1} << (op >> 4));
        break;
      case 2:
        session.consumer(dir).OnGap({value});
        break;
      case 3:
        session.OnClose();
        closed = true;
        break;
      case 7: {
        l7tap::protocols::StreamGap gap{value};
        gap.length_known = false;
        session.consumer(dir).OnGap(gap);
        break;
      }
      default: {
        const std::string_view bytes = records.Take(value);
        if (!sniffed) {
          sniffed = true;
          (void)l7tap::protocols::SniffStream(bytes);
        }
        session.consumer(dir).OnData(ts, bytes, 0);
        break;
      }
    }
    if (session.open_streams() > l7tap::protocols::Http2Session::kMaxStreams) std::abort();
  }
  if (!closed && (config & 8) == 0) session.OnClose();
  return 0;
}
