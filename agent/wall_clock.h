#pragma once
// Kernel timestamps are CLOCK_MONOTONIC; what people and programs read is wall-clock time (UTC). The offset
// between the two clocks is taken once, at construction.
#include <cstdint>
#include <string>

namespace l7tap::agent {

class WallClock {
 public:
  WallClock();
  explicit WallClock(int64_t realtime_minus_monotonic_ns) : offset_ns_(realtime_minus_monotonic_ns) {}
  int64_t WallNs(uint64_t monotonic_ns) const { return int64_t(monotonic_ns) + offset_ns_; }
  // RFC 3339 in UTC with `digits` fractional digits (0–9): "2026-11-22T05:25:07.611Z" for 3.
  static std::string Rfc3339(int64_t wall_ns, int digits);

 private:
  int64_t offset_ns_;
};

}  // namespace l7tap::agent
