#pragma once
// C++ views of the contract structs in probes/events.h, decoded from ring-buffer records with size checks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "probes/events.h"
#include "protocols/transaction.h"

namespace l7tap::agent {

struct ConnId {
  uint32_t tgid = 0;
  int32_t fd = 0;
  uint64_t generation = 0;
  uint64_t key() const { return l7tap_conn_key(tgid, fd); }
};

struct ConnOpen {
  uint64_t ts_ns;
  ConnId conn;
  bool ipv6;
  bool tcp;
  protocols::Role role;
  uint16_t local_port;
  uint16_t remote_port;
  std::string local_addr;  // printable
  std::string remote_addr;
  std::string comm;
  protocols::DatagramPeer remote{};  // the connected peer (unknown when remote_port is 0: not connected)
};

struct Data {
  uint64_t ts_ns;
  ConnId conn;
  uint64_t position;
  uint32_t length;
  protocols::Direction direction;
  bool tls;                        // plaintext from a TLS library (else: syscall buffers)
  std::string_view payload;        // points into the ring buffer: valid during the callback only
  uint32_t lost_events = 0;        // events of this direction dropped before this one
  uint32_t lost_starts = 0;        // of those, the ones that began a message
  bool unseen = false;             // bytes of this direction moved before it without being counted
  protocols::DatagramPeer peer{};  // a UDP datagram's other end as its call named it (unknown: none named)
};

struct Close {
  uint64_t ts_ns;
  ConnId conn;
  uint32_t lost_events[2] = {0, 0};  // by direction: dropped after the last event delivered
  uint32_t lost_starts[2] = {0, 0};
};

struct ProcessExit {
  uint64_t ts_ns;
  uint32_t tgid;
};

struct ProcessExec {
  uint64_t ts_ns;
  uint32_t tgid;
  std::string filename;  // as given to execve
};

// The probes stopped a process at its first TLS bytes (probes/holds.bpf.h): it waits to be cleared.
struct ProcessHold {
  uint64_t ts_ns;
  uint32_t tgid;
};

// A TLS secret from a key-log hook. Points into the ring buffer (valid during the callback only), so the key
// material is copied once, into the secret store, and nowhere else.
struct TlsSecretEvent {
  uint64_t ts_ns;
  const l7tap_secret_event* record;
};

// Records from a different contract version or of a wrong size.
struct Malformed {
  std::string reason;
};

using Event =
    std::variant<ConnOpen, Data, Close, ProcessExit, ProcessExec, ProcessHold, TlsSecretEvent, Malformed>;

Event DecodeEvent(const void* record, size_t size);

// A peer as the contract gives it (family AF_INET / AF_INET6, host-order port, 16 address bytes); IPv4 mapped
// into IPv6 becomes the IPv4 address it is. Unknown for other families.
protocols::DatagramPeer ToPeer(uint16_t family, uint16_t port, const uint8_t (&addr)[16]);
// Printable address ("" when unknown).
std::string PeerAddress(const protocols::DatagramPeer& peer);

}  // namespace l7tap::agent
