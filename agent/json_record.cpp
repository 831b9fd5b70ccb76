#include "agent/json_record.h"

#include <nlohmann/json.hpp>

#include "agent/http_method.h"
#include "agent/target_redaction.h"
#include "protocols/dns_message.h"
#include "protocols/grpc_path.h"

namespace l7tap::agent {
namespace {

// Insertion order: fields read in the order README lists them.
using json = nlohmann::ordered_json;

// Fields every record has: what it is, when, how long, and which process.
void Common(json& j, const char* type, protocols::Role role, uint64_t start_ns, uint64_t end_ns,
            const WallClock& clock, uint32_t pid, const std::string& service, const std::string& container) {
  j["type"] = type;
  j["role"] = protocols::RoleName(role);
  j["start_time"] = WallClock::Rfc3339(clock.WallNs(start_ns), 9);
  j["duration_ns"] = end_ns > start_ns ? end_ns - start_ns : 0;
  // l7tap's service is the process name, which is also the executable's (comm, at most 15 bytes).
  j["service.name"] = service;
  j["process.executable.name"] = service;
  j["process.pid"] = pid;
  if (!container.empty()) j["container.id"] = container;
}

// Invalid UTF-8 (the bytes are whatever the traced process sent) becomes U+FFFD instead of an exception.
std::string Line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string JsonLine(const TransactionRecord& r, const WallClock& clock, bool full_target,
                     std::string_view route) {
  const auto& t = r.http;
  json j = json::object();
  Common(j, t.grpc ? "grpc" : "http", t.role, t.start_ns, t.end_ns, clock, r.pid, r.service_name,
         r.container_id);
  j["server.port"] = r.server_port;
  if (!r.server_address.empty()) j["server.address"] = r.server_address;
  j["network.protocol.name"] = "http";
  j["network.protocol.version"] = protocols::HttpVersionName(t.version);
  j["url.scheme"] = r.tls ? "https" : "http";
  const std::string_view method = StandardMethod(t.method);
  j["http.request.method"] = method;
  if (method != t.method) j["http.request.method_original"] = t.method;
  const TargetParts target = SplitTarget(t.target);
  j["url.path"] = target.path;
  if (full_target && target.has_query) j["url.query"] = target.query;
  if (!route.empty()) j["http.route"] = route;
  if (t.status) j["http.response.status_code"] = t.status;
  if (t.end != protocols::StreamEnd::kComplete) j["error.type"] = protocols::StreamEndName(t.end);
  if (t.grpc) {
    const protocols::GrpcMethod m = protocols::SplitGrpcPath(target.path);
    j["rpc.system"] = "grpc";
    if (!m.service.empty()) j["rpc.service"] = m.service, j["rpc.method"] = m.method;
    if (t.grpc_status >= 0) j["rpc.grpc.status_code"] = t.grpc_status;
  }
  return Line(j);
}

std::string JsonLine(const DnsRecord& r, const WallClock& clock) {
  const auto& t = r.dns;
  json j = json::object();
  Common(j, "dns", t.role, t.start_ns, t.end_ns, clock, r.pid, r.service_name, r.container_id);
  j["server.port"] = r.server_port;
  if (!r.server_address.empty()) j["server.address"] = r.server_address;
  if (!r.client_address.empty()) j["client.address"] = r.client_address;
  j["network.protocol.name"] = "dns";
  j["network.transport"] = protocols::TransportName(t.transport);
  j["dns.question.name"] = t.name;
  j["dns.question.type"] = protocols::DnsTypeName(t.type);
  j["dns.response_code"] = protocols::DnsRcodeName(t.rcode);
  j["dns.truncated"] = t.truncated;
  return Line(j);
}

}  // namespace l7tap::agent
