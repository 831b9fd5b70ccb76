#pragma once
// DNS on one socket: parses each query and response and pairs them into DnsTransactions. UDP datagrams and
// TCP streams (2-byte length framing) are both handled; a socket uses one or the other.
#include <compare>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "protocols/dns_message.h"
#include "protocols/dns_tcp_framer.h"
#include "protocols/stream_reassembler.h"
#include "protocols/transaction.h"

namespace l7tap::protocols {

struct DnsStats {
  uint64_t unanswered =
      0;  // queries never answered: expired, evicted (over kMaxPending or the budget), closed
  uint64_t unmatched_responses = 0;  // responses with no pending query of the same id and question
  uint64_t malformed = 0;            // complete datagrams or TCP messages that ParseDnsMessage refused
  uint64_t retransmits = 0;          // a query sent again (same id and question) while still pending
  uint64_t stream_gaps = 0;          // TCP bytes lost (OnStreamGap, or uncopied bytes hiding a length prefix)
  uint64_t truncated_captures = 0;   // messages cut by the capture too early to read their question
};

// Pending queries of every session together (one per node): a cap on the memory they hold. Sessions share it
// from one thread.
struct DnsPendingBudget {
  size_t capacity = 65536;
  size_t used = 0;
  uint64_t evicted = 0;  // a session's oldest query given up to make room (counted unanswered there too)
  uint64_t refused = 0;  // a query not followed: the budget was full and its session held none to give up
};

class DnsSession {
 public:
  // Called synchronously from OnDatagram/OnStream, once per query matched by a response.
  using Sink = std::function<void(DnsTransaction&&)>;

  // Queries waiting for their response; beyond this the oldest is given up (counted unanswered).
  static constexpr size_t kMaxPending = 1024;

  // `budget` (optional, outlives the session): the node-wide cap on pending queries.
  explicit DnsSession(Sink sink, DnsPendingBudget* budget = nullptr);
  ~DnsSession();
  DnsSession(const DnsSession&) = delete;
  DnsSession& operator=(const DnsSession&) = delete;

  // One UDP datagram of `length` bytes, of which `bytes` is what was captured (a prefix when shorter).
  // A cut datagram is read for its header and question only. `peer`: its other end (the address its call
  // named, else the socket's connected peer; unknown when neither was seen): a query pairs only with an
  // answer from (to) the same peer, so one unconnected socket asking several servers, or a server answering
  // many clients on one socket, pairs exactly.
  void OnDatagram(Direction dir, uint64_t ts_ns, std::span<const uint8_t> bytes, uint32_t length,
                  const DatagramPeer& peer = {});
  // In-order TCP bytes of one direction, any chunking. `uncopied_tail` bytes followed them but were not
  // captured: inside a message they only cut it (read for header and question); covering a length prefix
  // they lose the framing, like a gap.
  void OnStream(Direction dir, uint64_t ts_ns, std::span<const uint8_t> bytes, uint64_t uncopied_tail = 0);
  // TCP bytes of that direction were lost: its partial message is dropped and, as framing cannot be
  // recovered, the direction is ignored from then on (counted in stream_gaps).
  void OnStreamGap(Direction dir);
  // Queries pending for more than `timeout_ns` at `now_ns` are given up (counted unanswered).
  void Expire(uint64_t now_ns, uint64_t timeout_ns);
  // The socket closed: every pending query is counted unanswered.
  void Close();

  const DnsStats& stats() const { return stats_; }
  DnsStats TakeStats() { return std::exchange(stats_, {}); }
  size_t pending() const { return order_.size(); }

  // Adapters so a StreamReassembler per direction can feed OnStream/OnStreamGap.
  StreamConsumer& consumer(Direction dir);

 private:
  // A query is identified by the direction it travelled, its peer (UDP), its id and its first question (name
  // lowercased).
  struct Key {
    Direction dir;
    DatagramPeer peer;
    uint16_t id;
    uint16_t type;
    uint16_t klass;
    std::string name;
    auto operator<=>(const Key&) const = default;
  };
  struct Pending {
    Key key;
    uint64_t start_ns;
  };
  class Consumer : public StreamConsumer {
   public:
    Consumer(DnsSession& session, Direction dir) : session_(session), dir_(dir) {}
    void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override;
    void OnGap(const StreamGap& gap) override;

   private:
    DnsSession& session_;
    Direction dir_;
  };

  void OnMessage(Direction dir, Transport transport, uint64_t first_ts_ns, uint64_t last_ts_ns,
                 std::span<const uint8_t> bytes, bool cut, const DatagramPeer& peer);
  void OnQuery(uint64_t ts_ns, Key key);
  void OnResponse(Transport transport, uint64_t ts_ns, const DnsMessage& m, Key key);
  void Drop(std::list<Pending>::iterator it);
  static int Index(Direction dir) { return dir == Direction::kEgress ? 0 : 1; }

  Sink sink_;
  DnsPendingBudget* budget_;
  std::list<Pending> order_;  // pending queries, oldest first
  std::map<Key, std::list<Pending>::iterator> by_key_;
  DnsTcpFramer framers_[2];
  Consumer consumers_[2];
  DnsStats stats_;
};

}  // namespace l7tap::protocols
