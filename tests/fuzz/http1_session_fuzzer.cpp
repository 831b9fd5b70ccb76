// Http1Session on both directions of one connection, chunked and interrupted as the input says (format:
// fuzz_records.h). Config byte: role (% 3: unknown, client, server); bit 2: no OnClose at the end (the
// destructor ends the session). Ops (low 3 bits; bit 3 is the direction, egress or ingress):
//   0, 4: data   1: data then an uncopied tail of 2^(op >> 4) bytes   2: gap of `value` bytes (nothing known)
//   3: close (later calls are ignored)   5: Quiesce, then data   6: data through consumer(dir)
//   7: gap through consumer(dir), as the reassembler reports one: bit 4 length unknown, bit 5 counted by the
//      kernel, bits 6-7 message starts lost in it
// Every transaction handed out is checked for what the agent relies on and routed like the agent does.
#include <cstdint>
#include <cstdlib>

#include "protocols/http1_session.h"
#include "tests/fuzz/fuzz_records.h"
#include "tests/fuzz/transaction_checks.h"

using l7tap::protocols::Direction;
using l7tap::protocols::HttpTransaction;
using l7tap::protocols::Role;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  l7tap::fuzz::Records records(data, size);
  const uint8_t config = records.Config();
  const auto role = static_cast<Role>(config % 3);
  uint64_t ts = 1'000'000;
  l7tap::protocols::Http1Session session(role,
                                         [&](HttpTransaction&& t) { l7tap::fuzz::CheckTransaction(t, ts); });

  uint8_t op = 0;
  uint16_t value = 0;
  while (records.Next(op, value)) {
    ts += 1000 + (op >> 4);
    const Direction dir = (op & 8) != 0 ? Direction::kIngress : Direction::kEgress;
    switch (op & 7) {
      case 1:
        session.OnData(dir, ts, records.Take(value), uint64_t{1} << (op >> 4));
        break;
      case 2:
        session.OnGap(dir, value);
        break;
      case 3:
        session.OnClose();
        break;
      case 6:
        session.consumer(dir).OnData(ts, records.Take(value), 0);
        break;
      case 5:
        session.Quiesce();
        session.OnData(dir, ts, records.Take(value), 0);
        break;
      case 7: {
        l7tap::protocols::StreamGap gap{value};
        gap.length_known = (op & 0x10) == 0;
        gap.counted = (op & 0x20) != 0;
        gap.lost_events = gap.counted ? 1 + (op >> 6) : 0;
        gap.lost_starts = gap.counted ? op >> 6 : 0;
        session.consumer(dir).OnGap(gap);
        break;
      }
      default:
        session.OnData(dir, ts, records.Take(value), 0);
        break;
    }
  }
  if ((config & 4) == 0) session.OnClose();
  return 0;
}
