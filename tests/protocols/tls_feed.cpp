#include "tls_feed.h"

#include <algorithm>
#include <stdexcept>

namespace l7tap::protocols::testing {

void RecordingSink::OnPlaintext(Direction dir, uint64_t ts_ns, std::string_view bytes,
                                uint64_t uncopied_tail) {
  Received& r = received_[size_t(dir)];
  r.bytes.append(bytes);
  r.known.append(bytes.size(), '1');
  r.bytes.append(uncopied_tail, '\0');
  r.known.append(uncopied_tail, '0');
  r.tail_bytes += uncopied_tail;
  ++r.calls;
  r.ts.push_back(ts_ns);
}

void RecordingSink::OnPlaintextGap(Direction dir, const StreamGap& gap) {
  Received& r = received_[size_t(dir)];
  ++r.gaps;
  if (!gap.length_known) ++r.unknown_length_gaps;
  r.gap_bytes += gap.missing;
  r.bytes.append(gap.missing, '\0');
  r.known.append(gap.missing, '0');
}

Direction DirOf(bool from_client, Role role) {
  return from_client == (role == Role::kClient) ? Direction::kEgress : Direction::kIngress;
}

std::vector<Piece> Cut(const std::vector<TlsChunk>& chunks, Role role, const Feeding& how) {
  std::vector<TlsChunk> in(chunks.begin() + std::min(how.first_chunk, chunks.size()), chunks.end());
  if (how.per_record) {
    std::vector<TlsChunk> records;
    for (const TlsChunk& c : in)
      for (std::string& r : SplitRecords(c.bytes)) records.push_back({c.from_client, std::move(r)});
    in = std::move(records);
  }
  if (how.merge) {
    std::vector<TlsChunk> merged;
    for (const TlsChunk& c : in) {
      if (!merged.empty() && merged.back().from_client == c.from_client) {
        merged.back().bytes += c.bytes;
      } else {
        merged.push_back(c);
      }
    }
    in = std::move(merged);
  }
  std::vector<Piece> out;
  for (const TlsChunk& c : in) {
    const Direction dir = DirOf(c.from_client, role);
    const size_t step = how.split ? how.split : c.bytes.size();
    for (size_t at = 0; at < c.bytes.size(); at += step) {
      const std::string piece = c.bytes.substr(at, step);
      const size_t copied = std::min(piece.size(), how.copy);
      out.push_back({dir, piece.substr(0, copied), piece.size() - copied});
    }
  }
  return out;
}

uint64_t FeedPieces(TlsDecryptor& d, const std::vector<Piece>& pieces, uint64_t ts, uint64_t ts_step) {
  for (const Piece& p : pieces) {
    if (p.gap > 0 || p.gap_unknown) {
      StreamGap gap{p.gap};
      gap.length_known = !p.gap_unknown;
      d.consumer(p.dir).OnGap(gap);
    } else {
      d.consumer(p.dir).OnData(ts, p.bytes, p.tail);
    }
    ts += ts_step;
  }
  return ts;
}

void AddKeyLog(TlsSecretStore& store, const std::vector<std::string>& lines, uint64_t ts_ns,
               bool has_client_random, uint32_t tgid, uint64_t ssl) {
  for (const std::string& line : lines) {
    std::optional<TlsSecret> s = ParseKeyLogLine(line);
    if (!s) continue;  // labels l7tap does not use
    s->ts_ns = ts_ns;
    s->tgid = tgid;
    s->ssl = ssl;
    s->has_client_random = has_client_random;
    if (!has_client_random) s->client_random = {};
    store.Add(std::move(*s));
  }
}

}  // namespace l7tap::protocols::testing
