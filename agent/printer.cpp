#include "agent/printer.h"

#include <time.h>

#include <cstdio>

#include "protocols/dns_message.h"

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

std::string TransactionPrinter::When(uint64_t monotonic_ns) const {
  int64_t wall_ns = int64_t(monotonic_ns) + realtime_minus_monotonic_ns_;
  time_t secs = wall_ns / 1'000'000'000;
  tm utc{};
  gmtime_r(&secs, &utc);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", when, int((wall_ns / 1'000'000) % 1000));
  return out;
}

std::string TransactionPrinter::Format(const TransactionRecord& r) const {
  const auto& t = r.http;
  double ms = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e6 : 0.0;
  // Only the path, never a body; the target is cut so one line stays one line.
  std::string target = t.target.substr(0, 200);
  std::string extra;
  if (t.version == protocols::HttpVersion::k2) extra += " h2";
  if (t.end != protocols::StreamEnd::kComplete)
    extra += std::string(" ended=") + protocols::StreamEndName(t.end);
  if (t.grpc) extra += " grpc-status=" + (t.grpc_status >= 0 ? std::to_string(t.grpc_status) : "none");
  char line[640];
  std::snprintf(line, sizeof(line), "%s %-6s %s[%u] %s %s -> %d %.3fms port=%u%s%s%s", When(t.end_ns).c_str(),
                protocols::RoleName(t.role), r.service_name.c_str(), r.pid, t.method.c_str(), target.c_str(),
                t.status, ms, r.server_port,
                r.server_address.empty() ? "" : " peer=", r.server_address.c_str(), extra.c_str());
  return line;
}

std::string TransactionPrinter::Format(const DnsRecord& r) const {
  const auto& t = r.dns;
  double ms = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e6 : 0.0;
  char line[512];
  std::snprintf(line, sizeof(line), "%s %-6s %s[%u] DNS %s %s -> %s%s %.3fms %s port=%u%s%s%s%s",
                When(t.end_ns).c_str(), protocols::RoleName(t.role), r.service_name.c_str(), r.pid,
                protocols::DnsTypeName(t.type), t.name.substr(0, 253).c_str(),
                protocols::DnsRcodeName(t.rcode), t.truncated ? " (truncated)" : "", ms,
                protocols::TransportName(t.transport), r.server_port,
                r.server_address.empty() ? "" : " peer=", r.server_address.c_str(),
                r.client_address.empty() ? "" : " client=", r.client_address.c_str());
  return line;
}

}  // namespace l7tap::agent
