#pragma once
// Cuts one direction's TLS byte stream into records (RFC 8446 §5.1): 5-byte headers, bodies that may span
// chunks or be known in part only (over the copy cap, or lost). When unknown bytes hide where the next record
// begins, the reader says so and counts what it skips until the caller finds a record start again.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocols/stream_reassembler.h"

namespace l7tap::protocols {

inline constexpr size_t kTlsRecordHeaderSize = 5;
// RFC 5246 §6.2.3: TLSCiphertext.length may exceed 2^14 by up to 2048.
inline constexpr uint32_t kTlsMaxRecordBody = (1u << 14) + 2048;

inline constexpr uint8_t kTlsChangeCipherSpec = 20;
inline constexpr uint8_t kTlsAlert = 21;
inline constexpr uint8_t kTlsHandshake = 22;
inline constexpr uint8_t kTlsApplicationData = 23;

struct TlsRecordHeader {
  uint8_t type = 0;
  uint16_t version = 0;
  uint16_t length = 0;
};

// The header at the start of `bytes` when it could be a TLS record's: type 20-23, version 3.1-3.4, length
// within kTlsMaxRecordBody. nullopt otherwise, or when fewer than 5 bytes.
std::optional<TlsRecordHeader> ParseTlsRecordHeader(std::span<const uint8_t> bytes);

// Bytes of a record's body that were never seen.
struct TlsHole {
  uint32_t offset = 0;
  uint32_t length = 0;
  bool tail = false;  // over the copy cap of the chunk that held them (else lost: a gap)
  StreamGap gap;      // a gap's loss reports (on the first hole it left)
};

struct TlsRecord {
  TlsRecordHeader header;
  std::array<uint8_t, kTlsRecordHeaderSize> header_bytes{};
  std::span<const uint8_t> body;   // header.length bytes; those in holes are zero
  std::span<const TlsHole> holes;  // in order
  uint64_t ts_ns = 0;              // capture time of the chunk that ended the record
  bool complete() const { return holes.empty(); }
};

// What went by while record boundaries were lost.
struct TlsHidden {
  uint64_t bytes = 0;        // stream bytes (a lower bound when !length_known)
  bool length_known = true;  // false: an unknown-length gap was among them
  StreamGap gap;             // loss reports of the gaps among them
};

class TlsRecordReader {
 public:
  TlsRecordReader();
  ~TlsRecordReader();
  TlsRecordReader(const TlsRecordReader&) = delete;
  TlsRecordReader& operator=(const TlsRecordReader&) = delete;

  // Copied bytes, in stream order. Returns how many were taken: it stops after the byte that ends a record
  // (ready() then holds until Next()).
  size_t Feed(uint64_t ts_ns, std::span<const uint8_t> bytes);
  // `n` stream bytes of unknown content: an uncopied tail (`gap` null) or a gap of known length. Returns how
  // many were taken (as Feed, it stops at a record's end).
  uint64_t Skip(uint64_t ts_ns, uint64_t n, const StreamGap* gap);
  // A gap of unknown length: the record under way ends with it, and boundaries are lost. False when it ended
  // a record (ready()): call again after Next().
  bool SkipUnknown(uint64_t ts_ns, const StreamGap& gap);

  bool ready() const { return ready_; }
  const TlsRecord& record() const { return record_; }
  void Next();  // done with the record

  // Record boundaries lost: bytes go to hidden() until Resync.
  bool lost() const { return state_ == State::kLost; }
  // The header that lost the boundaries was not a TLS record's (the stream is not TLS, or out of step).
  bool bad_header() const { return bad_header_; }
  const TlsHidden& hidden() const { return hidden_; }
  // The next byte fed starts a record; returns what was hidden.
  TlsHidden Resync();
  // The record just read (ready) did not decrypt: its bytes count as hidden and boundaries are looked for
  // again after it.
  void LoseAfterRecord();

 private:
  enum class State : uint8_t { kHeader, kBody, kLost };
  void Lose(uint64_t hidden, bool known, const StreamGap* gap);
  void Hide(uint64_t n, const StreamGap* gap);
  void AddHole(uint32_t n, bool tail, const StreamGap* gap);
  void Complete(uint64_t ts_ns);

  State state_ = State::kHeader;
  bool ready_ = false;
  bool bad_header_ = false;
  std::array<uint8_t, kTlsRecordHeaderSize> header_{};
  uint8_t header_have_ = 0;
  TlsRecordHeader parsed_;
  uint32_t body_have_ = 0;  // body bytes taken (copied or in holes)
  static constexpr size_t kKeptBodyBytes = 2048;  // capacity kept between records
  std::vector<uint8_t> body_;
  std::vector<TlsHole> holes_;
  TlsRecord record_;
  TlsHidden hidden_;
};

}  // namespace l7tap::protocols
