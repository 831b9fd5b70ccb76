#include "protocols/http2_session.h"

#include <algorithm>
#include <charconv>

namespace l7tap::protocols {

namespace {

constexpr size_t kMaxTarget = 2048;  // as Http1Parser::kMaxUrl

uint32_t Be32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t(u[0]) << 24 | uint32_t(u[1]) << 16 | uint32_t(u[2]) << 8 | u[3];
}

int ParseInt(std::string_view v) {
  int n = -1;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && end == v.data() + v.size() ? n : -1;
}

bool IsHeaderBlockFrame(Http2FrameType t) {
  return t == Http2FrameType::kHeaders || t == Http2FrameType::kContinuation ||
         t == Http2FrameType::kPushPromise;
}

}  // namespace

Http2Session::Http2Session(Role role, Sink sink, bool from_start) : role_(role), sink_(std::move(sink)) {
  if (from_start) {
    // The client's first bytes are the preface; with the role unknown, whichever side writes it is the
    // client.
    if (role_ == Role::kClient || role_ == Role::kUnknown) egress_side_.expect_preface = true;
    if (role_ == Role::kServer || role_ == Role::kUnknown) ingress_side_.expect_preface = true;
  } else {
    // Seen mid-way: the frames may begin anywhere in the first chunk, and the peers' tables hold entries
    // this side never saw.
    for (Side* s : {&egress_side_, &ingress_side_}) {
      s->synced = false;
      s->hpack.Lose();
      ++stats_.header_state_lost;
    }
  }
}

Http2Session::~Http2Session() = default;

bool Http2Session::IsRequestSide(const Side& s) const {
  if (role_ == Role::kServer) return s.dir == Direction::kIngress;
  if (role_ == Role::kClient) return s.dir == Direction::kEgress;
  return false;
}

void Http2Session::AdoptUpgradedRequest(const HttpTransaction& request) {
  Stream& st = streams_[1];
  st.start_ns = request.start_ns;
  st.method = request.method;
  st.target = request.target;
  last_request_id_ = std::max(last_request_id_, 1u);
  if (role_ == Role::kUnknown) role_ = request.role;
}

void Http2Session::OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) {
  if (failed_) return;
  Side& s = side(dir);
  if (s.expect_preface) {
    const size_t n = std::min(bytes.size(), kHttp2Preface.size() - s.preface_seen);
    if (bytes.substr(0, n) == kHttp2Preface.substr(s.preface_seen, n)) {
      s.preface_seen += n;
      bytes.remove_prefix(n);
      if (s.preface_seen == kHttp2Preface.size()) {
        s.expect_preface = false;
        other(s).expect_preface = false;
        if (role_ == Role::kUnknown) role_ = dir == Direction::kEgress ? Role::kClient : Role::kServer;
      }
    } else if (s.preface_seen == 0 && role_ == Role::kUnknown) {
      s.expect_preface = false;  // the other side is the client: these are the server's frames
    } else {
      ++stats_.protocol_errors;
      Fail();
      return;
    }
    if (s.expect_preface && uncopied_tail == 0) return;
  }
  last_ts_ = std::max(last_ts_, ts_ns);
  if (!s.synced) {
    if (!StartsWithHttp2Frames(bytes, std::max<uint32_t>(s.max_frame, 16384))) return;  // and its tail
    s.synced = true;
    if (s.desynced) ++stats_.resyncs;
  }
  Parse(s, ts_ns, bytes);
  if (!failed_ && uncopied_tail) Skip(s, ts_ns, uncopied_tail);
}

void Http2Session::OnGap(Direction dir, const StreamGap& gap) {
  if (failed_) return;
  Side& s = side(dir);
  if (!s.synced) return;
  if (s.expect_preface) {
    // The preface (or what follows it) was lost: frames resume somewhere after it.
    s.expect_preface = false;
    Desync(s);
    return;
  }
  if (!gap.length_known) {
    Desync(s);
    return;
  }
  Skip(s, last_ts_, gap.missing);  // a gap has no time of its own: frames it ends end at the last seen
}

void Http2Session::Parse(Side& s, uint64_t ts_ns, std::string_view bytes) {
  while (!bytes.empty() && !failed_ && s.synced) {
    if (!s.in_frame) {
      const size_t n = std::min(bytes.size(), kHttp2FrameHeaderSize - s.header_have);
      std::copy_n(bytes.data(), n, s.header + s.header_have);
      if (s.header_have == 0) s.frame_ts = ts_ns;
      s.header_have += uint8_t(n);
      bytes.remove_prefix(n);
      if (s.header_have < kHttp2FrameHeaderSize) return;
      s.header_have = 0;
      BeginFrame(s, ts_ns);
      continue;
    }
    const size_t n = std::min<uint64_t>(bytes.size(), s.left);
    FramePayload(s, bytes.substr(0, n));
    bytes.remove_prefix(n);
    s.left -= uint32_t(n);
    if (s.left == 0) EndFrame(s, ts_ns);
  }
}

void Http2Session::Skip(Side& s, uint64_t ts_ns, uint64_t n) {
  while (n > 0 && s.synced && !failed_) {
    if (!s.in_frame) {
      // A frame header (or part of one) is among the missing bytes: the boundaries are gone.
      Desync(s);
      return;
    }
    const uint32_t take = uint32_t(std::min<uint64_t>(n, s.left));
    if (IsHeaderBlockFrame(s.frame.kind()) && (s.left > s.pad || s.pad_length_next)) {
      // Fragment bytes missing: the block's fields and what it did to the table are unknown. The frame's
      // flags were seen, so the stream still ends where it should.
      LoseHeaderState(s);
      s.prefix_left = 0;
      s.pad_length_next = false;
      s.pad = std::min(s.pad, s.left - take);
    } else if (!IsHeaderBlockFrame(s.frame.kind()) && s.frame.kind() != Http2FrameType::kData) {
      s.control.clear();  // a control frame's content is unknown: it is ignored
      s.frame.type = 0xff;
    }
    s.left -= take;
    n -= take;
    if (s.left == 0) EndFrame(s, ts_ns);
  }
}

void Http2Session::BeginFrame(Side& s, uint64_t ts_ns) {
  s.frame = DecodeFrameHeader(s.header);
  s.left = s.frame.length;
  s.in_frame = true;
  s.control.clear();
  s.prefix_left = 0;
  s.pad = 0;
  s.pad_length_next = false;
  using namespace http2_flags;
  const Http2FrameType t = s.frame.kind();
  if (t == Http2FrameType::kContinuation &&
      (s.block == BlockKind::kNone || s.frame.stream_id != s.block_stream)) {
    ++stats_.protocol_errors;  // a CONTINUATION must follow its block's frames
    Fail();
    return;
  }
  if (s.block != BlockKind::kNone && t != Http2FrameType::kContinuation) {
    ++stats_.protocol_errors;  // nothing may interrupt a header block
    Fail();
    return;
  }
  if (t == Http2FrameType::kHeaders || t == Http2FrameType::kPushPromise) {
    s.block = t == Http2FrameType::kHeaders ? BlockKind::kHeaders : BlockKind::kPushPromise;
    s.block_stream = s.frame.stream_id;
    s.block_end_stream = t == Http2FrameType::kHeaders && (s.frame.flags & kEndStream);
    s.block_lost = false;
    s.fields = Fields{};
    s.pad_length_next = s.frame.flags & kPadded;
    s.prefix_left = (s.pad_length_next ? 1 : 0) + (t == Http2FrameType::kPushPromise ? 4 : 0) +
                    (t == Http2FrameType::kHeaders && (s.frame.flags & kPriority) ? 5 : 0);
    if (s.prefix_left > s.left) {
      ++stats_.protocol_errors;
      Fail();
      return;
    }
    // A request opens its stream with its first frame (the latency starts there, not at END_HEADERS).
    if (t == Http2FrameType::kHeaders && IsRequestSide(s) && (s.frame.stream_id & 1) &&
        s.frame.stream_id > last_request_id_) {
      last_request_id_ = s.frame.stream_id;
      Stream& st = streams_[s.frame.stream_id];
      st.start_ns = ts_ns;
      if (streams_.size() > kMaxStreams) {
        streams_.erase(streams_.begin());
        ++stats_.streams_over_limit;
      }
    }
  }
  if (s.left == 0) EndFrame(s, ts_ns);
}

void Http2Session::FramePayload(Side& s, std::string_view bytes) {
  switch (s.frame.kind()) {
    case Http2FrameType::kHeaders:
    case Http2FrameType::kPushPromise:
    case Http2FrameType::kContinuation: {
      // `left` still counts these bytes: what follows them in the frame is left - size.
      const uint64_t after = s.left - bytes.size();
      if (s.pad_length_next && !bytes.empty()) {
        s.pad = uint8_t(bytes[0]);
        s.pad_length_next = false;
        bytes.remove_prefix(1);
        --s.prefix_left;
        if (s.pad + s.prefix_left > s.left - 1) {  // padding longer than the frame
          ++stats_.protocol_errors;
          Fail();
          return;
        }
      }
      const size_t prefix = std::min<size_t>(bytes.size(), s.prefix_left);
      bytes.remove_prefix(prefix);
      s.prefix_left -= uint32_t(prefix);
      // The frame's last `pad` bytes are padding.
      const size_t in_padding = after >= s.pad ? 0 : std::min<size_t>(bytes.size(), s.pad - after);
      if (bytes.size() > in_padding) Fragment(s, bytes.substr(0, bytes.size() - in_padding));
      break;
    }
    case Http2FrameType::kData:
      break;  // bodies are not read
    default:
      if (s.control.size() < kMaxControl) s.control.append(bytes.substr(0, kMaxControl - s.control.size()));
      break;
  }
}

void Http2Session::Fragment(Side& s, std::string_view bytes, bool last) {
  if (s.block_lost) return;
  Fields& f = s.fields;
  const bool was_recovering = s.hpack.recovering();
  const bool ok = s.hpack.Feed(bytes, last, [&f](std::string_view name, std::string_view value) {
    if (name == ":method") {
      f.method.assign(value.substr(0, 32));
    } else if (name == ":path") {
      f.path.assign(value.substr(0, kMaxTarget));
    } else if (name == ":status") {
      f.status = ParseInt(value);
    } else if (name == "content-type") {
      f.content_type.assign(value.substr(0, 64));
    } else if (name == "grpc-status") {
      f.grpc_status = ParseInt(value);
    }
  });
  if (!ok) {
    // The decoder gave the block up and starts over empty; the rest of the block is skipped here.
    f.failed = true;
    s.block_lost = true;
    ++stats_.header_blocks_failed;
    if (!was_recovering) ++stats_.header_state_lost;  // in sync until now: these bytes broke it
  }
}

void Http2Session::EndFrame(Side& s, uint64_t ts_ns) {
  s.in_frame = false;
  using namespace http2_flags;
  const Http2FrameType t = s.frame.kind();
  if (IsHeaderBlockFrame(t)) {
    if (s.frame.flags & kEndHeaders) BlockDone(s, ts_ns);
    return;
  }
  if (t == Http2FrameType::kData) {
    if (s.frame.flags & kEndStream) EndOfSide(s, s.frame.stream_id, ts_ns);
    return;
  }
  Control(s, ts_ns);
}

void Http2Session::BlockDone(Side& s, uint64_t ts_ns) {
  const BlockKind kind = s.block;
  s.block = BlockKind::kNone;
  // Fragments go to the decoder as they come; the block ends at END_HEADERS (nothing more to decode).
  Fragment(s, {}, true);
  if (kind == BlockKind::kPushPromise) return;  // pushed streams are not requests
  Fields& f = s.fields;
  const uint32_t id = s.block_stream;
  if (role_ == Role::kUnknown && !f.method.empty() && (id & 1))
    role_ = s.dir == Direction::kEgress ? Role::kClient : Role::kServer;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    // Not opened in front of us (role just learnt, or a stream older than the capture).
    if (IsRequestSide(s) && (id & 1) && id > last_request_id_ && !f.method.empty()) {
      last_request_id_ = id;
      it = streams_.emplace(id, Stream{}).first;
      it->second.start_ns = s.frame_ts;
    } else {
      ++stats_.frames_unknown_stream;
      return;
    }
  }
  Stream& st = it->second;
  if (IsRequestSide(s)) {
    if (st.method.empty() && st.target.empty()) {
      st.method = std::move(f.method);
      st.target = std::move(f.path);
      st.grpc = f.content_type.starts_with("application/grpc");
    }
  } else {
    if (f.status >= 200 && st.status == 0) st.status = f.status;
    if (f.grpc_status >= 0) st.grpc_status = f.grpc_status;
  }
  if (s.block_end_stream) EndOfSide(s, id, ts_ns);
}

void Http2Session::EndOfSide(Side& s, uint32_t stream_id, uint64_t ts_ns) {
  if (IsRequestSide(s)) return;  // the response ends the exchange
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Emit(stream_id, it->second, ts_ns, StreamEnd::kComplete);
}

void Http2Session::Control(Side& s, uint64_t ts_ns) {
  const std::string& p = s.control;
  switch (s.frame.kind()) {
    case Http2FrameType::kRstStream: {
      auto it = streams_.find(s.frame.stream_id);
      if (it != streams_.end()) {
        ++stats_.streams_reset;
        Emit(s.frame.stream_id, it->second, ts_ns, StreamEnd::kReset);
      }
      break;
    }
    case Http2FrameType::kSettings:
      if (s.frame.flags & http2_flags::kAck) break;
      for (size_t at = 0; at + 6 <= p.size(); at += 6) {
        const uint16_t id = uint16_t(uint8_t(p[at]) << 8 | uint8_t(p[at + 1]));
        const uint32_t value = Be32(p.data() + at + 2);
        // What this side announces governs what the other side sends.
        if (id == http2_settings::kHeaderTableSize) other(s).hpack.RaiseTableLimit(value);
        if (id == http2_settings::kMaxFrameSize && value >= 16384 && value <= kHttp2MaxFrameSize)
          other(s).max_frame = value;
      }
      break;
    case Http2FrameType::kGoaway: {
      if (p.size() < 8) break;
      const uint32_t last = Be32(p.data()) & 0x7fffffff;
      // From the server: client streams above `last` were not processed.
      const bool from_server = (role_ == Role::kServer) == (s.dir == Direction::kEgress);
      if (role_ == Role::kUnknown || !from_server) break;
      for (auto it = streams_.upper_bound(last); it != streams_.end();) {
        ++stats_.streams_goaway;
        auto next = std::next(it);
        Emit(it->first, it->second, ts_ns, StreamEnd::kGoaway);
        it = next;
      }
      break;
    }
    default:
      break;
  }
}

void Http2Session::Emit(uint32_t id, Stream& st, uint64_t end_ns, StreamEnd end) {
  HttpTransaction t;
  t.role = role_;
  t.start_ns = st.start_ns ? st.start_ns : end_ns;
  t.end_ns = std::max(end_ns, t.start_ns);  // chunks of the two directions may be stamped out of order
  t.method = std::move(st.method);
  t.target = std::move(st.target);
  t.status = st.status;
  t.version = HttpVersion::k2;
  t.end = end;
  t.grpc = st.grpc;
  t.grpc_status = st.grpc_status;
  streams_.erase(id);
  if (sink_) sink_(std::move(t));
}

void Http2Session::LoseHeaderState(Side& s) {
  if (s.block_lost) return;  // this block's loss is counted already
  s.block_lost = true;
  ++stats_.header_state_lost;
  s.hpack.Lose();
}

void Http2Session::Desync(Side& s) {
  ++stats_.desyncs;
  s.desynced = true;
  s.synced = false;
  s.in_frame = false;
  s.header_have = 0;
  s.block = BlockKind::kNone;
  s.hpack.Lose();
  ++stats_.header_state_lost;
  for (auto& [id, st] : streams_) st.damaged = true;
}

void Http2Session::Fail() {
  failed_ = true;
  streams_.clear();
}

void Http2Session::OnClose() {
  if (failed_) return;
  for (auto& [id, st] : streams_) {
    if (st.damaged) {
      ++stats_.streams_lost;
    } else {
      ++stats_.streams_closed;
    }
  }
  // Emitted after counting: Emit erases.
  while (!streams_.empty()) {
    auto it = streams_.begin();
    if (it->second.damaged) {
      streams_.erase(it);
      continue;
    }
    Emit(it->first, it->second, last_ts_, StreamEnd::kClosed);
  }
}

}  // namespace l7tap::protocols
