// TlsDecryptor on both directions of one connection, with the secrets of a TlsSecretStore, chunked,
// interrupted and keyed as the input says (format: fuzz_records.h). Config byte: bits 0-1: role (% 3:
// unknown, client, server); bit 2: secrets come without client random (paired by trial, library object = op
// >> 4); bit 3: no OnClose at the end. Ops (low 3 bits; bit 3 is the direction):
//   0, 6: data   1: data then an uncopied tail of 2^(op >> 4) bytes   2: gap of `value` bytes
//   3: close (later calls are ignored)   4: an NSS key log line (`value` bytes) into the store
//   5: Poll `value` ms later (and the store expires)   7: gap of unknown length
// What the sink gets is checked for what the HTTP sessions behind it rely on.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocols/tls_decryptor.h"
#include "protocols/tls_record.h"
#include "tests/fuzz/fuzz_records.h"

using l7tap::protocols::Direction;
using l7tap::protocols::Role;
using l7tap::protocols::StreamGap;
using l7tap::protocols::TlsDecryptor;
using l7tap::protocols::TlsSecretStore;

namespace {

constexpr uint32_t kTgid = 77;

// Plaintext per call is at most a record's; nothing comes once the connection was given up or closed.
class CheckingSink : public l7tap::protocols::TlsPlaintextSink {
 public:
  void OnPlaintext(Direction dir, uint64_t, std::string_view bytes, uint64_t uncopied_tail) override {
    Check(dir);
    if (bytes.size() + uncopied_tail > l7tap::protocols::kTlsMaxRecordBody) std::abort();
    delivered[size_t(dir)] += bytes.size() + uncopied_tail;
  }
  void OnPlaintextGap(Direction dir, const StreamGap& gap) override {
    Check(dir);
    delivered[size_t(dir)] += gap.missing;
  }
  void Check(Direction dir) const {
    if (stopped || (dir != Direction::kEgress && dir != Direction::kIngress)) std::abort();
  }
  bool stopped = false;
  uint64_t delivered[2] = {};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  l7tap::fuzz::Records records(data, size);
  const uint8_t config = records.Config();
  const auto role = static_cast<Role>((config & 3) % 3);
  const bool without_random = (config & 4) != 0;
  uint64_t ts = 1'000'000;
  uint64_t fed[2] = {};  // stream bytes in, per direction
  TlsSecretStore store({.capacity = 64, .ttl_ns = 60'000'000'000ull});
  CheckingSink sink;
  l7tap::protocols::TlsDecryptorLimits limits;
  limits.max_buffered_bytes = 64 << 10;
  TlsDecryptor decryptor(role, store, sink, kTgid, limits);
  bool closed = false;

  uint8_t op = 0;
  uint16_t value = 0;
  while (records.Next(op, value)) {
    ts += 1000 + (op >> 4);
    const Direction dir = (op & 8) != 0 ? Direction::kIngress : Direction::kEgress;
    if (closed) break;
    switch (op & 7) {
      case 1: {
        const std::string_view bytes = records.Take(value);
        const uint64_t tail = uint64_t{1} << (op >> 4);
        fed[size_t(dir)] += bytes.size() + tail;
        decryptor.consumer(dir).OnData(ts, bytes, tail);
        break;
      }
      case 2:
        fed[size_t(dir)] += value;
        decryptor.consumer(dir).OnGap({value});
        break;
      case 3:
        decryptor.OnClose();
        closed = true;
        break;
      case 4: {
        std::optional<l7tap::protocols::TlsSecret> s = l7tap::protocols::ParseKeyLogLine(records.Take(value));
        if (!s) break;
        s->ts_ns = ts;
        if (without_random) {
          s->has_client_random = false;
          s->tgid = kTgid;
          s->ssl = op >> 4;
        }
        store.Add(std::move(*s));
        break;
      }
      case 5:
        ts += uint64_t{value} * 1'000'000;
        store.Expire(ts);
        decryptor.Poll(ts);
        break;
      case 7: {
        // The record it cut short ends in it: up to a record's body more than was counted.
        fed[size_t(dir)] += l7tap::protocols::kTlsMaxRecordBody;
        StreamGap gap{value};
        gap.length_known = false;
        decryptor.consumer(dir).OnGap(gap);
        break;
      }
      default: {
        const std::string_view bytes = records.Take(value);
        fed[size_t(dir)] += bytes.size();
        decryptor.consumer(dir).OnData(ts, bytes, 0);
        break;
      }
    }
    if (decryptor.buffered_bytes() > limits.max_buffered_bytes) std::abort();
    if (decryptor.untraced() != l7tap::protocols::TlsUntracedReason::kNone) {
      if (decryptor.key_material_bytes() != 0 || decryptor.buffered_bytes() != 0) std::abort();
      sink.stopped = true;
    }
  }
  if (!closed && (config & 8) == 0) decryptor.OnClose();
  if (decryptor.key_material_bytes() != 0 && (closed || (config & 8) == 0)) std::abort();
  // Plaintext never outgrows the ciphertext it came from (known-length gaps and tails included, and for a gap
  // of unknown length the rest of the record it cut).
  for (int d = 0; d < 2; ++d)
    if (sink.delivered[d] > fed[d]) std::abort();
  return 0;
}
