#pragma once
// Feeding captured TLS chunks to a TlsDecryptor the ways the capture can cut them, and what came out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocols/tls_decryptor.h"
#include "tls_wire.h"

namespace l7tap::protocols::testing {

// The plaintext one direction delivered: known bytes at their stream offsets, unknown ones counted.
struct Received {
  std::string bytes;  // unknown bytes are '\0'
  std::string known;  // per byte of `bytes`: '1' known, '0' not
  uint64_t tail_bytes = 0;
  uint64_t gap_bytes = 0;
  uint32_t gaps = 0;
  uint32_t unknown_length_gaps = 0;
  uint32_t calls = 0;  // OnPlaintext calls
  std::vector<uint64_t> ts;
};

class RecordingSink : public TlsPlaintextSink {
 public:
  void OnPlaintext(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override;
  void OnPlaintextGap(Direction dir, const StreamGap& gap) override;
  const Received& of(Direction dir) const { return received_[size_t(dir)]; }

 private:
  Received received_[2];
};

// How chunks reach the decryptor.
struct Feeding {
  size_t split = 0;         // each chunk cut into pieces of this many bytes (0: whole)
  size_t copy = SIZE_MAX;   // bytes copied of each piece (the rest an uncopied tail)
  bool per_record = false;  // each record its own chunk
  bool merge = false;       // consecutive chunks of one direction as one
  size_t first_chunk = 0;   // chunks before it were never seen (the capture began later)
  uint64_t ts_step = 1000;  // ns between chunks
};

// The chunks as the traced process saw them (`role`: its role, kClient or kServer), cut as `how` says.
struct Piece {
  Direction dir;
  std::string bytes;
  uint64_t tail = 0;
  uint64_t gap = 0;          // > 0: a gap of this many bytes instead of data
  bool gap_unknown = false;  // a gap of unknown length instead of data
};
std::vector<Piece> Cut(const std::vector<TlsChunk>& chunks, Role role, const Feeding& how = {});

// Feeds `pieces` in order, starting at `ts`; returns the time after the last.
uint64_t FeedPieces(TlsDecryptor& d, const std::vector<Piece>& pieces, uint64_t ts = 1000,
                    uint64_t ts_step = 1000);

// Key log lines into `store`: with their client random, or (has_client_random = false) as a source that gives
// the library object instead.
void AddKeyLog(TlsSecretStore& store, const std::vector<std::string>& lines, uint64_t ts_ns,
               bool has_client_random = true, uint32_t tgid = 0, uint64_t ssl = 0);

// The direction the traced process (role) sees the client's or server's bytes in.
Direction DirOf(bool from_client, Role role);

}  // namespace l7tap::protocols::testing
