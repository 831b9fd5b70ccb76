#pragma once
// The input format of the stream targets (http1_session, dns_session): one config byte, then records until
// the input ends. A record is an op byte and a 16-bit little-endian value; data ops then take `value` bytes
// of payload (fewer at the end of the input). make_corpus.py writes seeds in this format.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace l7tap::fuzz {

class Records {
 public:
  Records(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  // The config byte (0 for an empty input).
  uint8_t Config() { return rest_.empty() ? 0 : Byte(); }

  // The next record's op and value; false at the end of the input.
  bool Next(uint8_t& op, uint16_t& value) {
    if (rest_.size() < 3) return false;
    op = Byte();
    value = static_cast<uint16_t>(Byte() | (Byte() << 8));
    return true;
  }

  // The payload of a data op: `size` bytes, or what is left.
  std::string_view Take(size_t size) {
    const std::string_view taken = rest_.substr(0, std::min(size, rest_.size()));
    rest_.remove_prefix(taken.size());
    return taken;
  }

 private:
  uint8_t Byte() {
    const auto byte = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return byte;
  }

  std::string_view rest_;
};

}  // namespace l7tap::fuzz
