#pragma once
// What protocol parsers hand to the agent: one finished request/response exchange.
#include <cstdint>
#include <string>

namespace l7tap::protocols {

// Role of the traced process in the connection.
enum class Role : uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

// Which way bytes moved, seen from the traced process.
enum class Direction : uint8_t { kEgress = 0, kIngress = 1 };  // egress = written, ingress = read

struct HttpTransaction {
  Role role = Role::kUnknown;
  uint64_t start_ns = 0;  // server: first request byte read; client: first request byte written
  uint64_t end_ns = 0;    // server: last response byte written; client: last response byte read
  std::string method;     // "GET", "POST", ...
  std::string target;     // request-target as sent (path and query)
  int status = 0;         // final (non-1xx) status code
};

// How a DNS message travelled: one UDP datagram, or one length-prefixed message on a TCP stream.
enum class Transport : uint8_t { kUdp = 0, kTcp = 1 };

// One DNS query and the response that matched it.
struct DnsTransaction {
  Role role = Role::kUnknown;  // client: the process sent the query; server: it received the query
  Transport transport = Transport::kUdp;
  uint64_t start_ns = 0;   // first byte of the query (written by a client, read by a server)
  uint64_t end_ns = 0;     // last byte of the response (read by a client, written by a server)
  std::string name;        // first question: lowercase, no trailing dot ("." for the root)
  uint16_t type = 0;       // first question's type (DnsTypeName gives the label)
  uint8_t rcode = 0;       // response header's rcode (DnsRcodeName gives the label)
  bool truncated = false;  // TC bit: the answer did not fit (a client usually retries over TCP)
};

const char* RoleName(Role role);
const char* TransportName(Transport transport);

}  // namespace l7tap::protocols
