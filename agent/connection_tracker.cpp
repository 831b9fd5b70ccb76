#include "agent/connection_tracker.h"

#include <algorithm>
#include <fstream>

#include "protocols/dns_session.h"
#include "protocols/http1_session.h"
#include "protocols/stream_reassembler.h"

namespace l7tap::agent {

using protocols::Direction;
using protocols::Http1Session;
using protocols::Http1State;
using protocols::Role;

struct ConnectionTracker::Connection {
  ConnId id;
  bool tcp = true;
  bool tls = false;  // plaintext comes from a TLS library; syscall bytes are ciphertext
  Role role = Role::kUnknown;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  std::string remote_addr;
  std::string service;
  std::unique_ptr<Http1Session> http;
  std::unique_ptr<protocols::DnsSession> dns;  // instead of http: UDP, or TCP on a DNS port
  protocols::DnsStats counted_dns;
  protocols::StreamReassembler streams[2];
  // What was already added to the tracker's totals.
  protocols::Http1Stats counted_http;
  protocols::ReassemblerStats counted_streams[2];
  Http1State counted_state = Http1State::kDetecting;
};

namespace {

std::string ProcessName(uint32_t tgid) {
  std::ifstream in("/proc/" + std::to_string(tgid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "unknown" : name;
}

void Add(std::atomic<uint64_t>& total, uint64_t now, uint64_t& counted) {
  if (now > counted) total += now - counted;
  counted = now;
}

}  // namespace

ConnectionTracker::ConnectionTracker(Sink sink, Ignored ignored)
    : sink_(std::move(sink)), ignored_(std::move(ignored)) {}
ConnectionTracker::~ConnectionTracker() = default;

ConnectionTracker::Connection* ConnectionTracker::Create(const ConnId& id, bool tcp, Role role) {
  auto c = std::make_unique<Connection>();
  Connection* raw = c.get();
  raw->id = id;
  raw->tcp = tcp;
  raw->role = role;
  StartSession(*raw);
  conns_[id.key()] = std::move(c);
  stats_.connections_opened++;
  return raw;
}

void ConnectionTracker::StartSession(Connection& c) {
  Connection* raw = &c;
  c.http = std::make_unique<Http1Session>(c.role, [this, raw](protocols::HttpTransaction&& t) {
    TransactionRecord r;
    bool server = t.role == Role::kServer;
    r.pid = raw->id.tgid;
    r.service_name = raw->service;
    r.server_port = server ? raw->local_port : raw->remote_port;
    if (!server) r.server_address = raw->remote_addr;
    r.tls = raw->tls;
    r.http = std::move(t);
    sink_(std::move(r));
  });
  for (auto& s : c.streams) s = protocols::StreamReassembler();
  c.counted_http = {};
  for (auto& s : c.counted_streams) s = {};
  c.counted_state = Http1State::kDetecting;
}

void ConnectionTracker::SetDns(DnsSink sink, std::vector<uint16_t> ports) {
  dns_sink_ = std::move(sink);
  if (!ports.empty()) dns_ports_ = std::move(ports);
}

void ConnectionTracker::StartDns(Connection& c) {
  Connection* raw = &c;
  c.http.reset();
  c.dns = std::make_unique<protocols::DnsSession>([this, raw](protocols::DnsTransaction&& t) {
    if (!dns_sink_) return;
    DnsRecord r;
    const bool server = t.role == Role::kServer;
    r.pid = raw->id.tgid;
    r.service_name = raw->service;
    r.server_port = server ? raw->local_port : raw->remote_port;
    if (!server) r.server_address = raw->remote_addr;
    r.dns = std::move(t);
    dns_sink_(std::move(r));
  });
}

void ConnectionTracker::ExpireDns(uint64_t now_ns, uint64_t timeout_ns) {
  for (auto& [key, c] : conns_) {
    if (!c->dns || c->dns->pending() == 0) continue;
    c->dns->Expire(now_ns, timeout_ns);
    AccountDns(*c);
  }
}

void ConnectionTracker::OnOpen(const ConnOpen& ev) {
  if (auto it = conns_.find(ev.conn.key()); it != conns_.end()) End(*it->second);  // fd reused, close unseen
  Connection* c = Create(ev.conn, ev.tcp, ev.role);
  c->local_port = ev.local_port;
  c->remote_port = ev.remote_port;
  c->remote_addr = ev.remote_addr;
  c->service = ev.comm;
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
    // The open event was lost: follow the connection anyway, without addresses.
    stats_.connections_without_open++;
    c = Create(ev.conn, true, Role::kUnknown);
    c->service = ProcessName(ev.conn.tgid);
  }
  if (c->dns) {
    const auto bytes = std::span(reinterpret_cast<const uint8_t*>(ev.payload.data()), ev.payload.size());
    if (!c->tcp)
      c->dns->OnDatagram(ev.direction, ev.ts_ns, bytes, ev.length);
    else if (!ev.tls)
      c->streams[static_cast<int>(ev.direction)].Push(ev.position, ev.ts_ns, ev.payload, ev.length,
                                                      c->dns->consumer(ev.direction));
    AccountDns(*c);
    return;
  }
  if (!c->tcp) return;  // UDP that is not DNS carries no HTTP/1
  if (ev.tls && !c->tls) {
    // First plaintext from the TLS library: whatever the syscalls showed was the handshake. Start over on
    // the plaintext stream.
    c->tls = true;
    StartSession(*c);
  } else if (!ev.tls && c->tls) {
    return;  // ciphertext
  }
  Http1State state = c->http->state();
  if (state == Http1State::kNotHttp || state == Http1State::kUpgraded) return;  // costs nothing from here on
  auto dir = ev.direction;
  c->streams[static_cast<int>(dir)].Push(ev.position, ev.ts_ns, ev.payload, ev.length,
                                         c->http->consumer(dir));
  Account(*c);
}

void ConnectionTracker::OnClose(const Close& ev) {
  auto it = conns_.find(ev.conn.key());
  if (it == conns_.end() || it->second->id.generation != ev.conn.generation) return;
  End(*it->second);
}

std::vector<int32_t> ConnectionTracker::OnProcessExit(uint32_t tgid) {
  std::vector<int32_t> fds;
  for (auto& [key, c] : conns_)
    if (c->id.tgid == tgid) fds.push_back(c->id.fd);
  for (int32_t fd : fds) End(*conns_.at(ConnId{tgid, fd, 0}.key()));
  return fds;
}

void ConnectionTracker::End(Connection& c) {
  uint64_t key = c.id.key();
  if (c.dns) {
    if (c.tcp)
      for (int d = 0; d < 2; ++d) c.streams[d].Flush(c.dns->consumer(static_cast<Direction>(d)));
    c.dns->Close();
    AccountDns(c);
  } else if (c.tcp) {
    for (int d = 0; d < 2; ++d) c.streams[d].Flush(c.http->consumer(static_cast<Direction>(d)));
    c.http->OnClose();
    Account(c);
  }
  conns_.erase(key);  // destroys c
}

void ConnectionTracker::AccountDns(Connection& c) {
  const auto& d = c.dns->stats();
  auto& was = c.counted_dns;
  Add(stats_.dns_unanswered, d.unanswered, was.unanswered);
  Add(stats_.dns_unmatched_responses, d.unmatched_responses, was.unmatched_responses);
  Add(stats_.dns_malformed, d.malformed, was.malformed);
  Add(stats_.dns_retransmits, d.retransmits, was.retransmits);
  Add(stats_.dns_stream_gaps, d.stream_gaps, was.stream_gaps);
  Add(stats_.dns_truncated_captures, d.truncated_captures, was.truncated_captures);
}

void ConnectionTracker::Account(Connection& c) {
  const auto& h = c.http->stats();
  auto& was = c.counted_http;
  Add(stats_.http_parse_errors, h.parse_errors, was.parse_errors);
  Add(stats_.http_unmatched_responses, h.unmatched_responses, was.unmatched_responses);
  Add(stats_.http_unanswered_requests, h.unanswered_requests, was.unanswered_requests);
  Add(stats_.http_incomplete_messages, h.incomplete_messages, was.incomplete_messages);
  Add(stats_.http_desyncs, h.desyncs, was.desyncs);
  for (int d = 0; d < 2; ++d) {
    const auto& s = c.streams[d].stats();
    auto& sw = c.counted_streams[d];
    Add(stats_.stream_gaps, s.gaps, sw.gaps);
    Add(stats_.stream_gap_bytes, s.gap_bytes, sw.gap_bytes);
    Add(stats_.stream_overlap_bytes, s.overlap_bytes, sw.overlap_bytes);
  }
  Http1State state = c.http->state();
  if (state != c.counted_state) {
    if (state == Http1State::kNotHttp) stats_.connections_not_http++;
    if (state == Http1State::kUpgraded) stats_.connections_upgraded++;
    if ((state == Http1State::kNotHttp || state == Http1State::kUpgraded) && ignored_) ignored_(c.id, c.tls);
    c.counted_state = state;
  }
}

}  // namespace l7tap::agent
