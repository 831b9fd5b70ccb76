#include "protocols/protocol_session.h"

namespace l7tap::protocols {

namespace {

class Http1Protocol final : public ProtocolSession {
 public:
  Http1Protocol(Role role, TransactionSink& sink)
      : session_(role, [&sink](HttpTransaction&& t) { sink.OnHttp(std::move(t)); }) {}
  const char* name() const override { return "http1"; }
  StreamConsumer& consumer(Direction dir) override { return session_.consumer(dir); }
  void OnClose() override { session_.OnClose(); }
  SessionStatus status() const override {
    switch (session_.state()) {
      case Http1State::kDetecting:
      case Http1State::kHttp:
        return SessionStatus::kActive;
      case Http1State::kNotHttp:
        return SessionStatus::kNotMine;
      case Http1State::kUpgraded:
        return session_.upgraded_to_h2c() ? SessionStatus::kHandOver : SessionStatus::kFinished;
    }
    return SessionStatus::kActive;
  }
  bool detecting() const override { return session_.state() == Http1State::kDetecting; }
  void TakeStats(ProtocolStats& into) override { Add(into.http1, session_.TakeStats()); }
  bool Quiesce() override { return session_.Quiesce(); }
  bool quiesced() const override { return session_.quiesced(); }
  Http2HandOver TakeHandOver() override {
    Http2HandOver h;
    std::unique_ptr<H2cUpgrade> up = session_.TakeH2cUpgrade();
    if (!up) return h;
    h.request = std::move(up->request);
    const Direction requests = session_.role() == Role::kServer ? Direction::kIngress : Direction::kEgress;
    const Direction responses = requests == Direction::kIngress ? Direction::kEgress : Direction::kIngress;
    h.chunks[int(requests)] = std::move(up->request_side);
    h.chunks[int(responses)] = std::move(up->response_side);
    return h;
  }

 private:
  static void Add(Http1Stats& a, const Http1Stats& b) {
    a.parse_errors += b.parse_errors;
    a.unmatched_responses += b.unmatched_responses;
    a.unanswered_requests += b.unanswered_requests;
    a.incomplete_messages += b.incomplete_messages;
    a.desyncs += b.desyncs;
    a.requests_cut += b.requests_cut;
    a.responses_lost += b.responses_lost;
    a.requests_framing_lost += b.requests_framing_lost;
    a.requests_queue_full += b.requests_queue_full;
    a.chunks_skipped += b.chunks_skipped;
  }
  Http1Session session_;
};

class Http2Protocol final : public ProtocolSession {
 public:
  Http2Protocol(Role role, TransactionSink& sink, bool from_start)
      : session_(
            role, [&sink](HttpTransaction&& t) { sink.OnHttp(std::move(t)); }, from_start) {}
  const char* name() const override { return "http2"; }
  StreamConsumer& consumer(Direction dir) override { return session_.consumer(dir); }
  void OnClose() override { session_.OnClose(); }
  SessionStatus status() const override {
    return session_.failed() ? SessionStatus::kNotMine : SessionStatus::kActive;
  }
  void TakeStats(ProtocolStats& into) override {
    const Http2Stats b = session_.TakeStats();
    Http2Stats& a = into.http2;
    a.streams_reset += b.streams_reset;
    a.streams_goaway += b.streams_goaway;
    a.streams_closed += b.streams_closed;
    a.streams_lost += b.streams_lost;
    a.streams_over_limit += b.streams_over_limit;
    a.header_state_lost += b.header_state_lost;
    a.header_blocks_failed += b.header_blocks_failed;
    a.desyncs += b.desyncs;
    a.resyncs += b.resyncs;
    a.frames_unknown_stream += b.frames_unknown_stream;
    a.protocol_errors += b.protocol_errors;
  }
  Http2Session& session() { return session_; }

 private:
  Http2Session session_;
};

class DnsProtocol final : public ProtocolSession {
 public:
  DnsProtocol(TransactionSink& sink, DnsPendingBudget* budget)
      : session_([&sink](DnsTransaction&& t) { sink.OnDns(std::move(t)); }, budget) {}
  const char* name() const override { return "dns"; }
  StreamConsumer& consumer(Direction dir) override { return session_.consumer(dir); }
  void OnDatagram(Direction dir, uint64_t ts_ns, std::span<const uint8_t> bytes, uint32_t length,
                  const DatagramPeer& peer) override {
    session_.OnDatagram(dir, ts_ns, bytes, length, peer);
  }
  void OnClose() override { session_.Close(); }
  SessionStatus status() const override { return SessionStatus::kActive; }
  void TakeStats(ProtocolStats& into) override {
    const DnsStats b = session_.TakeStats();
    DnsStats& a = into.dns;
    a.unanswered += b.unanswered;
    a.unmatched_responses += b.unmatched_responses;
    a.malformed += b.malformed;
    a.retransmits += b.retransmits;
    a.stream_gaps += b.stream_gaps;
    a.truncated_captures += b.truncated_captures;
  }
  void Expire(uint64_t now_ns, uint64_t timeout_ns) override { session_.Expire(now_ns, timeout_ns); }
  size_t pending() const override { return session_.pending(); }

 private:
  DnsSession session_;
};

}  // namespace

std::unique_ptr<ProtocolSession> MakeHttp1Session(Role role, TransactionSink& sink) {
  return std::make_unique<Http1Protocol>(role, sink);
}

std::unique_ptr<ProtocolSession> MakeHttp2Session(Role role, TransactionSink& sink, bool from_start,
                                                  const Http2HandOver* hand_over) {
  auto s = std::make_unique<Http2Protocol>(role, sink, from_start);
  if (hand_over) {
    s->session().AdoptUpgradedRequest(hand_over->request);
    for (int d = 0; d < 2; ++d)
      for (const HeldChunk& c : hand_over->chunks[d])
        s->consumer(Direction(d)).OnData(c.ts_ns, c.bytes, c.uncopied);
  }
  return s;
}

std::unique_ptr<ProtocolSession> MakeDnsSession(TransactionSink& sink, DnsPendingBudget* budget) {
  return std::make_unique<DnsProtocol>(sink, budget);
}

}  // namespace l7tap::protocols
