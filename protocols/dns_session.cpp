#include "protocols/dns_session.h"

#include <utility>

namespace l7tap::protocols {
namespace {

Direction Opposite(Direction dir) {
  return dir == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

DnsSession::DnsSession(Sink sink, DnsPendingBudget* budget)
    : sink_(std::move(sink)),
      budget_(budget),
      consumers_{{*this, Direction::kEgress}, {*this, Direction::kIngress}} {}

DnsSession::~DnsSession() {
  if (budget_) budget_->used -= order_.size();
}

void DnsSession::OnDatagram(Direction dir, uint64_t ts_ns, std::span<const uint8_t> bytes, uint32_t length,
                            const DatagramPeer& peer) {
  if (bytes.size() > length) bytes = bytes.first(length);
  OnMessage(dir, Transport::kUdp, ts_ns, ts_ns, bytes, bytes.size() < length, peer);
}

void DnsSession::OnStream(Direction dir, uint64_t ts_ns, std::span<const uint8_t> bytes,
                          uint64_t uncopied_tail) {
  DnsTcpFramer& framer = framers_[Index(dir)];
  if (framer.lost()) return;
  framer.Push(ts_ns, bytes, uncopied_tail, [&](const DnsTcpMessage& m) {
    OnMessage(dir, Transport::kTcp, m.first_ts_ns, m.last_ts_ns, m.bytes, m.cut, {});
  });
  if (framer.lost()) ++stats_.stream_gaps;
}

void DnsSession::OnStreamGap(Direction dir) {
  framers_[Index(dir)].Gap();
  ++stats_.stream_gaps;
}

void DnsSession::Expire(uint64_t now_ns, uint64_t timeout_ns) {
  for (auto it = order_.begin(); it != order_.end();) {
    auto next = std::next(it);
    if (now_ns > it->start_ns && now_ns - it->start_ns > timeout_ns) Drop(it);
    it = next;
  }
}

void DnsSession::Close() {
  while (!order_.empty()) Drop(order_.begin());
}

StreamConsumer& DnsSession::consumer(Direction dir) { return consumers_[Index(dir)]; }

void DnsSession::OnMessage(Direction dir, Transport transport, uint64_t first_ts_ns, uint64_t last_ts_ns,
                           std::span<const uint8_t> bytes, bool cut, const DatagramPeer& peer) {
  Result<DnsMessage> parsed = cut ? ParseDnsMessageHead(bytes) : ParseDnsMessage(bytes);
  if (!parsed) {
    ++(cut ? stats_.truncated_captures : stats_.malformed);
    return;
  }
  const DnsMessage& m = *parsed;
  // Matching uses the first question only: servers echo the question section unchanged.
  const DnsQuestion& q = m.questions.front();
  Key key{dir, peer, m.id, q.type, q.klass, q.name};
  if (m.response) {
    key.dir = Opposite(dir);  // answers travel the other way
    OnResponse(transport, last_ts_ns, m, std::move(key));
  } else {
    OnQuery(first_ts_ns, std::move(key));
  }
}

void DnsSession::OnQuery(uint64_t ts_ns, Key key) {
  if (by_key_.contains(key)) {
    // Same id and question while the first is pending: a resolver's retry. The transaction runs from the
    // first send, since that is how long the caller waited.
    ++stats_.retransmits;
    return;
  }
  if (order_.size() >= kMaxPending) {
    if (budget_) ++budget_->evicted;  // the socket's own bound: its oldest query makes room
    Drop(order_.begin());
  }
  if (budget_ && budget_->used >= budget_->capacity) {
    if (order_.empty()) {
      ++budget_->refused;
      ++stats_.unanswered;
      return;
    }
    ++budget_->evicted;
    Drop(order_.begin());
  }
  if (budget_) ++budget_->used;
  order_.push_back(Pending{key, ts_ns});
  by_key_.emplace(std::move(key), std::prev(order_.end()));
}

void DnsSession::OnResponse(Transport transport, uint64_t ts_ns, const DnsMessage& m, Key key) {
  auto found = by_key_.find(key);
  if (found == by_key_.end() && key.peer.known()) {
    // A query sent without an address on a socket whose connected peer is not known (its open was not seen):
    // the answer names the peer it came from.
    Key unknown = key;
    unknown.peer = {};
    found = by_key_.find(unknown);
  }
  if (found == by_key_.end()) {
    ++stats_.unmatched_responses;
    return;
  }
  const Pending& p = *found->second;
  DnsTransaction t;
  // The process wrote the query: it asked (client); it read the query: it answered (server).
  t.role = p.key.dir == Direction::kEgress ? Role::kClient : Role::kServer;
  t.transport = transport;
  t.start_ns = p.start_ns;
  t.end_ns = ts_ns;
  t.name = std::move(key.name);
  t.type = key.type;
  t.rcode = m.rcode;
  t.truncated = m.truncated;
  t.peer = key.peer;
  order_.erase(found->second);
  by_key_.erase(found);
  if (budget_) --budget_->used;
  sink_(std::move(t));
}

void DnsSession::Drop(std::list<Pending>::iterator it) {
  ++stats_.unanswered;
  by_key_.erase(it->key);
  order_.erase(it);
  if (budget_) --budget_->used;
}

void DnsSession::Consumer::OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) {
  session_.OnStream(dir_, ts_ns, AsBytes(bytes), uncopied_tail);
}

void DnsSession::Consumer::OnGap(const StreamGap& /*gap*/) { session_.OnStreamGap(dir_); }

}  // namespace l7tap::protocols
