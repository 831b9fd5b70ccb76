// DnsSession on one socket, UDP datagrams and TCP stream chunks in both directions as the input says
// (format: fuzz_records.h), and a DnsTcpFramer per direction fed the same stream. Config byte: bit 0: no
// Close at the end. Ops (low 3 bits; bit 3 is the direction, egress or ingress):
//   0: datagram    1: datagram cut by the capture (its length is 2^(op >> 4) bytes more)
//   2: stream data    3: stream data then an uncopied tail of 2^(op >> 4) bytes    4: stream gap
//   5: Expire(now, `value` us)    6: stream data through consumer(dir)    7: Close (the session goes on)
// Transactions and framed messages are checked for what their users rely on.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "protocols/dns_session.h"
#include "protocols/dns_tcp_framer.h"
#include "tests/fuzz/fuzz_records.h"

using l7tap::protocols::Direction;
using l7tap::protocols::DnsTcpFramer;
using l7tap::protocols::DnsTcpMessage;
using l7tap::protocols::DnsTransaction;
using l7tap::protocols::Role;

namespace {

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  l7tap::fuzz::Records records(data, size);
  const uint8_t config = records.Config();
  uint64_t ts = 1'000'000;
  l7tap::protocols::DnsSession session([&](DnsTransaction&& t) {
    if (t.role == Role::kUnknown || t.start_ns > ts || t.end_ns > ts || t.rcode > 15) std::abort();
  });
  DnsTcpFramer framers[2];
  const DnsTcpFramer::Sink check = [&](const DnsTcpMessage& m) {
    // A message is at most what a 2-byte length says; uncut, it is all of it.
    if (m.bytes.size() > 65535 || m.first_ts_ns > m.last_ts_ns || m.last_ts_ns > ts) std::abort();
  };

  uint8_t op = 0;
  uint16_t value = 0;
  while (records.Next(op, value)) {
    ts += 1000 + (op >> 4);
    const Direction dir = (op & 8) != 0 ? Direction::kIngress : Direction::kEgress;
    DnsTcpFramer& framer = framers[dir == Direction::kEgress ? 0 : 1];
    const uint64_t power = uint64_t{1} << (op >> 4);
    switch (op & 7) {
      case 0: {
        const auto bytes = AsBytes(records.Take(value));
        // Peers from the op's high bits: one socket talking to several (unconnected UDP).
        const l7tap::protocols::DatagramPeer peer{.family = 4, .port = static_cast<uint16_t>(op >> 4)};
        session.OnDatagram(dir, ts, bytes, static_cast<uint32_t>(bytes.size()), peer);
        break;
      }
      case 1: {
        const auto bytes = AsBytes(records.Take(value));
        session.OnDatagram(dir, ts, bytes, static_cast<uint32_t>(bytes.size() + power));
        break;
      }
      case 2:
      case 6: {
        const auto bytes = records.Take(value);
        if ((op & 7) == 2) {
          session.OnStream(dir, ts, AsBytes(bytes));
        } else {
          session.consumer(dir).OnData(ts, bytes, 0);
        }
        framer.Push(ts, AsBytes(bytes), 0, check);
        break;
      }
      case 3: {
        const auto bytes = AsBytes(records.Take(value));
        session.OnStream(dir, ts, bytes, power);
        framer.Push(ts, bytes, power, check);
        break;
      }
      case 4:
        session.OnStreamGap(dir);
        framer.Gap();
        if (!framer.lost()) std::abort();
        break;
      case 5:
        session.Expire(ts, uint64_t{value} * 1000);
        break;
      case 7:
        session.Close();
        if (session.pending() != 0) std::abort();
        break;
    }
    if (session.pending() > l7tap::protocols::DnsSession::kMaxPending) std::abort();
  }
  if ((config & 1) == 0) session.Close();
  return 0;
}
