#pragma once
// HTTP/2 over one connection (RFC 9113): frames of both directions, HPACK per direction, one transaction per
// client-initiated stream. Exact under multiplexing: streams are told apart by id, not by order. Bodies are
// never read (DATA payloads are skipped by length, so bytes over the copy cap cost nothing there).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "protocols/hpack_decoder.h"
#include "protocols/http2_frame.h"
#include "protocols/stream_reassembler.h"
#include "protocols/transaction.h"

namespace l7tap::protocols {

struct Http2Stats {
  // Streams that became transactions with an early end (also counted as transactions):
  uint64_t streams_reset = 0;   // RST_STREAM
  uint64_t streams_goaway = 0;  // beyond a GOAWAY's last stream id
  uint64_t streams_closed = 0;  // the connection closed with them open
  // Requests seen that became no transaction:
  uint64_t streams_lost = 0;        // open when frames of the connection were lost with their boundaries
  uint64_t streams_over_limit = 0;  // more than kMaxStreams open at once: the oldest given up
  // HPACK state lost (a direction's header compression context): a gap in or between header blocks, or a
  // connection seen mid-way. Later fields are decoded as far as they do not depend on the lost state.
  uint64_t header_state_lost = 0;
  uint64_t header_blocks_failed = 0;  // header blocks decoded in part only (their unknown labels empty)
  uint64_t desyncs = 0;  // frame boundaries lost to missing bytes (until a chunk starting at a frame)
  uint64_t resyncs = 0;  // frame boundaries found again
  uint64_t frames_unknown_stream = 0;  // frames of streams whose opening was not seen (ignored)
  uint64_t protocol_errors = 0;        // bytes that are not HTTP/2 (the session then stops)
};

class Http2Session {
 public:
  using Sink = std::function<void(HttpTransaction&&)>;
  // Streams followed at once per connection (servers usually allow 100-250 concurrent streams).
  static constexpr size_t kMaxStreams = 1024;

  // `from_start`: the capture began with the connection (the client preface is the first request bytes);
  // otherwise both directions start without HPACK state and look for a frame boundary first.
  // `role`: kUnknown is resolved from the preface or the first request headers.
  Http2Session(Role role, Sink sink, bool from_start);
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  void OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail);
  void OnGap(Direction dir, const StreamGap& gap);
  // Streams still open end (counted with error_type connection_closed, or lost if their frames were).
  void OnClose();
  // An HTTP/1.1 request upgraded to h2c: it is stream 1, its response comes as HTTP/2.
  void AdoptUpgradedRequest(const HttpTransaction& request);

  bool failed() const { return failed_; }  // the bytes were not HTTP/2: ignored from then on
  Role role() const { return role_; }
  size_t open_streams() const { return streams_.size(); }
  Http2Stats TakeStats() { return std::exchange(stats_, {}); }
  StreamConsumer& consumer(Direction dir) { return dir == Direction::kEgress ? egress_ : ingress_; }

 private:
  struct Stream {
    uint64_t start_ns = 0;
    std::string method;
    std::string target;
    int status = 0;
    int grpc_status = -1;
    bool grpc = false;
    bool damaged = false;  // frames of the connection were lost while it was open
  };
  // Fields of one header block that l7tap reads.
  struct Fields {
    std::string method, path, content_type;
    int status = -1;
    int grpc_status = -1;
    bool failed = false;  // the block decoded in part only
  };
  enum class BlockKind : uint8_t { kNone, kHeaders, kPushPromise };
  struct Side {
    explicit Side(Direction d) : dir(d) {}
    Direction dir;
    bool expect_preface = false;
    size_t preface_seen = 0;
    bool synced = true;     // frame boundaries known
    bool desynced = false;  // they were lost once (a later sync is a resync)
    uint8_t header[kHttp2FrameHeaderSize];
    uint8_t header_have = 0;
    bool in_frame = false;
    Http2FrameHeader frame;
    uint64_t frame_ts = 0;  // capture time of the chunk that held the frame's header
    uint32_t left = 0;      // payload bytes still to come
    // Header-block frames: bytes before the fragment (pad length, priority, promised id) and padding after.
    uint32_t prefix_left = 0;
    uint32_t pad = 0;
    bool pad_length_next = false;
    std::string control;         // payload of a connection/control frame (first kMaxControl bytes)
    uint32_t max_frame = 16384;  // largest frame the receiver announced (SETTINGS_MAX_FRAME_SIZE)
    HpackDecoder hpack;
    BlockKind block = BlockKind::kNone;
    uint32_t block_stream = 0;
    bool block_end_stream = false;
    bool block_lost = false;  // bytes of the block were lost: its fields are unknown
    Fields fields;
  };
  class Adapter final : public StreamConsumer {
   public:
    Adapter(Http2Session& s, Direction dir) : s_(s), dir_(dir) {}
    void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override {
      s_.OnData(dir_, ts_ns, bytes, uncopied_tail);
    }
    void OnGap(const StreamGap& gap) override { s_.OnGap(dir_, gap); }

   private:
    Http2Session& s_;
    Direction dir_;
  };
  static constexpr size_t kMaxControl = 96;

  Side& side(Direction d) { return d == Direction::kEgress ? egress_side_ : ingress_side_; }
  Side& other(const Side& s) { return s.dir == Direction::kEgress ? ingress_side_ : egress_side_; }
  bool IsRequestSide(const Side& s) const;
  void Parse(Side& s, uint64_t ts_ns, std::string_view bytes);
  void Skip(Side& s, uint64_t ts_ns, uint64_t n);
  void BeginFrame(Side& s, uint64_t ts_ns);
  void FramePayload(Side& s, std::string_view bytes);
  void EndFrame(Side& s, uint64_t ts_ns);
  void Fragment(Side& s, std::string_view bytes, bool last = false);
  void BlockDone(Side& s, uint64_t ts_ns);
  void EndOfSide(Side& s, uint32_t stream_id, uint64_t ts_ns);
  void Control(Side& s, uint64_t ts_ns);
  void LoseHeaderState(Side& s);
  void Desync(Side& s);
  void Fail();
  void Emit(uint32_t id, Stream& st, uint64_t end_ns, StreamEnd end);

  Role role_;
  Sink sink_;
  bool failed_ = false;
  uint64_t last_ts_ = 0;                // latest capture time seen (ends streams cut by close)
  uint32_t last_request_id_ = 0;        // highest client stream id opened
  std::map<uint32_t, Stream> streams_;  // open, by id (oldest first)
  Http2Stats stats_;
  Side egress_side_{Direction::kEgress};
  Side ingress_side_{Direction::kIngress};
  Adapter egress_{*this, Direction::kEgress};
  Adapter ingress_{*this, Direction::kIngress};
};

}  // namespace l7tap::protocols
