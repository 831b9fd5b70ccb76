#pragma once
// One DNS message (RFC 1035 wire format) reduced to what latency metrics need: header fields and questions.
// Parsing is delegated to ldns, which bounds-checks every record and rejects compression loops.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace l7tap::protocols {

struct DnsQuestion {
  std::string name;  // lowercase, no trailing dot, "." for the root; non-printable bytes as \DDD (ldns)
  uint16_t type = 0;
  uint16_t klass = 0;
};

struct DnsMessage {
  uint16_t id = 0;
  bool response = false;  // QR bit
  uint8_t opcode = 0;
  uint8_t rcode = 0;                   // the 4 header bits (EDNS extended bits are not included)
  bool truncated = false;              // TC bit
  std::vector<DnsQuestion> questions;  // 1 to 4
};

// The whole message must be well formed (every section), as a complete datagram or TCP message is.
// Errors are short reasons: "shorter than a DNS header", "question count 0", "malformed (ldns: ...)".
Result<DnsMessage> ParseDnsMessage(std::span<const uint8_t> bytes);

// For a message of which only a prefix was captured: header and questions are parsed, the record sections
// (which the prefix cuts) are ignored. Bytes after the questions are not looked at.
Result<DnsMessage> ParseDnsMessageHead(std::span<const uint8_t> prefix);

// Bounded label values for metrics: the common types and rcodes by name, anything else "_OTHER".
const char* DnsTypeName(uint16_t type);
const char* DnsRcodeName(uint8_t rcode);

}  // namespace l7tap::protocols
