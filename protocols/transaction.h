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

const char* RoleName(Role role);

}  // namespace l7tap::protocols
