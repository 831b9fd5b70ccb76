// Both directions of one connection through StreamReassembler into Http1Session, as the tracker feeds them:
// chunks delivered, dropped (the loss reported on the next chunk of that direction, as the kernel does),
// held back and delivered out of order, marked unseen; reorder timeouts, quiescing, close with the residual
// loss (format: fuzz_records.h). Config byte: role (% 3); bit 2: the stream starts at 0 (open seen).
// Ops (low 3 bits; bit 3 the direction):
//   0, 4: chunk delivered    1: chunk dropped    2: chunk held back    3: held chunks delivered
//   5: Expire (reorder grace past)    6: Quiesce    7: chunk delivered with bytes unseen before it
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocols/http1_session.h"
#include "protocols/stream_reassembler.h"
#include "tests/fuzz/fuzz_records.h"
#include "tests/fuzz/transaction_checks.h"

using l7tap::protocols::Direction;
using l7tap::protocols::HttpTransaction;
using l7tap::protocols::Role;
using l7tap::protocols::StreamChunk;
using l7tap::protocols::StreamReassembler;

namespace {

// What the kernel's check says a dropped chunk began: a request or a status line.
bool StartsMessage(std::string_view b) {
  if (b.starts_with("HTTP/1.")) return true;
  size_t i = 0;
  while (i < b.size() && i <= 20 && ((b[i] >= 'A' && b[i] <= 'Z') || b[i] == '-' || b[i] == '_')) ++i;
  return i >= 3 && i < b.size() && b[i] == ' ';
}

struct Held {
  uint64_t position, ts;
  std::string bytes;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  l7tap::fuzz::Records records(data, size);
  const uint8_t config = records.Config();
  const auto role = static_cast<Role>(config % 3);
  uint64_t ts = 1'000'000;
  l7tap::protocols::Http1Session session(role,
                                         [&](HttpTransaction&& t) { l7tap::fuzz::CheckTransaction(t, ts); });
  std::array<StreamReassembler, 2> streams;
  if (config & 4)
    for (auto& s : streams) s.StartAt(0);
  std::array<uint64_t, 2> position{};
  std::array<uint32_t, 2> lost{}, starts{};
  std::array<std::vector<Held>, 2> held;

  auto deliver = [&](int d, uint64_t pos, uint64_t at, std::string_view bytes, bool unseen) {
    StreamChunk c{pos,   at, bytes, bytes.size(), std::exchange(lost[d], 0), std::exchange(starts[d], 0),
                  unseen};
    streams[d].Push(c, session.consumer(Direction(d)));
  };
  uint8_t op = 0;
  uint16_t value = 0;
  while (records.Next(op, value)) {
    ts += 1000 + (op >> 4);
    const int d = (op & 8) != 0 ? 1 : 0;
    switch (op & 7) {
      case 1: {
        const std::string_view bytes = records.Take(value);
        if (bytes.empty()) break;
        ++lost[d];
        starts[d] += StartsMessage(bytes) ? 1 : 0;
        position[d] += bytes.size();
        break;
      }
      case 2: {
        const std::string_view bytes = records.Take(value);
        if (bytes.empty() || held[d].size() >= 32) break;
        held[d].push_back({position[d], ts, std::string(bytes)});
        position[d] += bytes.size();
        break;
      }
      case 3:
        for (auto& h : held[d]) deliver(d, h.position, h.ts, h.bytes, false);
        held[d].clear();
        break;
      case 5:
        for (int i = 0; i < 2; ++i) streams[i].Expire(ts, session.consumer(Direction(i)));
        break;
      case 6:
        session.Quiesce();
        break;
      default: {
        const std::string_view bytes = records.Take(value);
        deliver(d, position[d], ts, bytes, (op & 7) == 7);
        position[d] += bytes.size();
        break;
      }
    }
  }
  for (int d = 0; d < 2; ++d) streams[d].Flush(session.consumer(Direction(d)), lost[d], starts[d]);
  session.OnClose();
  return 0;
}
