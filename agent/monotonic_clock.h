#pragma once
// CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns(), so kernel event times compare with it.
#include <time.h>

#include <cstdint>

namespace l7tap::agent {

inline uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

}  // namespace l7tap::agent
