// DNS through the tracker: each datagram's peer (from its event, else the socket's connected peer) pairs
// queries with answers and is the address reported.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/connection_tracker.h"

namespace l7tap::agent {
namespace {

using protocols::DatagramPeer;
using protocols::Direction;
using protocols::Role;

// A DNS message for class IN: a recursive query, or its answer with `rcode` (question only).
std::string Message(uint16_t id, const std::string& name, uint16_t type, bool response, uint8_t rcode = 0) {
  std::string m;
  auto u16 = [&m](uint16_t v) {
    m.push_back(char(v >> 8));
    m.push_back(char(v & 0xff));
  };
  u16(id);
  u16(response ? uint16_t(0x8180 | rcode) : uint16_t(0x0100));
  u16(1);
  u16(0);
  u16(0);
  u16(0);
  size_t from = 0;
  while (from < name.size()) {
    const size_t dot = name.find('.', from);
    const size_t end = dot == std::string::npos ? name.size() : dot;
    m.push_back(char(end - from));
    m.append(name, from, end - from);
    from = end + 1;
  }
  m.push_back(0);
  u16(type);
  u16(1);
  return m;
}

DatagramPeer Peer(const char* text, uint16_t port) {
  uint8_t raw[16] = {};
  const bool v6 = std::string(text).find(':') != std::string::npos;
  inet_pton(v6 ? AF_INET6 : AF_INET, text, raw);
  return ToPeer(v6 ? AF_INET6 : AF_INET, port, raw);
}

class TrackerDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tracker.SetDns([this](DnsRecord&& r) { records.push_back(std::move(r)); }, {53});
  }
  void Open(ConnId id, uint16_t local_port, uint16_t remote_port, const char* remote) {
    ConnOpen o{1, id, false, false, Role::kUnknown, local_port, remote_port, "127.0.0.1", remote, "resolver"};
    if (remote_port) o.remote = Peer(remote, remote_port);
    tracker.OnOpen(o);
  }
  void Datagram(ConnId id, Direction dir, uint64_t ts, const std::string& bytes, DatagramPeer peer = {}) {
    Data d{ts, id, 0, uint32_t(bytes.size()), dir, false, bytes};
    d.peer = peer;
    tracker.OnData(d);
  }

  TableRegistry tables;
  ConnectionTracker tracker{tables, [](TransactionRecord&&) {}};
  std::vector<DnsRecord> records;
};

constexpr uint16_t kA = 1, kAaaa = 28;

// musl: one unconnected socket sends the same query (same id) to two servers; each answer pairs with the
// query its server got, and names that server.
TEST_F(TrackerDnsTest, UnconnectedSocketAsksTwoServers) {
  const ConnId id{20, 3, 1};
  Open(id, 41000, 0, "::");
  const DatagramPeer v4 = Peer("127.0.0.1", 53), v6 = Peer("::1", 53);
  Datagram(id, Direction::kEgress, 100, Message(5, "a.test", kA, false), v4);
  Datagram(id, Direction::kEgress, 101, Message(5, "a.test", kA, false), v6);
  Datagram(id, Direction::kIngress, 200, Message(5, "a.test", kA, true, 3), v6);
  Datagram(id, Direction::kIngress, 300, Message(5, "a.test", kA, true, 0), v4);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].server_address, "::1");
  EXPECT_EQ(records[0].server_port, 53);
  EXPECT_EQ(records[0].dns.rcode, 3);
  EXPECT_EQ(records[0].dns.role, Role::kClient);
  EXPECT_EQ(records[0].dns.start_ns, 101u);
  EXPECT_EQ(records[1].server_address, "127.0.0.1");
  EXPECT_EQ(records[1].dns.rcode, 0);
  EXPECT_EQ(records[1].dns.start_ns, 100u);
  EXPECT_EQ(tracker.stats().dns_unmatched_responses, 0u);
  EXPECT_EQ(tracker.stats().dns_retransmits, 0u);
}

// glibc: a connected socket sends without an address (sendmmsg, msg_name NULL) and receives with recvfrom's
// address: the query's peer is the socket's, so both sides agree (an IPv4 peer of an IPv6 socket too).
TEST_F(TrackerDnsTest, ConnectedSocketQueryPairsWithAnAnswerNamingItsPeer) {
  const ConnId id{21, 4, 1};
  Open(id, 41001, 5300, "::ffff:127.0.0.1");
  Datagram(id, Direction::kEgress, 10, Message(9, "b.test", kA, false));
  Datagram(id, Direction::kEgress, 11, Message(10, "b.test", kAaaa, false));
  Datagram(id, Direction::kIngress, 20, Message(9, "b.test", kA, true), Peer("127.0.0.1", 5300));
  Datagram(id, Direction::kIngress, 21, Message(10, "b.test", kAaaa, true));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].server_address, "127.0.0.1");
  EXPECT_EQ(records[0].server_port, 5300);
  EXPECT_EQ(records[1].dns.type, kAaaa);
  EXPECT_EQ(tracker.stats().dns_unmatched_responses, 0u);
}

// A server answering several clients on one socket: the same id and question from two clients are two
// transactions, each reporting its client.
TEST_F(TrackerDnsTest, ServerSocketAnswersClientsApart) {
  const ConnId id{22, 5, 1};
  Open(id, 53, 0, "0.0.0.0");
  const DatagramPeer c1 = Peer("127.0.0.1", 40001), c2 = Peer("::1", 40001);
  Datagram(id, Direction::kIngress, 1, Message(1, "a.test", kA, false), c1);
  Datagram(id, Direction::kIngress, 2, Message(1, "a.test", kA, false), c2);
  Datagram(id, Direction::kEgress, 3, Message(1, "a.test", kA, true), c2);
  Datagram(id, Direction::kEgress, 4, Message(1, "a.test", kA, true), c1);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].dns.role, Role::kServer);
  EXPECT_EQ(records[0].client_address, "::1");
  EXPECT_EQ(records[0].server_port, 53);
  EXPECT_EQ(records[0].server_address, "");
  EXPECT_EQ(records[1].client_address, "127.0.0.1");
  EXPECT_EQ(records[1].dns.start_ns, 1u);
}

// Its open lost, a socket whose datagrams name their peer is known for UDP, so DNS.
TEST_F(TrackerDnsTest, DatagramsWithoutOpenAreDns) {
  const ConnId id{23, 6, 1};
  Datagram(id, Direction::kEgress, 1, Message(2, "a.test", kA, false), Peer("127.0.0.1", 53));
  Datagram(id, Direction::kIngress, 2, Message(2, "a.test", kA, true), Peer("127.0.0.1", 53));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].server_address, "127.0.0.1");
  EXPECT_EQ(tracker.stats().connections_without_open, 1u);
}

}  // namespace
}  // namespace l7tap::agent
