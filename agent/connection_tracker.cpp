#include "agent/connection_tracker.h"

#include <malloc.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "protocols/http2_frame.h"
#include "protocols/protocol_sniffer.h"

namespace l7tap::agent {

using protocols::Direction;
using protocols::ProtocolSession;
using protocols::Role;
using protocols::SessionStatus;

struct ConnectionTracker::Connection final : protocols::TransactionSink, protocols::TlsPlaintextSink {
  explicit Connection(ConnectionTracker& t) : tracker(t) {}
  void OnHttp(protocols::HttpTransaction&& t) override { tracker.EmitHttp(*this, std::move(t)); }
  void OnDns(protocols::DnsTransaction&& t) override { tracker.EmitDns(*this, std::move(t)); }
  void OnPlaintext(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override {
    tracker.OnPlaintext(*this, dir, ts_ns, bytes, uncopied_tail);
  }
  void OnPlaintextGap(Direction dir, const protocols::StreamGap& gap) override {
    tracker.OnPlaintextGap(*this, dir, gap);
  }

  ConnectionTracker& tracker;
  ConnId id;
  bool tcp = true;
  bool tls = false;  // plaintext comes from a TLS library; syscall bytes are ciphertext
  bool dns = false;  // UDP, or TCP on a DNS port: its session is DNS from the open on
  Role role = Role::kUnknown;
  bool opened = false;  // its open was seen: the kernel numbered its bytes from 0
  SessionStatus counted_status = SessionStatus::kActive;  // what was already added to the totals
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint64_t last_ns = 0;  // kernel time of its last event (idle expiry)
  std::string remote_addr;
  protocols::DatagramPeer remote_peer;  // connected sockets: a datagram's peer when its call named none
  std::string service;
  // Made on the first bytes (an idle connection holds none), or at the open for DNS.
  std::unique_ptr<ProtocolSession> session;
  std::optional<std::list<Connection*>::iterator> active;  // its place in active_ while session holds state
  protocols::StreamReassembler streams[2];
  // Keys mode: the ciphertext (streams) goes through this, the plaintext it yields to the session.
  std::unique_ptr<protocols::TlsDecryptor> decryptor;
  bool decrypted = false;     // its decryptor has had its keys (counted once)
  bool tls_untraced = false;  // given up (counted): its ciphertext is ignored from then on
};

namespace {

constexpr size_t kTrimAfterQuiesced = 256;

// A TLS record header (handshake, alert, change-cipher-spec or application data; version 3.x): what the
// kernel sends of a TLS connection only in keys mode.
bool StartsTlsRecord(std::string_view b) {
  if (b.size() < 3) return false;
  const auto type = uint8_t(b[0]), major = uint8_t(b[1]), minor = uint8_t(b[2]);
  return type >= 20 && type <= 23 && major == 3 && minor <= 4;
}

struct UntracedText {
  const char* label;
  const char* why;
};

UntracedText Describe(protocols::TlsUntracedReason r) {
  using R = protocols::TlsUntracedReason;
  switch (r) {
    case R::kHandshakeNotSeen:
      return {"handshake_not_seen", "its handshake came before the capture (opened before l7tap started)"};
    case R::kNoSecrets:
      return {"no_secrets",
              "no secrets for its handshake arrived (a TLS library without a key-log hook: use "
              "--tls-capture=auto for its plaintext probes, or --tls-keylog FILE)"};
    case R::kUnsupportedVersion:
      return {"unsupported_version", "SSL 3.0, TLS 1.0 or 1.1 (keys mode decrypts TLS 1.2 and 1.3)"};
    case R::kUnsupportedCipher:
      return {"unsupported_cipher",
              "its cipher suite is not AES-GCM or ChaCha20-Poly1305 (CBC and others are not decrypted)"};
    case R::kEarlyData:
      return {"early_data", "it sent 0-RTT early data, which is not decrypted"};
    case R::kDesync:
      return {"desync", "its record boundaries were lost with missing bytes and not found again"};
    case R::kNotTls:
      return {"not_tls", "its bytes are not TLS records"};
    case R::kBufferFull:
      return {"buffer_full", "more ciphertext than its bound arrived before its secrets"};
    case R::kNone:
      break;
  }
  return {"unknown", "unknown"};
}

std::string ProcessName(uint32_t tgid) {
  std::ifstream in("/proc/" + std::to_string(tgid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "unknown" : name;
}

}  // namespace

ConnectionTracker::ConnectionTracker(TableRegistry& tables, Sink sink, Ignored ignored, TrackerLimits limits)
    : sink_(std::move(sink)),
      ignored_(std::move(ignored)),
      limits_(limits),
      conns_table_(tables.Add("connections", limits.max_connections,
                              {Eviction::kFull, Eviction::kIdle, Eviction::kProcessGone})),
      dns_table_(
          tables.Add("dns_pending", limits.max_dns_pending, {Eviction::kFull, Eviction::kLeastRecent})),
      sessions_table_(
          tables.Add("http_sessions", limits.max_active_sessions, {Eviction::kIdle, Eviction::kLeastRecent})),
      held_table_(tables.Add("held_stream_bytes", limits.max_held_bytes, {Eviction::kFull})) {
  tls_pending_table_ = &tables.Add("tls_pending", limits.max_tls_pending, {Eviction::kFull});
  dns_budget_.capacity = limits.max_dns_pending;
  hold_budget_.capacity = limits.max_held_bytes;
}
ConnectionTracker::~ConnectionTracker() = default;

ConnectionTracker::Connection* ConnectionTracker::Create(const ConnId& id, bool tcp, Role role) {
  if (conns_.size() >= limits_.max_connections) return nullptr;
  auto c = std::make_unique<Connection>(*this);
  Connection* raw = c.get();
  raw->id = id;
  raw->tcp = tcp;
  raw->role = role;
  // Its process's container, read now (cached per process): a short-lived process may be gone by its first
  // transaction. Looked up again (from the cache) per transaction rather than kept per connection.
  if (container_of_) container_of_(id.tgid);
  for (auto& s : raw->streams) s.set_budget(&hold_budget_);
  conns_[id.key()] = std::move(c);
  conns_table_.set_entries(conns_.size());
  stats_.connections_opened++;
  return raw;
}

void ConnectionTracker::StartSession(Connection& c, std::string_view first_bytes) {
  if (protocols::SniffStream(first_bytes) == protocols::StreamProtocol::kHttp2) {
    // The preface is sent once, first: a connection whose open was not seen (a dial registered at its first
    // I/O) still starts here, with nothing lost.
    const bool preface = first_bytes.starts_with(protocols::kHttp2Preface.substr(0, 4));
    c.session = protocols::MakeHttp2Session(c.role, c, c.opened || preface);
    stats_.http2_connections++;
  } else {
    c.session = protocols::MakeHttp1Session(c.role, c);
  }
  c.counted_status = SessionStatus::kActive;
}

void ConnectionTracker::EmitHttp(Connection& c, protocols::HttpTransaction&& t) {
  TransactionRecord r;
  const bool server = t.role == Role::kServer;
  r.pid = c.id.tgid;
  r.service_name = c.service;
  r.container_id = container_of_ ? container_of_(c.id.tgid) : std::string();
  r.server_port = server ? c.local_port : c.remote_port;
  if (!server) r.server_address = c.remote_addr;
  r.tls = c.tls || c.decryptor;
  r.http = std::move(t);
  sink_(std::move(r));
}

void ConnectionTracker::EmitDns(Connection& c, protocols::DnsTransaction&& t) {
  if (!dns_sink_) return;
  DnsRecord r;
  r.pid = c.id.tgid;
  r.service_name = c.service;
  // UDP: the datagrams' peer (one unconnected socket may ask several servers, or answer many clients).
  if (t.role == Role::kServer) {
    r.server_port = c.local_port;
    r.client_address = PeerAddress(t.peer);
  } else if (t.peer.known()) {
    r.server_port = t.peer.port;
    r.server_address = PeerAddress(t.peer);
  } else {
    r.server_port = c.remote_port;
    r.server_address = c.remote_addr;
  }
  r.container_id = container_of_ ? container_of_(c.id.tgid) : std::string();
  r.dns = std::move(t);
  dns_sink_(std::move(r));
}

void ConnectionTracker::SetDns(DnsSink sink, std::vector<uint16_t> ports) {
  dns_sink_ = std::move(sink);
  if (!ports.empty()) dns_ports_ = std::move(ports);
}

void ConnectionTracker::StartDns(Connection& c) {
  c.dns = true;
  c.session = protocols::MakeDnsSession(c, &dns_budget_);
}

void ConnectionTracker::ExpireDns(uint64_t now_ns, uint64_t timeout_ns) {
  for (auto& [key, c] : conns_) {
    if (!c->dns || c->session->pending() == 0) continue;
    c->session->Expire(now_ns, timeout_ns);
    Account(*c);
  }
}

void ConnectionTracker::OnOpen(const ConnOpen& ev) {
  // A process id in use again (or a late exit report of one reused): it is alive.
  if (exited_.erase(ev.conn.tgid)) exited_order_.remove(ev.conn.tgid);
  if (auto it = conns_.find(ev.conn.key()); it != conns_.end()) End(*it->second);  // fd reused, close unseen
  Connection* c = Create(ev.conn, ev.tcp, ev.role);
  if (!c) {
    conns_table_.Evicted(Eviction::kFull);
    return;
  }
  c->local_port = ev.local_port;
  c->remote_port = ev.remote_port;
  c->remote_addr = ev.remote_addr;
  c->remote_peer = ev.remote;
  c->service = ev.comm;
  c->last_ns = ev.ts_ns;
  // The kernel numbers a connection's bytes from 0 when it registers it: bytes lost before the first ones
  // delivered are a gap too.
  c->opened = true;
  for (auto& s : c->streams) s.StartAt(0);
  auto is_dns_port = [this](uint16_t p) {
    return std::find(dns_ports_.begin(), dns_ports_.end(), p) != dns_ports_.end();
  };
  if (!ev.tcp || is_dns_port(ev.local_port) || is_dns_port(ev.remote_port)) StartDns(*c);
}

void ConnectionTracker::OnData(const Data& ev) {
  Connection* c = nullptr;
  if (auto it = conns_.find(ev.conn.key()); it != conns_.end()) {
    if (it->second->id.generation == ev.conn.generation) {
      c = it->second.get();
    } else if (it->second->id.generation > ev.conn.generation) {
      stats_.stale_events++;
      return;
    } else {
      End(*it->second);
    }
  }
  if (!c) {
    if (exited_.contains(ev.conn.tgid)) {
      stats_.stale_events++;  // the process is gone: this ends nothing it had open
      return;
    }
    // The open event was lost: follow the connection anyway, without addresses (a datagram that names its
    // peer is UDP, so DNS).
    const bool udp = ev.peer.known();
    c = Create(ev.conn, !udp, Role::kUnknown);
    if (!c) {
      stats_.events_untracked++;
      return;
    }
    stats_.connections_without_open++;
    c->service = ProcessName(ev.conn.tgid);
    if (udp) StartDns(*c);
  }
  c->last_ns = std::max(c->last_ns, ev.ts_ns);
  if (c->dns) {
    const auto bytes = std::span(reinterpret_cast<const uint8_t*>(ev.payload.data()), ev.payload.size());
    if (!c->tcp)
      c->session->OnDatagram(ev.direction, ev.ts_ns, bytes, ev.length,
                             ev.peer.known() ? ev.peer : c->remote_peer);
    else if (!ev.tls)
      Push(*c, ev);
    Account(*c);
    return;
  }
  if (!c->tcp) return;  // UDP that is not DNS carries no HTTP
  if (!ev.tls && !c->tls && tls_store_) {
    if (c->tls_untraced) return;  // muted: late ciphertext
    if (!c->decryptor && !c->session && StartsTlsRecord(ev.payload)) {
      if (tls_pending_.size() >= limits_.max_tls_pending) {
        tls_pending_table_->Evicted(Eviction::kFull);
        tls_untraced_->Count(c->service, c->id.tgid, "pending_limit",
                             "too many TLS connections waited for their secrets at once");
        c->tls_untraced = true;
        if (ignored_) ignored_(c->id, false);
        return;
      }
      c->decryptor =
          std::make_unique<protocols::TlsDecryptor>(c->role, *tls_store_, *c, c->id.tgid, limits_.tls);
      tls_pending_.insert(c);
      tls_pending_table_->set_entries(tls_pending_.size());
    }
    if (c->decryptor) {
      PushCiphertext(*c, ev);
      return;
    }
  }
  if (ev.tls && !c->tls) {
    // First plaintext from the TLS library: whatever the syscalls showed was the handshake. Start over on
    // the plaintext stream (a decryptor started on the ciphertext gives way: the kernel stopped sending it).
    if (c->decryptor) DropDecryptor(*c);
    c->tls = true;
    Deactivate(*c);
    c->session.reset();
    for (auto& s : c->streams) {
      s.Reset();
      if (c->opened) s.StartAt(0);  // the plaintext stream is numbered from 0 as well
    }
    holding_.erase(c);
  } else if (!ev.tls && c->tls) {
    return;  // ciphertext
  }
  if (!c->session) {
    StartSession(*c, ev.payload);
  } else if (c->session->detecting() && !c->opened &&
             protocols::SniffStream(ev.payload) == protocols::StreamProtocol::kHttp2) {
    // Seen mid-way, HTTP/1 found no message start yet: these are HTTP/2 frames.
    Deactivate(*c);
    Account(*c);
    c->session = protocols::MakeHttp2Session(c->role, *c, /*from_start=*/false);
    stats_.http2_connections++;
  }
  const SessionStatus status = c->session->status();
  if (status != SessionStatus::kActive) return;  // costs nothing from here on
  Push(*c, ev);
  Account(*c);
  Touch(*c);
}

void ConnectionTracker::Touch(Connection& c) {
  if (c.active) {
    active_.splice(active_.begin(), active_, *c.active);
  } else if (!c.session->quiesced()) {
    active_.push_front(&c);
    c.active = active_.begin();
  }
  // Least recent first; one busy in the middle of a message stays (a few tries, then the cap waits).
  for (int tries = 0; active_.size() > limits_.max_active_sessions && tries < 8; ++tries) {
    Connection* oldest = active_.back();
    if (oldest != &c && !holding_.contains(oldest) && oldest->session->Quiesce()) {
      Deactivate(*oldest);
      sessions_table_.Evicted(Eviction::kLeastRecent);
    } else {
      active_.splice(active_.begin(), active_, std::prev(active_.end()));
    }
  }
  sessions_table_.set_entries(active_.size());
}

void ConnectionTracker::Deactivate(Connection& c) {
  if (!c.active) return;
  active_.erase(*c.active);
  c.active.reset();
}

protocols::StreamConsumer& ConnectionTracker::ConsumerOf(Connection& c, Direction dir) {
  return c.decryptor ? c.decryptor->consumer(dir) : c.session->consumer(dir);
}

void ConnectionTracker::Push(Connection& c, const Data& ev) {
  auto& stream = c.streams[static_cast<int>(ev.direction)];
  protocols::StreamConsumer& out = ConsumerOf(c, ev.direction);
  stream.Push({ev.position, ev.ts_ns, ev.payload, ev.length, ev.lost_events, ev.lost_starts, ev.unseen}, out);
  if (c.streams[0].holding() || c.streams[1].holding()) {
    holding_.insert(&c);
  } else {
    holding_.erase(&c);
  }
}

void ConnectionTracker::ExpireHoles(uint64_t now_ns) {
  if (holding_.empty() || now_ns < limits_.reorder_grace_ns) return;
  const uint64_t cutoff = now_ns - limits_.reorder_grace_ns;
  for (auto it = holding_.begin(); it != holding_.end();) {
    Connection& c = **it;
    for (int d = 0; d < 2; ++d) {
      const auto dir = static_cast<Direction>(d);
      c.streams[d].Expire(cutoff, ConsumerOf(c, dir));
    }
    if (c.decryptor) CheckTls(c);
    if (c.session) Account(c);
    it = c.streams[0].holding() || c.streams[1].holding() ? std::next(it) : holding_.erase(it);
  }
}

size_t ConnectionTracker::Sweep(uint64_t now_ns, const std::function<bool(uint32_t tgid)>& alive) {
  std::vector<Connection*> idle;
  std::unordered_map<uint32_t, bool> running;  // one check per process
  std::vector<uint32_t> gone;
  size_t quiesced = 0;
  const uint64_t idle_before = now_ns > limits_.idle_timeout_ns ? now_ns - limits_.idle_timeout_ns : 0;
  for (auto& [key, c] : conns_) {
    auto [it, first] = running.try_emplace(c->id.tgid, true);
    if (first) {
      it->second = alive(c->id.tgid);
      if (!it->second) gone.push_back(c->id.tgid);
    }
    if (it->second && c->last_ns < idle_before) {
      idle.push_back(c.get());
    } else if (c->active && c->last_ns + limits_.quiesce_after_ns < now_ns && !holding_.contains(c.get()) &&
               c->session->Quiesce()) {
      Deactivate(*c);
      sessions_table_.Evicted(Eviction::kIdle);
      ++quiesced;
    }
  }
  sessions_table_.set_entries(active_.size());
  held_table_.set_entries(hold_budget_.used);
  held_table_.Evicted(Eviction::kFull, hold_budget_.refused - held_refused_seen_);
  held_refused_seen_ = hold_budget_.refused;
  // What idle connections freed goes back to the system, not only to the allocator's free lists.
  if (quiesced >= kTrimAfterQuiesced) malloc_trim(0);
  size_t ended = 0;
  for (Connection* c : idle) {
    const ConnId id = c->id;
    End(*c);
    if (forgotten_) forgotten_(id, Eviction::kIdle);
    conns_table_.Evicted(Eviction::kIdle);
    ++ended;
  }
  for (uint32_t tgid : gone) {
    for (int32_t fd : OnProcessExit(tgid)) {
      if (forgotten_) forgotten_(ConnId{tgid, fd, 0}, Eviction::kProcessGone);
      conns_table_.Evicted(Eviction::kProcessGone);
      ++ended;
    }
  }
  return ended;
}

void ConnectionTracker::OnClose(const Close& ev) {
  auto it = conns_.find(ev.conn.key());
  if (it == conns_.end() || it->second->id.generation != ev.conn.generation) return;
  End(*it->second, &ev);
}

std::vector<int32_t> ConnectionTracker::OnProcessExit(uint32_t tgid) {
  if (exited_.insert(tgid).second) {
    exited_order_.push_back(tgid);
    if (exited_order_.size() > kMaxExited) {
      exited_.erase(exited_order_.front());
      exited_order_.pop_front();
    }
  }
  std::vector<int32_t> fds;
  for (auto& [key, c] : conns_)
    if (c->id.tgid == tgid) fds.push_back(c->id.fd);
  for (int32_t fd : fds) End(*conns_.at(ConnId{tgid, fd, 0}.key()));
  return fds;
}

void ConnectionTracker::End(Connection& c, const Close* close) {
  uint64_t key = c.id.key();
  if (c.decryptor) {
    for (int d = 0; d < 2; ++d)
      c.streams[d].Flush(c.decryptor->consumer(static_cast<Direction>(d)), close ? close->lost_events[d] : 0,
                         close ? close->lost_starts[d] : 0);
    if (!c.decrypted) {
      // Its secrets may be in a key-log file line not read yet: read it before giving up.
      if (tls_refresh_) tls_refresh_();
      c.decryptor->Poll(UINT64_MAX);
    }
    CheckTls(c);
    if (c.decryptor) DropDecryptor(c);
  }
  if (c.session) {
    if (c.tcp && !c.decrypted) {
      for (int d = 0; d < 2; ++d) {
        const auto dir = static_cast<Direction>(d);
        c.streams[d].Flush(c.session->consumer(dir), close ? close->lost_events[d] : 0,
                           close ? close->lost_starts[d] : 0);
      }
    }
    c.session->OnClose();
    Account(c);
  }
  holding_.erase(&c);
  tls_pending_.erase(&c);
  tls_pending_table_->set_entries(tls_pending_.size());
  Deactivate(c);
  conns_.erase(key);  // destroys c
  conns_table_.set_entries(conns_.size());
}

void ConnectionTracker::Account(Connection& c) {
  protocols::ProtocolStats p;
  c.session->TakeStats(p);
  const protocols::DnsStats& d = p.dns;
  stats_.dns_unanswered += d.unanswered;
  stats_.dns_unmatched_responses += d.unmatched_responses;
  stats_.dns_malformed += d.malformed;
  stats_.dns_retransmits += d.retransmits;
  stats_.dns_stream_gaps += d.stream_gaps;
  stats_.dns_truncated_captures += d.truncated_captures;
  const protocols::Http1Stats& h = p.http1;
  stats_.http_parse_errors += h.parse_errors;
  stats_.http_unmatched_responses += h.unmatched_responses;
  stats_.http_unanswered_requests += h.unanswered_requests;
  stats_.http_incomplete_messages += h.incomplete_messages;
  stats_.http_desyncs += h.desyncs;
  stats_.http_requests_cut += h.requests_cut;
  stats_.http_responses_lost += h.responses_lost;
  stats_.http_requests_framing_lost += h.requests_framing_lost;
  stats_.http_requests_queue_full += h.requests_queue_full;
  stats_.http_chunks_skipped += h.chunks_skipped;
  const protocols::Http2Stats& h2 = p.http2;
  stats_.http2_streams_reset += h2.streams_reset;
  stats_.http2_streams_goaway += h2.streams_goaway;
  stats_.http2_streams_closed += h2.streams_closed;
  stats_.http2_streams_lost += h2.streams_lost;
  stats_.http2_streams_over_limit += h2.streams_over_limit;
  stats_.http2_header_state_lost += h2.header_state_lost;
  stats_.http2_header_blocks_failed += h2.header_blocks_failed;
  stats_.http2_desyncs += h2.desyncs;
  stats_.http2_resyncs += h2.resyncs;
  stats_.http2_frames_unknown_stream += h2.frames_unknown_stream;
  stats_.http2_protocol_errors += h2.protocol_errors;
  for (auto& stream : c.streams) {
    const protocols::ReassemblerStats s = stream.TakeStats();
    stats_.stream_gaps += s.gaps;
    stats_.stream_gap_bytes += s.gap_bytes;
    stats_.stream_overlap_bytes += s.overlap_bytes;
    stats_.stream_late_reports += s.late_reports;
  }
  if (c.dns) {
    dns_table_.set_entries(dns_budget_.used);
    dns_table_.Evicted(Eviction::kLeastRecent, dns_budget_.evicted - dns_evicted_seen_);
    dns_table_.Evicted(Eviction::kFull, dns_budget_.refused - dns_refused_seen_);
    dns_evicted_seen_ = dns_budget_.evicted;
    dns_refused_seen_ = dns_budget_.refused;
    return;
  }
  const SessionStatus status = c.session->status();
  if (status == SessionStatus::kHandOver) {
    // Upgraded to h2c: HTTP/2 continues on the same streams, from the bytes the old session held.
    stats_.connections_upgraded++;
    protocols::Http2HandOver h = c.session->TakeHandOver();
    Deactivate(c);
    c.session = protocols::MakeHttp2Session(h.request.role, c, /*from_start=*/true, &h);
    stats_.http2_connections++;
    c.counted_status = SessionStatus::kActive;
    return Account(c);
  }
  if (status != c.counted_status) {
    if (status == SessionStatus::kNotMine) stats_.connections_not_http++;
    if (status == SessionStatus::kFinished) stats_.connections_upgraded++;
    if (status != SessionStatus::kActive && ignored_) ignored_(c.id, c.tls);
    c.counted_status = status;
    if (status != SessionStatus::kActive && c.decryptor) DropDecryptor(c);  // its keys are not needed now
  }
}

}  // namespace l7tap::agent

namespace l7tap::agent {

void ConnectionTracker::SetTls(protocols::TlsSecretStore* store, TlsUntraced* untraced,
                               std::function<void()> refresh) {
  tls_store_ = store;
  tls_untraced_ = untraced;
  tls_refresh_ = std::move(refresh);
}

void ConnectionTracker::PushCiphertext(Connection& c, const Data& ev) {
  Push(c, ev);
  CheckTls(c);
  if (c.session) {
    Account(c);
    if (c.session && c.session->status() == SessionStatus::kActive) Touch(c);
  }
}

void ConnectionTracker::OnPlaintext(Connection& c, Direction dir, uint64_t ts_ns, std::string_view bytes,
                                    uint64_t uncopied_tail) {
  if (!c.session) {
    // Decrypted from the handshake on: the plaintext stream is whole from its start.
    if (protocols::SniffStream(bytes) == protocols::StreamProtocol::kHttp2) {
      c.session = protocols::MakeHttp2Session(c.role, c, /*from_start=*/true);
      stats_.http2_connections++;
    } else {
      c.session = protocols::MakeHttp1Session(c.role, c);
    }
    c.counted_status = SessionStatus::kActive;
  }
  if (c.session->status() != SessionStatus::kActive) return;
  c.session->consumer(dir).OnData(ts_ns, bytes, uncopied_tail);
}

void ConnectionTracker::OnPlaintextGap(Connection& c, Direction dir, const protocols::StreamGap& gap) {
  if (c.session && c.session->status() == SessionStatus::kActive) c.session->consumer(dir).OnGap(gap);
}

void ConnectionTracker::CheckTls(Connection& c) {
  protocols::TlsDecryptor& d = *c.decryptor;
  const protocols::TlsDecryptorStats t = d.TakeStats();
  stats_.tls_records += t.records;
  stats_.tls_records_partial += t.records_partial;
  stats_.tls_bytes_decrypted += t.bytes_decrypted;
  stats_.tls_key_updates += t.key_updates;
  stats_.tls_paired_by_random += t.secrets_by_random;
  stats_.tls_paired_by_trial += t.secrets_by_trial;
  stats_.tls_desyncs += t.desyncs;
  stats_.tls_resyncs += t.resyncs;
  if (!c.decrypted && d.decrypting()) {
    c.decrypted = true;
    stats_.tls_connections_decrypted++;
    tls_pending_.erase(&c);
    tls_pending_table_->set_entries(tls_pending_.size());
  }
  const protocols::TlsUntracedReason reason = d.untraced();
  if (reason == protocols::TlsUntracedReason::kNone) return;
  const UntracedText text = Describe(reason);
  tls_untraced_->Count(c.service, c.id.tgid, text.label, text.why);
  c.tls_untraced = true;
  if (ignored_) ignored_(c.id, false);  // the kernel stops sending its ciphertext
  DropDecryptor(c);
}

void ConnectionTracker::DropDecryptor(Connection& c) {
  c.decryptor->OnClose();  // wipes its keys
  c.decryptor.reset();
  for (auto& s : c.streams) s.Reset();
  holding_.erase(&c);
  tls_pending_.erase(&c);
  tls_pending_table_->set_entries(tls_pending_.size());
}

void ConnectionTracker::PollTls(uint64_t now_ns) {
  if (tls_pending_.empty()) return;
  std::vector<Connection*> pending(tls_pending_.begin(), tls_pending_.end());
  for (Connection* c : pending) {
    c->decryptor->Poll(now_ns);
    CheckTls(*c);
    if (c->session) Account(*c);
  }
}

}  // namespace l7tap::agent
