#pragma once
// What protocol parsers hand to the agent: one finished request/response exchange.
#include <array>
#include <compare>
#include <cstdint>
#include <string>

namespace l7tap::protocols {

// Role of the traced process in the connection.
enum class Role : uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

// Which way bytes moved, seen from the traced process.
enum class Direction : uint8_t { kEgress = 0, kIngress = 1 };  // egress = written, ingress = read

enum class HttpVersion : uint8_t { k10, k11, k2 };

// How an HTTP/2 stream ended.
enum class StreamEnd : uint8_t {
  kComplete,  // END_STREAM both ways
  kReset,     // RST_STREAM from either side
  kGoaway,    // GOAWAY said it would not be processed, or the connection ended with it open after a GOAWAY
  kClosed,    // the connection closed with the stream open
};

struct HttpTransaction {
  Role role = Role::kUnknown;
  uint64_t start_ns = 0;  // server: first request byte read; client: first request byte written
  uint64_t end_ns = 0;    // server: last response byte written; client: last response byte read
  std::string method;     // "GET", "POST", ...
  std::string target;     // request-target as sent (path and query)
  int status = 0;         // final (non-1xx) status code; 0 when the exchange ended before one was seen
  HttpVersion version = HttpVersion::k11;
  // HTTP/2: how the stream ended when it ended early (else kComplete).
  StreamEnd end = StreamEnd::kComplete;
  // gRPC (request content-type application/grpc*): the status from grpc-status (trailers, or a
  // trailers-only response); -1 when none was seen.
  bool grpc = false;
  int grpc_status = -1;
};

// How a DNS message travelled: one UDP datagram, or one length-prefixed message on a TCP stream.
enum class Transport : uint8_t { kUdp = 0, kTcp = 1 };

// The other end of a datagram: the address its call named (sendto, recvfrom, a msghdr's msg_name), or the
// socket's connected peer. An IPv4 address mapped into IPv6 is given as the IPv4 address it is.
struct DatagramPeer {
  uint8_t family = 0;  // 0: unknown; 4 or 6
  uint16_t port = 0;
  std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes, the rest 0
  bool known() const { return family != 0; }
  auto operator<=>(const DatagramPeer&) const = default;
};

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
  DatagramPeer peer;       // UDP: the other end (the server a client asked, the client a server answered)
};

const char* RoleName(Role role);
// OpenTelemetry's network.protocol.version: "1.0", "1.1", "2".
const char* HttpVersionName(HttpVersion v);
// error_type label of an early end ("" for kComplete).
const char* StreamEndName(StreamEnd e);
const char* TransportName(Transport transport);

}  // namespace l7tap::protocols
