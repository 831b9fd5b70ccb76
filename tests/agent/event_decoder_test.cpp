#include "agent/event_decoder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

namespace l7tap::agent {
namespace {

std::vector<char> DataRecord(std::string_view payload, uint32_t length) {
  l7tap_data_event ev{};
  ev.hdr.kind = L7TAP_EV_DATA;
  ev.hdr.version = L7TAP_CONTRACT_VERSION;
  ev.hdr.ts_ns = 1234;
  ev.conn = {7, 5, 99};
  ev.position = 100;
  ev.length = length;
  ev.copied = payload.size();
  ev.direction = L7TAP_DIR_INGRESS;
  std::vector<char> rec(sizeof(ev) + payload.size());
  std::memcpy(rec.data(), &ev, sizeof(ev));
  std::memcpy(rec.data() + sizeof(ev), payload.data(), payload.size());
  return rec;
}

TEST(EventDecoderTest, DataWithTruncatedPayload) {
  auto rec = DataRecord("GET / HTTP/1.1\r\n", 5000);
  auto ev = DecodeEvent(rec.data(), rec.size());
  auto* d = std::get_if<Data>(&ev);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->conn.tgid, 7u);
  EXPECT_EQ(d->conn.fd, 5);
  EXPECT_EQ(d->conn.generation, 99u);
  EXPECT_EQ(d->position, 100u);
  EXPECT_EQ(d->length, 5000u);
  EXPECT_EQ(d->payload, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(d->direction, protocols::Direction::kIngress);
  EXPECT_EQ(d->ts_ns, 1234u);
}

TEST(EventDecoderTest, RejectsShortAndInconsistentRecords) {
  auto rec = DataRecord("abcdef", 6);
  EXPECT_TRUE(std::holds_alternative<Malformed>(DecodeEvent(rec.data(), rec.size() - 1)));
  EXPECT_TRUE(std::holds_alternative<Malformed>(DecodeEvent(rec.data(), 3)));
  auto bad = DataRecord("abcdef", 2);  // copied > length
  EXPECT_TRUE(std::holds_alternative<Malformed>(DecodeEvent(bad.data(), bad.size())));
  reinterpret_cast<l7tap_event_header*>(rec.data())->version = L7TAP_CONTRACT_VERSION + 1;
  EXPECT_TRUE(std::holds_alternative<Malformed>(DecodeEvent(rec.data(), rec.size())));
  reinterpret_cast<l7tap_event_header*>(rec.data())->version = L7TAP_CONTRACT_VERSION;
  reinterpret_cast<l7tap_event_header*>(rec.data())->kind = 77;
  EXPECT_TRUE(std::holds_alternative<Malformed>(DecodeEvent(rec.data(), rec.size())));
}

TEST(EventDecoderTest, OpenIPv4AndIPv6) {
  l7tap_conn_event ev{};
  ev.hdr.kind = L7TAP_EV_CONN_OPEN;
  ev.hdr.version = L7TAP_CONTRACT_VERSION;
  ev.conn = {1, 3, 4};
  ev.family = AF_INET;
  ev.l4 = L7TAP_L4_TCP;
  ev.role = L7TAP_ROLE_CLIENT;
  ev.local_port = 40000;
  ev.remote_port = 8080;
  inet_pton(AF_INET, "127.0.0.2", ev.remote_addr);
  std::strcpy(ev.comm, "curl");
  auto v4 = DecodeEvent(&ev, sizeof(ev));
  auto* o = std::get_if<ConnOpen>(&v4);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->remote_addr, "127.0.0.2");
  EXPECT_EQ(o->role, protocols::Role::kClient);
  EXPECT_TRUE(o->tcp);
  EXPECT_EQ(o->remote_port, 8080);
  EXPECT_EQ(o->comm, "curl");

  ev.family = AF_INET6;
  ev.l4 = L7TAP_L4_UDP;
  inet_pton(AF_INET6, "::1", ev.remote_addr);
  std::memset(ev.comm, 'x', sizeof(ev.comm));  // not NUL-terminated at 16 chars
  auto v6 = DecodeEvent(&ev, sizeof(ev));
  o = std::get_if<ConnOpen>(&v6);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->remote_addr, "::1");
  EXPECT_FALSE(o->tcp);
  EXPECT_EQ(o->comm, std::string(16, 'x'));

  // A dual-stack socket's IPv4 peer reads as IPv4.
  inet_pton(AF_INET6, "::ffff:127.0.0.9", ev.remote_addr);
  auto mapped = DecodeEvent(&ev, sizeof(ev));
  o = std::get_if<ConnOpen>(&mapped);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->remote_addr, "127.0.0.9");
  EXPECT_EQ(o->remote.family, 4);
  EXPECT_EQ(o->remote.port, 8080);
  EXPECT_EQ(PeerAddress(o->remote), "127.0.0.9");

  // Not connected: no peer.
  ev.remote_port = 0;
  auto unconnected = DecodeEvent(&ev, sizeof(ev));
  o = std::get_if<ConnOpen>(&unconnected);
  ASSERT_NE(o, nullptr);
  EXPECT_FALSE(o->remote.known());
}

// A datagram's peer follows its payload (unaligned); the record must hold it.
TEST(EventDecoderTest, DatagramPeerAfterThePayload) {
  const std::string_view payload = "abcde";  // odd: the peer is unaligned
  for (const char* text : {"::1", "::ffff:127.0.0.1", "127.0.0.3"}) {
    SCOPED_TRACE(text);
    auto rec = DataRecord(payload, 5);
    reinterpret_cast<l7tap_data_event*>(rec.data())->peer = 1;
    l7tap_peer peer{};
    const bool v4 = std::strchr(text, ':') == nullptr;
    peer.family = v4 ? AF_INET : AF_INET6;
    peer.port = 5353;
    inet_pton(peer.family, text, peer.addr);
    rec.resize(rec.size() + sizeof(peer));
    std::memcpy(rec.data() + rec.size() - sizeof(peer), &peer, sizeof(peer));
    auto ev = DecodeEvent(rec.data(), rec.size());
    auto* d = std::get_if<Data>(&ev);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->payload, payload);
    EXPECT_EQ(d->peer.port, 5353);
    const bool ipv6 = std::string_view(text) == "::1";
    EXPECT_EQ(d->peer.family, ipv6 ? 6 : 4);
    EXPECT_EQ(PeerAddress(d->peer), ipv6 ? "::1" : std::string_view(text).substr(v4 ? 0 : 7));
    EXPECT_TRUE(std::holds_alternative<Malformed>(DecodeEvent(rec.data(), rec.size() - 1)));
  }
  // Without the flag the payload alone is the record, and there is no peer.
  auto plain = DataRecord(payload, 5);
  auto ev = DecodeEvent(plain.data(), plain.size());
  ASSERT_NE(std::get_if<Data>(&ev), nullptr);
  EXPECT_FALSE(std::get<Data>(ev).peer.known());
}

}  // namespace
}  // namespace l7tap::agent
