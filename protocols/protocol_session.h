#pragma once
// What the connection tracker sees of a protocol on one connection: in-order bytes per direction in, finished
// transactions out, and whether the connection still carries the protocol. HTTP/1, HTTP/2 and DNS implement
// it; protocol_sniffer.h picks one from a connection's first bytes.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "protocols/dns_session.h"
#include "protocols/http1_session.h"
#include "protocols/http2_session.h"
#include "protocols/stream_reassembler.h"
#include "protocols/transaction.h"

namespace l7tap::protocols {

enum class SessionStatus : uint8_t {
  kActive,    // parsing (or still finding out)
  kNotMine,   // the bytes are not this protocol: the connection is ignored from then on
  kFinished,  // the connection switched to a protocol nobody parses (a websocket, a CONNECT tunnel): ignored
  kHandOver,  // the connection switched to a protocol another session parses (Upgrade: h2c): TakeHandOver
};

// Counts since the last TakeStats, by protocol (a session fills its own part).
struct ProtocolStats {
  Http1Stats http1;
  Http2Stats http2;
  DnsStats dns;
};

// Where finished exchanges go.
class TransactionSink {
 public:
  virtual ~TransactionSink() = default;
  virtual void OnHttp(HttpTransaction&& t) = 0;
  virtual void OnDns(DnsTransaction&& t) = 0;
};

// How an HTTP/1 connection continues as HTTP/2 after "101 Switching Protocols" to h2c: the upgraded request
// is stream 1 of the new session, and bytes the old session received after the switch go to the new one.
struct Http2HandOver {
  HttpTransaction request;           // method, target, start_ns, role of stream 1
  std::vector<HeldChunk> chunks[2];  // by Direction
};

class ProtocolSession {
 public:
  virtual ~ProtocolSession() = default;
  virtual const char* name() const = 0;  // "http1", "http2", "dns"
  virtual StreamConsumer& consumer(Direction dir) = 0;
  // One datagram and its other end (connectionless protocols; stream protocols ignore it).
  virtual void OnDatagram(Direction, uint64_t, std::span<const uint8_t>, uint32_t, const DatagramPeer&) {}
  // The connection closed: what is still open ends (counted).
  virtual void OnClose() = 0;
  virtual SessionStatus status() const = 0;
  // Adds the counts since the last call to `into`, zeroing them.
  virtual void TakeStats(ProtocolStats& into) = 0;
  // Frees parsing state when nothing is in flight (false: busy, or state that cannot be rebuilt).
  virtual bool Quiesce() { return false; }
  virtual bool quiesced() const { return false; }
  // Still looking for its first message (HTTP/1 skipping the bytes of a connection seen mid-way): another
  // protocol may claim the connection.
  virtual bool detecting() const { return false; }
  // Gives up on exchanges waiting for an answer longer than timeout_ns (DNS queries).
  virtual void Expire(uint64_t /*now_ns*/, uint64_t /*timeout_ns*/) {}
  virtual size_t pending() const { return 0; }
  // With kHandOver: what the next session starts from.
  virtual Http2HandOver TakeHandOver() { return {}; }
};

// The protocols' sessions behind the interface.
std::unique_ptr<ProtocolSession> MakeHttp1Session(Role role, TransactionSink& sink);
std::unique_ptr<ProtocolSession> MakeHttp2Session(Role role, TransactionSink& sink, bool from_start,
                                                  const Http2HandOver* hand_over = nullptr);
std::unique_ptr<ProtocolSession> MakeDnsSession(TransactionSink& sink, DnsPendingBudget* budget);

}  // namespace l7tap::protocols
