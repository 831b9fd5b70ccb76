#pragma once
// DNS wire messages for the tests, built with ldns the way a resolver or server would put them on the wire.
#include <cstdint>
#include <string>
#include <vector>

namespace l7tap::protocols::testing {

using Bytes = std::vector<uint8_t>;

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeNs = 2;
constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint8_t kNoError = 0;
constexpr uint8_t kServFail = 2;
constexpr uint8_t kNxDomain = 3;

// A recursive query (RD set, class IN) for `name` as glibc sends it.
Bytes Query(const std::string& name, uint16_t type, uint16_t id);

// The answer to Query(name, type, id) with `rcode`; `answers` are records in presentation format
// ("example.com. 300 IN A 93.184.216.34") for the answer section, `authority` likewise.
Bytes Response(const std::string& name, uint16_t type, uint16_t id, uint8_t rcode,
               const std::vector<std::string>& answers = {}, const std::vector<std::string>& authority = {},
               bool truncated = false);

// A 2-byte big-endian length prefix followed by `message` (DNS over TCP).
Bytes Framed(const Bytes& message);

}  // namespace l7tap::protocols::testing
