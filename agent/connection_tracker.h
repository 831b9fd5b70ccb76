#pragma once
// Follows every connection the probes report: byte streams per direction, the protocol session on them, and
// the process it belongs to. Turns decoded events into enriched transactions. Bounded: at most
// max_connections followed, each dropped after idle_timeout without events, and those of processes that
// ended unseen are found and ended.
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/event_decoder.h"
#include "agent/table_stats.h"
#include "agent/tls_untraced.h"
#include "protocols/dns_session.h"
#include "protocols/protocol_session.h"
#include "protocols/stream_reassembler.h"
#include "protocols/tls_decryptor.h"
#include "protocols/tls_secret.h"
#include "protocols/transaction.h"

namespace l7tap::agent {

struct TransactionRecord {
  protocols::HttpTransaction http;
  uint32_t pid = 0;
  std::string service_name;    // process name
  uint16_t server_port = 0;    // the server's port, whichever side was traced
  std::string server_address;  // client side: the peer it called
  bool tls = false;            // seen through a TLS library, or decrypted by the agent
  std::string container_id;    // "" for host processes (agent/container_id.h)
};

struct DnsRecord {
  protocols::DnsTransaction dns;
  uint32_t pid = 0;
  std::string service_name;    // process name
  uint16_t server_port = 0;    // the DNS server's port, whichever side was traced
  std::string server_address;  // client side: the server it asked (the datagram's peer, else the socket's)
  std::string client_address;  // server side, UDP: the client it answered
  std::string container_id;    // "" for host processes
};

// Monotonic totals, read by the metrics collector from another thread.
struct TrackerStats {
  std::atomic<uint64_t> connections_opened{0};
  std::atomic<uint64_t> connections_not_http{0};
  std::atomic<uint64_t> connections_upgraded{0};
  std::atomic<uint64_t> connections_without_open{
      0};                                     // data before any open event (open lost, or pre-existing)
  std::atomic<uint64_t> events_untracked{0};  // data of a connection refused (table full)
  std::atomic<uint64_t> stream_gaps{0};
  std::atomic<uint64_t> stream_gap_bytes{0};
  std::atomic<uint64_t> stream_overlap_bytes{0};
  std::atomic<uint64_t> stream_late_reports{0};  // losses reported after their hole was declared
  std::atomic<uint64_t> http_parse_errors{0};
  std::atomic<uint64_t> http_unmatched_responses{0};
  std::atomic<uint64_t> http_unanswered_requests{0};
  std::atomic<uint64_t> http_incomplete_messages{0};
  std::atomic<uint64_t> http_desyncs{0};
  std::atomic<uint64_t> http_requests_cut{0};
  std::atomic<uint64_t> http_responses_lost{0};
  std::atomic<uint64_t> http_requests_framing_lost{0};
  std::atomic<uint64_t> http_requests_queue_full{0};
  std::atomic<uint64_t> http_chunks_skipped{0};
  std::atomic<uint64_t> http2_connections{0};
  std::atomic<uint64_t> http2_streams_reset{0};
  std::atomic<uint64_t> http2_streams_goaway{0};
  std::atomic<uint64_t> http2_streams_closed{0};
  std::atomic<uint64_t> http2_streams_lost{0};
  std::atomic<uint64_t> http2_streams_over_limit{0};
  std::atomic<uint64_t> http2_header_state_lost{0};
  std::atomic<uint64_t> http2_header_blocks_failed{0};
  std::atomic<uint64_t> http2_desyncs{0};
  std::atomic<uint64_t> http2_resyncs{0};
  std::atomic<uint64_t> http2_frames_unknown_stream{0};
  std::atomic<uint64_t> http2_protocol_errors{0};
  // Events of a connection already ended: its fd's generation replaced, or its process exited (a thread
  // still in a write when the process exits reports it after the exit).
  std::atomic<uint64_t> stale_events{0};
  std::atomic<uint64_t> dns_unanswered{0};
  std::atomic<uint64_t> dns_unmatched_responses{0};
  std::atomic<uint64_t> dns_malformed{0};
  std::atomic<uint64_t> dns_retransmits{0};
  std::atomic<uint64_t> dns_stream_gaps{0};
  std::atomic<uint64_t> dns_truncated_captures{0};
  // Keys mode: TLS connections decrypted by the agent, and what their decryptors counted.
  std::atomic<uint64_t> tls_connections_decrypted{0};
  std::atomic<uint64_t> tls_records{0};
  std::atomic<uint64_t> tls_records_partial{0};  // only a prefix of the body was copied (decrypted so far)
  std::atomic<uint64_t> tls_bytes_decrypted{0};
  std::atomic<uint64_t> tls_key_updates{0};
  std::atomic<uint64_t> tls_paired_by_random{0};  // secrets found by the ClientHello's random
  std::atomic<uint64_t> tls_paired_by_trial{0};   // by the (process, SSL object) whose keys open the records
  std::atomic<uint64_t> tls_desyncs{0};
  std::atomic<uint64_t> tls_resyncs{0};
};

struct TrackerLimits {
  size_t max_connections = 65536;
  uint64_t idle_timeout_ns = 600'000'000'000;  // --conn-idle-timeout
  // A hole in a stream waits this long for a reordered chunk before it is declared a gap (kernel time).
  uint64_t reorder_grace_ns = 20'000'000;
  size_t max_dns_pending = 65536;    // queries waiting for answers, all sockets together
  size_t max_held_bytes = 16 << 20;  // chunks waiting past a hole for reordered ones, all streams together
  // A connection without events this long frees its parsing state (kept again from its next bytes).
  uint64_t quiesce_after_ns = 1'000'000'000;
  // Sessions holding parsing state at once; past it the least recently active one with nothing in flight
  // frees it (a node with many mostly idle connections costs per active exchange, not per connection).
  size_t max_active_sessions = 4096;
  // Keys mode: TLS connections waiting for their handshake's secrets at once (each holds at most
  // tls.max_buffered_bytes of ciphertext); past it a new one is counted untraced (reason pending_limit).
  size_t max_tls_pending = 1024;
  protocols::TlsDecryptorLimits tls = {.max_buffered_bytes = 64 << 10};
};

class ConnectionTracker {
 public:
  using Sink = std::function<void(TransactionRecord&&)>;
  // Called once when a connection stops being worth its bytes (not HTTP, or upgraded).
  using Ignored = std::function<void(const ConnId&, bool tls)>;
  // Called when a connection is dropped without its close being seen (idle, process gone): the kernel's
  // record goes too.
  using Forgotten = std::function<void(const ConnId&, Eviction why)>;
  ConnectionTracker(TableRegistry& tables, Sink sink, Ignored ignored = nullptr, TrackerLimits limits = {});
  ~ConnectionTracker();

  // DNS: transactions go to `sink`; TCP connections to or from `ports` are DNS (UDP is DNS whenever the
  // probes send it: they only send datagrams on DNS ports).
  using DnsSink = std::function<void(DnsRecord&&)>;
  void SetDns(DnsSink sink, std::vector<uint16_t> ports);
  void SetForgotten(Forgotten forgotten) { forgotten_ = std::move(forgotten); }
  // The container id of a process (asked once per connection, when it is created); none: "".
  void SetContainerIds(std::function<std::string(uint32_t tgid)> of) { container_of_ = std::move(of); }
  // Keys mode: TLS connections whose ciphertext the kernel sends are decrypted with the store's secrets;
  // `refresh` (optional) reads secrets that may have arrived meanwhile (key-log files) before a connection
  // waiting for them is given up.
  void SetTls(protocols::TlsSecretStore* store, TlsUntraced* untraced,
              std::function<void()> refresh = nullptr);
  // Pairs waiting TLS connections with secrets that arrived, and gives up on those waiting too long.
  void PollTls(uint64_t now_ns);
  // Gives up on DNS queries pending longer than timeout_ns (counted unanswered).
  void ExpireDns(uint64_t now_ns, uint64_t timeout_ns);

  void OnOpen(const ConnOpen& ev);
  void OnData(const Data& ev);
  void OnClose(const Close& ev);
  // Ends every connection of the process; returns their fds so the kernel's table can drop them too.
  std::vector<int32_t> OnProcessExit(uint32_t tgid);
  // Declares the holes that waited past the reorder grace (call after each batch of events).
  void ExpireHoles(uint64_t now_ns);
  // Ends connections without events for idle_timeout, and those of processes that are gone (`alive` says
  // whether a process still runs). Returns how many were ended.
  size_t Sweep(uint64_t now_ns, const std::function<bool(uint32_t tgid)>& alive);

  size_t open_connections() const { return conns_.size(); }
  const TrackerStats& stats() const { return stats_; }

 private:
  struct Connection;
  Connection* Create(const ConnId& id, bool tcp, protocols::Role role);
  // Picks the connection's protocol from the bytes about to be parsed.
  void StartSession(Connection& c, std::string_view first_bytes);
  void Push(Connection& c, const Data& ev);
  void End(Connection& c, const Close* close = nullptr);
  // Adds what the connection's session and streams counted since the last call to the totals.
  void Account(Connection& c);
  void StartDns(Connection& c);
  // Keys mode: ciphertext in, plaintext out to the session; gives up (counted) when the decryptor does.
  void PushCiphertext(Connection& c, const Data& ev);
  void OnPlaintext(Connection& c, protocols::Direction dir, uint64_t ts_ns, std::string_view bytes,
                   uint64_t uncopied_tail);
  void OnPlaintextGap(Connection& c, protocols::Direction dir, const protocols::StreamGap& gap);
  void CheckTls(Connection& c);
  void DropDecryptor(Connection& c);
  protocols::StreamConsumer& ConsumerOf(Connection& c, protocols::Direction dir);
  void EmitHttp(Connection& c, protocols::HttpTransaction&& t);
  void EmitDns(Connection& c, protocols::DnsTransaction&& t);
  // The connection's session just parsed bytes: most recently active now; frees the least recent ones
  // past max_active_sessions.
  void Touch(Connection& c);
  void Deactivate(Connection& c);

  Sink sink_;
  Ignored ignored_;
  Forgotten forgotten_;
  std::function<std::string(uint32_t tgid)> container_of_;
  DnsSink dns_sink_;
  TrackerLimits limits_;
  std::vector<uint16_t> dns_ports_ = {53};
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::unordered_set<Connection*> holding_;  // connections with a stream hole waiting for reordered chunks
  std::list<Connection*> active_;            // sessions holding parsing state, most recently active first
  protocols::TlsSecretStore* tls_store_ = nullptr;
  TlsUntraced* tls_untraced_ = nullptr;
  std::function<void()> tls_refresh_;
  std::unordered_set<Connection*> tls_pending_;  // decryptors waiting for a handshake's secrets
  TableStats* tls_pending_table_ = nullptr;
  protocols::DnsPendingBudget dns_budget_;
  protocols::HoldBudget hold_budget_;
  TableStats& conns_table_;
  TableStats& dns_table_;
  TableStats& sessions_table_;
  TableStats& held_table_;
  // Processes that exited, most recent last (bounded): their late events start no connection.
  std::unordered_set<uint32_t> exited_;
  std::list<uint32_t> exited_order_;
  static constexpr size_t kMaxExited = 4096;
  uint64_t held_refused_seen_ = 0;
  uint64_t dns_evicted_seen_ = 0, dns_refused_seen_ = 0;
  TrackerStats stats_;
};

}  // namespace l7tap::agent
