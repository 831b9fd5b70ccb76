#include "agent/event_decoder.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace l7tap::agent {
namespace {

template <typename T>
bool Read(const void* record, size_t size, T& out) {
  if (size < sizeof(T)) return false;
  std::memcpy(&out, record, sizeof(T));
  return true;
}

ConnId ToConnId(const l7tap_conn_id& c) { return ConnId{c.tgid, c.fd, c.generation}; }

std::string Address(const uint8_t* bytes, bool ipv6) {
  char text[INET6_ADDRSTRLEN] = {};
  // An IPv4 peer of a dual-stack socket (::ffff:a.b.c.d, as gRPC connects) is the IPv4 address it is.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ipv6 && std::memcmp(bytes, kMapped, sizeof(kMapped)) == 0) {
    inet_ntop(AF_INET, bytes + 12, text, sizeof(text));
  } else {
    inet_ntop(ipv6 ? AF_INET6 : AF_INET, bytes, text, sizeof(text));
  }
  return text;
}

std::string Comm(const char (&comm)[L7TAP_COMM_LEN]) {
  return std::string(comm, strnlen(comm, sizeof(comm)));
}

}  // namespace

protocols::DatagramPeer ToPeer(uint16_t family, uint16_t port, const uint8_t (&addr)[16]) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  protocols::DatagramPeer p;
  p.port = port;
  if (family == AF_INET) {
    p.family = 4;
    std::memcpy(p.addr.data(), addr, 4);
  } else if (family == AF_INET6 && std::memcmp(addr, kMapped, sizeof(kMapped)) == 0) {
    p.family = 4;
    std::memcpy(p.addr.data(), addr + 12, 4);
  } else if (family == AF_INET6) {
    p.family = 6;
    std::memcpy(p.addr.data(), addr, 16);
  } else {
    p.port = 0;
  }
  return p;
}

std::string PeerAddress(const protocols::DatagramPeer& peer) {
  if (!peer.known()) return {};
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(peer.family == 6 ? AF_INET6 : AF_INET, peer.addr.data(), text, sizeof(text));
  return text;
}

Event DecodeEvent(const void* record, size_t size) {
  l7tap_event_header hdr;
  if (!Read(record, size, hdr)) return Malformed{"short record"};
  if (hdr.version != L7TAP_CONTRACT_VERSION) return Malformed{"contract version mismatch"};
  switch (hdr.kind) {
    case L7TAP_EV_CONN_OPEN: {
      l7tap_conn_event ev;
      if (!Read(record, size, ev)) return Malformed{"short open record"};
      bool ipv6 = ev.family == AF_INET6;
      auto role = ev.role == L7TAP_ROLE_CLIENT   ? protocols::Role::kClient
                  : ev.role == L7TAP_ROLE_SERVER ? protocols::Role::kServer
                                                 : protocols::Role::kUnknown;
      return ConnOpen{
          hdr.ts_ns,
          ToConnId(ev.conn),
          ipv6,
          ev.l4 == L7TAP_L4_TCP,
          role,
          ev.local_port,
          ev.remote_port,
          Address(ev.local_addr, ipv6),
          Address(ev.remote_addr, ipv6),
          Comm(ev.comm),
          ev.remote_port ? ToPeer(ev.family, ev.remote_port, ev.remote_addr) : protocols::DatagramPeer{}};
    }
    case L7TAP_EV_DATA: {
      l7tap_data_event ev;
      if (!Read(record, size, ev)) return Malformed{"short data record"};
      const size_t peer_size = ev.peer ? sizeof(l7tap_peer) : 0;
      if (ev.copied > ev.length || size < sizeof(ev) + ev.copied + peer_size)
        return Malformed{"data record size mismatch"};
      auto payload = std::string_view(static_cast<const char*>(record) + sizeof(ev), ev.copied);
      auto dir =
          ev.direction == L7TAP_DIR_EGRESS ? protocols::Direction::kEgress : protocols::Direction::kIngress;
      Data d{hdr.ts_ns, ToConnId(ev.conn), ev.position,    ev.length,     dir, ev.source == L7TAP_SRC_TLS,
             payload,   ev.lost_events,    ev.lost_starts, ev.unseen != 0};
      if (ev.peer) {
        l7tap_peer p;
        std::memcpy(&p, payload.data() + payload.size(), sizeof(p));  // unaligned, after the payload
        d.peer = ToPeer(p.family, p.port, p.addr);
      }
      return d;
    }
    case L7TAP_EV_CONN_CLOSE: {
      l7tap_close_event ev;
      if (!Read(record, size, ev)) return Malformed{"short close record"};
      return Close{hdr.ts_ns,
                   ToConnId(ev.conn),
                   {ev.lost_events[0], ev.lost_events[1]},
                   {ev.lost_starts[0], ev.lost_starts[1]}};
    }
    case L7TAP_EV_PROCESS_EXIT: {
      l7tap_exit_event ev;
      if (!Read(record, size, ev)) return Malformed{"short exit record"};
      return ProcessExit{hdr.ts_ns, ev.tgid};
    }
    case L7TAP_EV_PROCESS_EXEC: {
      l7tap_exec_event ev;
      if (!Read(record, size, ev)) return Malformed{"short exec record"};
      return ProcessExec{hdr.ts_ns, ev.tgid,
                         std::string(ev.filename, strnlen(ev.filename, sizeof(ev.filename)))};
    }
    case L7TAP_EV_PROCESS_HOLD: {
      l7tap_hold_event ev;
      if (!Read(record, size, ev)) return Malformed{"short hold record"};
      return ProcessHold{hdr.ts_ns, ev.tgid};
    }
    case L7TAP_EV_TLS_SECRET: {
      // Not copied here: see TlsSecretEvent.
      if (size != sizeof(l7tap_secret_event)) return Malformed{"secret record size mismatch"};
      const auto* ev = static_cast<const l7tap_secret_event*>(record);
      if (ev->secret_len == 0 || ev->secret_len > L7TAP_TLS_SECRET_MAX) return Malformed{"secret length"};
      return TlsSecretEvent{hdr.ts_ns, ev};
    }
    default:
      return Malformed{"unknown event kind"};
  }
}

}  // namespace l7tap::agent
