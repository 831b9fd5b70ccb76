#include "agent/printer.h"

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

TransactionPrinter::TransactionPrinter()
    : realtime_minus_monotonic_ns_(Now(CLOCK_REALTIME) - Now(CLOCK_MONOTONIC)) {}

std::string TransactionPrinter::Format(const TransactionRecord& r) const {
  const auto& t = r.http;
  int64_t wall_ns = int64_t(t.end_ns) + realtime_minus_monotonic_ns_;
  time_t secs = wall_ns / 1'000'000'000;
  tm utc{};
  gmtime_r(&secs, &utc);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  double ms = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e6 : 0.0;
  // Only the path, never a body; the target is cut so one line stays one line.
  std::string target = t.target.substr(0, 200);
  char line[512];
  std::snprintf(line, sizeof(line), "%s.%03dZ %-6s %s[%u] %s %s -> %d %.3fms port=%u%s%s", when,
                int((wall_ns / 1'000'000) % 1000), protocols::RoleName(t.role), r.service_name.c_str(), r.pid,
                t.method.c_str(), target.c_str(), t.status, ms, r.server_port,
                r.server_address.empty() ? "" : " peer=", r.server_address.c_str());
  return line;
}

}  // namespace l7tap::agent
