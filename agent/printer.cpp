#include "agent/printer.h"

#include <cstdio>

#include "agent/json_record.h"
#include "agent/target_redaction.h"
#include "protocols/dns_message.h"
#include "protocols/http_route.h"

namespace l7tap::agent {

TransactionPrinter::TransactionPrinter(PrintOptions options, WallClock clock)
    : options_(std::move(options)), clock_(clock) {
  if (!options_.route) options_.route = [](std::string_view t) { return protocols::TemplateRoute(t); };
}

std::string TransactionPrinter::Format(const TransactionRecord& r) const {
  if (options_.format == PrintFormat::kJson)
    return JsonLine(r, clock_, options_.full_target,
                    r.http.grpc ? std::string() : options_.route(r.http.target));
  return Text(r);
}

std::string TransactionPrinter::Format(const DnsRecord& r) const {
  if (options_.format == PrintFormat::kJson) return JsonLine(r, clock_);
  return Text(r);
}

std::string TransactionPrinter::Text(const TransactionRecord& r) const {
  const auto& t = r.http;
  double ms = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e6 : 0.0;
  // Only the path (the query only when asked for), never a body; cut so one line stays one line.
  const std::string target = PrintableTarget(t.target, options_.full_target);
  std::string extra;
  if (t.version == protocols::HttpVersion::k2) extra += " h2";
  if (t.end != protocols::StreamEnd::kComplete)
    extra += std::string(" ended=") + protocols::StreamEndName(t.end);
  if (t.grpc) extra += " grpc-status=" + (t.grpc_status >= 0 ? std::to_string(t.grpc_status) : "none");
  char line[1024];
  std::snprintf(line, sizeof(line), "%s %-6s %s[%u] %s %s -> %d %.3fms port=%u%s%s%s",
                WallClock::Rfc3339(clock_.WallNs(t.end_ns), 3).c_str(), protocols::RoleName(t.role),
                EscapeControl(r.service_name).c_str(), r.pid, EscapeControl(t.method).c_str(), target.c_str(),
                t.status, ms, r.server_port,
                r.server_address.empty() ? "" : " peer=", r.server_address.c_str(), extra.c_str());
  return line;
}

std::string TransactionPrinter::Text(const DnsRecord& r) const {
  const auto& t = r.dns;
  double ms = t.end_ns > t.start_ns ? double(t.end_ns - t.start_ns) / 1e6 : 0.0;
  char line[1024];
  std::snprintf(line, sizeof(line), "%s %-6s %s[%u] DNS %s %s -> %s%s %.3fms %s port=%u%s%s%s%s",
                WallClock::Rfc3339(clock_.WallNs(t.end_ns), 3).c_str(), protocols::RoleName(t.role),
                EscapeControl(r.service_name).c_str(), r.pid, protocols::DnsTypeName(t.type),
                EscapeControl(t.name.substr(0, 253)).c_str(), protocols::DnsRcodeName(t.rcode),
                t.truncated ? " (truncated)" : "", ms, protocols::TransportName(t.transport), r.server_port,
                r.server_address.empty() ? "" : " peer=", r.server_address.c_str(),
                r.client_address.empty() ? "" : " client=", r.client_address.c_str());
  return line;
}

}  // namespace l7tap::agent
