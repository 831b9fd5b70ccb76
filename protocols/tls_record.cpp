#include "protocols/tls_record.h"

#include <algorithm>
#include <cstring>

namespace l7tap::protocols {

namespace {

void MergeReports(StreamGap& into, const StreamGap* gap) {
  if (!gap || !gap->counted) return;
  into.counted = true;
  into.lost_events += gap->lost_events;
  into.lost_starts += gap->lost_starts;
}

}  // namespace

std::optional<TlsRecordHeader> ParseTlsRecordHeader(std::span<const uint8_t> bytes) {
  if (bytes.size() < kTlsRecordHeaderSize) return std::nullopt;
  TlsRecordHeader h;
  h.type = bytes[0];
  h.version = uint16_t(bytes[1] << 8 | bytes[2]);
  h.length = uint16_t(bytes[3] << 8 | bytes[4]);
  if (h.type < kTlsChangeCipherSpec || h.type > kTlsApplicationData || h.version < 0x0301 ||
      h.version > 0x0304 || h.length > kTlsMaxRecordBody)
    return std::nullopt;
  return h;
}

TlsRecordReader::TlsRecordReader() = default;

TlsRecordReader::~TlsRecordReader() = default;

size_t TlsRecordReader::Feed(uint64_t ts_ns, std::span<const uint8_t> bytes) {
  size_t taken = 0;
  while (taken < bytes.size() && !ready_) {
    const std::span<const uint8_t> rest = bytes.subspan(taken);
    switch (state_) {
      case State::kLost:
        Hide(rest.size(), nullptr);
        taken = bytes.size();
        break;
      case State::kHeader: {
        const size_t n = std::min(kTlsRecordHeaderSize - header_have_, rest.size());
        std::memcpy(header_.data() + header_have_, rest.data(), n);
        header_have_ += uint8_t(n);
        taken += n;
        if (header_have_ < kTlsRecordHeaderSize) break;
        const std::optional<TlsRecordHeader> h = ParseTlsRecordHeader(header_);
        if (!h) {
          bad_header_ = true;
          Lose(kTlsRecordHeaderSize, true, nullptr);
          break;
        }
        parsed_ = *h;
        state_ = State::kBody;
        body_have_ = 0;
        // Grown to the largest record seen: connections of small records stay small.
        if (body_.size() < parsed_.length) body_.resize(parsed_.length);
        if (parsed_.length == 0) Complete(ts_ns);
        break;
      }
      case State::kBody: {
        const size_t n = std::min<size_t>(parsed_.length - body_have_, rest.size());
        std::memcpy(body_.data() + body_have_, rest.data(), n);
        body_have_ += uint32_t(n);
        taken += n;
        if (body_have_ == parsed_.length) Complete(ts_ns);
        break;
      }
    }
  }
  return taken;
}

uint64_t TlsRecordReader::Skip(uint64_t ts_ns, uint64_t n, const StreamGap* gap) {
  if (ready_ || n == 0) return 0;
  switch (state_) {
    case State::kLost:
      Hide(n, gap);
      return n;
    case State::kHeader:
      Lose(header_have_ + n, true, gap);
      return n;
    case State::kBody:
      break;
  }
  const uint32_t m = uint32_t(std::min<uint64_t>(n, parsed_.length - body_have_));
  AddHole(m, gap == nullptr, gap);
  if (body_have_ == parsed_.length) Complete(ts_ns);
  return m;
}

bool TlsRecordReader::SkipUnknown(uint64_t ts_ns, const StreamGap& gap) {
  if (ready_) return false;
  switch (state_) {
    case State::kLost:
      Hide(0, &gap);
      hidden_.length_known = false;
      return true;
    case State::kHeader:
      Lose(header_have_, false, &gap);
      return true;
    case State::kBody:
      // The record's end is among the unknown bytes: what was seen of it still counts.
      AddHole(parsed_.length - body_have_, false, &gap);
      Complete(ts_ns);
      return false;
  }
  return true;
}

void TlsRecordReader::AddHole(uint32_t n, bool tail, const StreamGap* gap) {
  if (n == 0) return;
  std::memset(body_.data() + body_have_, 0, n);
  TlsHole hole{body_have_, n, tail, {}};
  hole.gap.missing = n;
  MergeReports(hole.gap, gap);
  if (!holes_.empty() && holes_.back().offset + holes_.back().length == body_have_ &&
      holes_.back().tail == tail && !hole.gap.counted) {
    holes_.back().length += n;
    holes_.back().gap.missing += n;
  } else {
    holes_.push_back(hole);
  }
  body_have_ += n;
}

void TlsRecordReader::Complete(uint64_t ts_ns) {
  record_.header = parsed_;
  record_.header_bytes = header_;
  record_.body = std::span<const uint8_t>(body_.data(), parsed_.length);
  record_.holes = holes_;
  record_.ts_ns = ts_ns;
  ready_ = true;
  state_ = State::kHeader;
  header_have_ = 0;
}

void TlsRecordReader::Next() {
  ready_ = false;
  holes_.clear();
  record_.holes = {};
  // A connection idles between requests: it keeps a small buffer, not its largest record's (16 KiB and more
  // per direction, times every idle keep-alive connection of a node).
  if (body_.capacity() > kKeptBodyBytes) {
    std::vector<uint8_t>().swap(body_);
    record_.body = {};
  }
}

void TlsRecordReader::Lose(uint64_t hidden, bool known, const StreamGap* gap) {
  state_ = State::kLost;
  header_have_ = 0;
  holes_.clear();
  hidden_ = TlsHidden{hidden, known, {}};
  MergeReports(hidden_.gap, gap);
}

void TlsRecordReader::Hide(uint64_t n, const StreamGap* gap) {
  hidden_.bytes += n;
  MergeReports(hidden_.gap, gap);
}

void TlsRecordReader::LoseAfterRecord() { Lose(kTlsRecordHeaderSize + record_.body.size(), true, nullptr); }

TlsHidden TlsRecordReader::Resync() {
  TlsHidden h = hidden_;
  h.gap.missing = h.bytes;
  h.gap.length_known = h.length_known;
  hidden_ = {};
  state_ = State::kHeader;
  header_have_ = 0;
  bad_header_ = false;
  return h;
}

}  // namespace l7tap::protocols
