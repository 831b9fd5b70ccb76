#pragma once
// HTTP/1.x over one connection: parses both directions with llhttp and stitches each response to its
// request in order (keep-alive, pipelining, HEAD, 1xx, 101 Upgrade, read-until-close bodies).
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/stream_reassembler.h"
#include "protocols/transaction.h"

namespace l7tap::protocols {

struct Http1Stats {
  uint64_t parse_errors = 0;         // llhttp rejected bytes (connection then becomes not-HTTP)
  uint64_t unmatched_responses = 0;  // a response with no request to answer: none outstanding, or lost
  uint64_t unanswered_requests = 0;  // requests still waiting for an answer when the connection ended
  uint64_t incomplete_messages = 0;  // a message cut by close
  uint64_t desyncs = 0;              // gaps that hit message framing; parsing resumed at a message start
  // Requests seen (their first bytes at least) that became no transaction because bytes were lost:
  uint64_t requests_cut = 0;           // the rest of the request was lost
  uint64_t responses_lost = 0;         // its response was lost (whole, or all but its first bytes)
  uint64_t requests_framing_lost = 0;  // dropped after a hole of unknown content that broke the pairing
  uint64_t requests_queue_full = 0;    // more than kMaxQueued requests outstanding: the oldest given up
  uint64_t chunks_skipped = 0;         // a connection opened before the capture: bytes before a message start
};

enum class Http1State : uint8_t {
  kDetecting,  // first bytes not classified yet
  kHttp,       // parsing
  kNotHttp,    // first bytes were not HTTP/1 or a parse error: ignored from then on
  kUpgraded,   // 101 Switching Protocols or a CONNECT tunnel: the rest is another protocol, ignored
};

// Bytes that reached a session but belong to the protocol it switched to.
struct HeldChunk {
  uint64_t ts_ns = 0;
  std::string bytes;
  uint64_t uncopied = 0;
};

// An HTTP/1.1 request answered "101 Switching Protocols" to h2c: it continues as stream 1 of HTTP/2.
struct H2cUpgrade {
  HttpTransaction request;               // role, start, method, target, version of the upgraded request
  std::vector<HeldChunk> request_side;   // bytes after the request (the client's preface), in order
  std::vector<HeldChunk> response_side;  // bytes after the 101 in its chunk (the server's SETTINGS)
};

class Http1Session {
 public:
  // Called synchronously, from OnData/OnGap/OnClose, once per finished exchange (never from inside llhttp).
  using Sink = std::function<void(HttpTransaction&&)>;

  // `role` is what the kernel knew (accept → server, connect → client); kUnknown is resolved from the
  // first bytes (a request written → client, a request read → server).
  Http1Session(Role role, Sink sink);
  ~Http1Session();
  Http1Session(const Http1Session&) = delete;
  Http1Session& operator=(const Http1Session&) = delete;

  // In-order bytes of one direction; `uncopied_tail` bytes followed them but were not captured. They are
  // skipped when they fall inside a body of known length (or one read until close), otherwise a gap.
  void OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail);
  // Lost bytes. Inside a body they are skipped; elsewhere the direction resynchronises at the next chunk
  // that begins a message (counted in desyncs). When the kernel counted the messages that began in the
  // hole (gap.counted), pairing stays exact: lost requests hold their place in the queue, lost responses
  // take theirs out. Without a count the pairing is guarded by timestamps; details in http1_session.cpp.
  void OnGap(Direction dir, const StreamGap& gap);
  // A hole of `missing` bytes with nothing known about its content.
  void OnGap(Direction dir, uint64_t missing) { OnGap(dir, StreamGap{missing}); }
  // Connection closed: ends read-until-close responses, counts what was left open.
  void OnClose();

  Http1State state() const { return state_; }
  // After kUpgraded: the connection switched to h2c, and this is where HTTP/2 takes over (once).
  bool upgraded_to_h2c() const { return h2c_ != nullptr; }
  std::unique_ptr<H2cUpgrade> TakeH2cUpgrade() { return std::move(h2c_); }
  Role role() const { return role_; }
  const Http1Stats& stats() const { return stats_; }
  // The counts since the last call, zeroing them (for a caller that keeps totals).
  Http1Stats TakeStats() { return std::exchange(stats_, {}); }

  // Frees the parsing state of a session with nothing in flight (no message begun, none queued); the next
  // bytes bring it back. Idle keep-alive connections then cost a few dozen bytes. False: busy, kept.
  bool Quiesce();
  bool quiesced() const { return !impl_; }

  // Adapters so a StreamReassembler per direction can feed this session.
  StreamConsumer& consumer(Direction dir) { return dir == Direction::kEgress ? egress_ : ingress_; }

 private:
  class Impl;
  // What a session remembers across messages: kept when Quiesce frees the rest.
  struct Memo {
    uint64_t last_id = 0;
    uint32_t orphans = 0;         // responses that found no request since the last one queued
    uint32_t lost_answers = 0;    // responses lost while no request was queued for them (see Answer)
    bool requests_lost = false;   // an uncounted request-side gap may have swallowed whole requests
    bool heal_responses = false;  // an uncounted response-side gap: the next response re-anchors the queue
    bool pipelining_seen = false;
    bool from_start = false;  // the role was known before the first byte: nothing precedes the capture
    bool closed = false;
    bool resync[2] = {false, false};               // requests, responses: waiting for a message start
    std::array<uint32_t, 2> detect_lost_starts{};  // by direction: messages lost before detection
    std::array<uint8_t, 2> skipped{};              // by direction: chunks skipped before the first message
    std::array<uint8_t, 2> gap_while_detecting{};  // by direction: a hole before the first message (1
                                                   // counted, 2 of unknown content)
  };
  class Adapter final : public StreamConsumer {
   public:
    Adapter(Http1Session& session, Direction dir) : session_(session), dir_(dir) {}
    void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override;
    void OnGap(const StreamGap& gap) override;

   private:
    Http1Session& session_;
    Direction dir_;
  };
  Impl& impl();

  std::unique_ptr<Impl> impl_;
  std::unique_ptr<H2cUpgrade> h2c_;
  Role role_;
  Http1State state_ = Http1State::kDetecting;
  Http1Stats stats_;
  Memo memo_;
  Sink sink_;
  Adapter egress_;
  Adapter ingress_;
};

}  // namespace l7tap::protocols
