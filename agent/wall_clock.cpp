#include "agent/wall_clock.h"

#include <time.h>

#include <cstdio>

namespace l7tap::agent {
namespace {

int64_t Now(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

WallClock::WallClock() : offset_ns_(Now(CLOCK_REALTIME) - Now(CLOCK_MONOTONIC)) {}

std::string WallClock::Rfc3339(int64_t wall_ns, int digits) {
  int64_t secs = wall_ns / 1'000'000'000, frac = wall_ns % 1'000'000'000;
  if (frac < 0) secs -= 1, frac += 1'000'000'000;  // before 1970: floor, not truncation
  const time_t t = time_t(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out = when;
  if (digits > 0) {
    char f[16];
    std::snprintf(f, sizeof(f), "%09lld", static_cast<long long>(frac));
    out.append(".").append(f, size_t(digits > 9 ? 9 : digits));
  }
  return out + "Z";
}

}  // namespace l7tap::agent
