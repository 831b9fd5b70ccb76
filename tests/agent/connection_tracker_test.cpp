#include "agent/connection_tracker.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace l7tap::agent {
namespace {

using protocols::Direction;
using protocols::Role;

class TrackerTest : public ::testing::Test {
 protected:
  TableRegistry tables;
  ConnectionTracker tracker{tables, [this](TransactionRecord&& r) { seen.push_back(std::move(r)); },
                            [this](const ConnId& id, bool) { ignored.push_back(id); }};
  std::vector<TransactionRecord> seen;
  std::vector<ConnId> ignored;
  // Stream positions per connection generation, source (syscall, TLS) and direction, as the kernel keeps
  // them.
  std::map<std::tuple<uint64_t, uint64_t, bool, int>, uint64_t> positions;

  void Open(ConnId id, Role role, bool tcp = true) {
    ConnOpen o{1, id, false, tcp, role, 8080, 43210, "127.0.0.1", "127.0.0.9", "server"};
    if (role == Role::kClient) std::swap(o.local_port, o.remote_port);
    tracker.OnOpen(o);
  }
  void Send(ConnId id, Direction dir, uint64_t ts, std::string_view bytes, bool tls = false) {
    uint64_t& p = positions[{id.key(), id.generation, tls, static_cast<int>(dir)}];
    tracker.OnData(Data{ts, id, p, uint32_t(bytes.size()), dir, tls, bytes});
    p += bytes.size();
  }
};

constexpr std::string_view kRequest = "GET /items/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
constexpr std::string_view kResponse = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";

TEST_F(TrackerTest, ServerTransactionCarriesProcessAndPort) {
  ConnId id{10, 4, 1};
  Open(id, Role::kServer);
  Send(id, Direction::kIngress, 100, kRequest);
  Send(id, Direction::kEgress, 350, kResponse);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http.role, Role::kServer);
  EXPECT_EQ(seen[0].http.method, "GET");
  EXPECT_EQ(seen[0].http.status, 404);
  EXPECT_EQ(seen[0].http.start_ns, 100u);
  EXPECT_EQ(seen[0].http.end_ns, 350u);
  EXPECT_EQ(seen[0].service_name, "server");
  EXPECT_EQ(seen[0].pid, 10u);
  EXPECT_EQ(seen[0].server_port, 8080);
  EXPECT_EQ(seen[0].server_address, "");
}

TEST_F(TrackerTest, ClientTransactionNamesThePeer) {
  ConnId id{11, 5, 1};
  Open(id, Role::kClient);
  Send(id, Direction::kEgress, 10, kRequest);
  Send(id, Direction::kIngress, 20, kResponse);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http.role, Role::kClient);
  EXPECT_EQ(seen[0].server_port, 8080);
  EXPECT_EQ(seen[0].server_address, "127.0.0.9");
}

TEST_F(TrackerTest, FdReuseStartsANewConnection) {
  ConnId first{12, 6, 1}, second{12, 6, 2};
  Open(first, Role::kServer);
  Send(first, Direction::kIngress, 1, kRequest);  // never answered
  Open(second, Role::kServer);
  Send(second, Direction::kIngress, 5, kRequest);
  Send(first, Direction::kEgress, 6, kResponse);  // stale generation: dropped
  Send(second, Direction::kEgress, 7, kResponse);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http.start_ns, 5u);
  EXPECT_EQ(tracker.stats().http_unanswered_requests, 1u);
  EXPECT_EQ(tracker.stats().stale_events, 1u);
  EXPECT_EQ(tracker.open_connections(), 1u);
}

TEST_F(TrackerTest, DataWithoutOpenIsFollowedAndRoleInferred) {
  ConnId id{13, 7, 3};
  Send(id, Direction::kEgress, 1, kRequest);
  Send(id, Direction::kIngress, 2, kResponse);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http.role, Role::kClient);
  EXPECT_EQ(tracker.stats().connections_without_open, 1u);
}

TEST_F(TrackerTest, UdpAndGarbageCostNothing) {
  ConnId udp{14, 8, 1};
  Open(udp, Role::kClient, /*tcp=*/false);
  Send(udp, Direction::kEgress, 1, kRequest);
  ConnId tcp{14, 9, 1};
  Open(tcp, Role::kServer);
  Send(tcp, Direction::kIngress, 1, std::string_view("\x00\x01\xfe garbage", 11));
  Send(tcp, Direction::kIngress, 2, kRequest);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(tracker.stats().connections_not_http, 1u);
  ASSERT_EQ(ignored.size(), 1u);  // the kernel is told once, for that generation
  EXPECT_EQ(ignored[0].key(), tcp.key());
  EXPECT_EQ(ignored[0].generation, tcp.generation);
}

TEST_F(TrackerTest, TlsPlaintextReplacesTheSyscallStreamAndCiphertextIsIgnored) {
  ConnId id{17, 5, 1};
  Open(id, Role::kServer);
  Send(id, Direction::kIngress, 1,
       std::string_view("\x16\x03\x01\x02\x00\x01", 6));  // a ClientHello seen first
  Send(id, Direction::kIngress, 2, kRequest, /*tls=*/true);
  Send(id, Direction::kEgress, 3, "\x17\x03\x03 ciphertext");  // late ciphertext: never parsed
  Send(id, Direction::kEgress, 4, kResponse, /*tls=*/true);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].tls);
  EXPECT_EQ(seen[0].http.start_ns, 2u);
  EXPECT_EQ(seen[0].http.end_ns, 4u);
  EXPECT_EQ(tracker.stats().http_parse_errors, 0u);
}

TEST_F(TrackerTest, CloseEndsReadUntilCloseResponseAndProcessExitEndsAll) {
  ConnId a{15, 3, 1}, b{15, 4, 1}, other{16, 3, 1};
  Open(a, Role::kClient);
  Send(a, Direction::kEgress, 1, "GET / HTTP/1.0\r\n\r\n");
  Send(a, Direction::kIngress, 2, "HTTP/1.0 200 OK\r\n\r\nbody until close");
  EXPECT_TRUE(seen.empty());
  tracker.OnClose(Close{3, a});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http.end_ns, 2u);

  Open(b, Role::kClient);
  Open(other, Role::kClient);
  Send(b, Direction::kEgress, 4, "GET / HTTP/1.0\r\n\r\n");
  Send(b, Direction::kIngress, 5, "HTTP/1.0 200 OK\r\n\r\nx");
  auto fds = tracker.OnProcessExit(15);
  EXPECT_EQ(fds, std::vector<int32_t>{4});
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(tracker.open_connections(), 1u);
}

// The bounded-state policy in the tracker: a cap, idle expiry, processes gone, and the kernel told each time.
class BoundedTrackerTest : public ::testing::Test {
 protected:
  static TrackerLimits Limits() {
    TrackerLimits l;
    l.max_connections = 3;
    l.idle_timeout_ns = 1000;
    l.quiesce_after_ns = 100;
    l.max_active_sessions = 2;
    return l;
  }
  TableRegistry tables;
  std::vector<TransactionRecord> seen;
  std::vector<std::pair<ConnId, Eviction>> forgotten;
  ConnectionTracker tracker{tables, [this](TransactionRecord&& r) { seen.push_back(std::move(r)); }, nullptr,
                            Limits()};
  void SetUp() override {
    tracker.SetForgotten([this](const ConnId& id, Eviction why) { forgotten.emplace_back(id, why); });
  }
  void Exchange(ConnId id, uint64_t ts) {
    tracker.OnOpen(
        ConnOpen{ts, id, false, true, Role::kServer, 8080, 40000, "127.0.0.1", "127.0.0.2", "srv"});
    tracker.OnData(Data{ts + 1, id, 0, uint32_t(kRequest.size()), Direction::kIngress, false, kRequest});
    tracker.OnData(Data{ts + 2, id, 0, uint32_t(kResponse.size()), Direction::kEgress, false, kResponse});
  }
  const TableStats& Table(const std::string& name) { return *tables.Find(name); }
};

TEST_F(BoundedTrackerTest, ConnectionsPastTheCapAreRefusedAndCounted) {
  for (int fd = 1; fd <= 5; ++fd) Exchange(ConnId{20, fd, 1}, uint64_t(fd) * 10);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(tracker.open_connections(), 3u);
  EXPECT_EQ(Table("connections").entries(), 3u);
  EXPECT_EQ(Table("connections").evicted(Eviction::kFull), 2u);  // two opens refused
  EXPECT_EQ(tracker.stats().events_untracked, 4u);               // and their four data events
}

TEST_F(BoundedTrackerTest, IdleConnectionsExpireAndProcessesGoneEnd) {
  Exchange(ConnId{21, 1, 1}, 10);   // idle from 12
  Exchange(ConnId{21, 2, 1}, 900);  // recent
  Exchange(ConnId{22, 1, 1}, 950);  // its process is gone
  tracker.OnData(Data{960, ConnId{21, 2, 1}, kRequest.size(), uint32_t(kRequest.size()), Direction::kIngress,
                      false, kRequest});  // a request still waiting when its process goes
  const size_t ended = tracker.Sweep(1100, [](uint32_t tgid) { return tgid != 22; });
  EXPECT_EQ(ended, 2u);
  EXPECT_EQ(tracker.open_connections(), 1u);
  EXPECT_EQ(Table("connections").evicted(Eviction::kIdle), 1u);
  EXPECT_EQ(Table("connections").evicted(Eviction::kProcessGone), 1u);
  ASSERT_EQ(forgotten.size(), 2u);  // the kernel's records go too
  EXPECT_EQ(forgotten[0].first.key(), (ConnId{21, 1, 1}).key());
  EXPECT_EQ(forgotten[0].second, Eviction::kIdle);
  EXPECT_EQ(forgotten[1].first.key(), (ConnId{22, 1, 1}).key());
  EXPECT_EQ(forgotten[1].second, Eviction::kProcessGone);
  EXPECT_EQ(tracker.Sweep(2100, [](uint32_t) { return true; }), 1u);  // the last one idles out too
  EXPECT_EQ(tracker.stats().http_unanswered_requests, 1u);            // its waiting request is counted
}

TEST_F(BoundedTrackerTest, SessionsPastTheActiveCapFreeTheirParsingState) {
  TrackerLimits l = Limits();
  l.max_connections = 100;
  TableRegistry own;
  ConnectionTracker t(
      own, [this](TransactionRecord&& r) { seen.push_back(std::move(r)); }, nullptr, l);
  auto exchange = [&](ConnId id, uint64_t ts, uint64_t pos) {
    if (pos == 0)
      t.OnOpen(ConnOpen{ts, id, false, true, Role::kServer, 8080, 40000, "127.0.0.1", "127.0.0.2", "srv"});
    t.OnData(Data{ts + 1, id, pos * kRequest.size(), uint32_t(kRequest.size()), Direction::kIngress, false,
                  kRequest});
    t.OnData(Data{ts + 2, id, pos * kResponse.size(), uint32_t(kResponse.size()), Direction::kEgress, false,
                  kResponse});
  };
  for (int fd = 1; fd <= 5; ++fd) exchange(ConnId{23, fd, 1}, uint64_t(fd) * 10, 0);
  const TableStats& sessions = *own.Find("http_sessions");
  EXPECT_EQ(sessions.entries(), 2u);
  EXPECT_EQ(sessions.evicted(Eviction::kLeastRecent), 3u);
  for (int fd = 1; fd <= 5; ++fd)
    exchange(ConnId{23, fd, 1}, 100 + uint64_t(fd) * 10, 1);  // state comes back
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(t.stats().http_unmatched_responses, 0u);
  t.Sweep(1000, [](uint32_t) { return true; });  // idle past quiesce_after: freed
  EXPECT_EQ(sessions.entries(), 0u);
  EXPECT_EQ(sessions.evicted(Eviction::kIdle), 2u);
}

TEST_F(TrackerTest, EventsAfterTheProcessExitedStartNoConnection) {
  ConnId id{40, 4, 1};
  Open(id, Role::kClient);
  Send(id, Direction::kEgress, 10, kRequest);
  tracker.OnProcessExit(40);
  // A thread still in its write when the process exited reports it after the exit.
  Send(id, Direction::kEgress, 20, kRequest);
  EXPECT_EQ(tracker.open_connections(), 0u);
  EXPECT_EQ(tracker.stats().stale_events, 1u);
  EXPECT_EQ(tracker.stats().connections_without_open, 0u);
  // The process id in use again: followed as usual.
  ConnId again{40, 4, 2};
  Open(again, Role::kClient);
  Send(again, Direction::kEgress, 30, kRequest);
  Send(again, Direction::kIngress, 40, kResponse);
  EXPECT_EQ(seen.size(), 1u);
}

// HTTP/2 through the tracker: chosen from the bytes, on a connection opened in front of it and on one seen
// mid-way (HTTP/1 found no message start; frames then claim the connection).
class TrackerHttp2Test : public TrackerTest {
 protected:
  // Frames as HTTP/2 peers write them (the protocol tests use nghttp2's own; these are small enough to read):
  // a GET answered 200 with a 2-byte body. HPACK: :method GET (static 2), :scheme http (6), :path / (4),
  // :status 200 (8).
  static std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
    std::string f;
    f += char(payload.size() >> 16);
    f += char(payload.size() >> 8);
    f += char(payload.size());
    f += char(type);
    f += char(flags);
    f += char(stream >> 24);
    f += char(stream >> 16);
    f += char(stream >> 8);
    f += char(stream);
    return f + std::string(payload);
  }
  static std::string Request(uint32_t stream) { return Frame(1, 0x5, stream, "\x82\x86\x84"); }
  static std::string Response(uint32_t stream) {
    return Frame(1, 0x4, stream, "\x88") + Frame(0, 0x1, stream, "ok");
  }
};

TEST_F(TrackerHttp2Test, PrefaceMakesTheConnectionHttp2) {
  ConnId id{30, 7, 1};
  Open(id, Role::kServer);
  Send(id, Direction::kIngress, 100, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + Frame(4, 0, 0, ""));
  Send(id, Direction::kEgress, 110, Frame(4, 0, 0, "") + Frame(4, 1, 0, ""));
  Send(id, Direction::kIngress, 120, Request(1) + Request(3));
  Send(id, Direction::kEgress, 200, Response(3));
  Send(id, Direction::kEgress, 300, Response(1));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].http.version, protocols::HttpVersion::k2);
  EXPECT_EQ(seen[0].http.status, 200);
  EXPECT_EQ(seen[0].http.method, "GET");
  EXPECT_EQ(seen[0].http.target, "/");
  EXPECT_EQ(seen[0].http.end_ns, 200u);  // stream 3 answered first
  EXPECT_EQ(seen[1].http.end_ns, 300u);
  EXPECT_EQ(seen[0].server_port, 8080);
  EXPECT_EQ(tracker.stats().http2_connections, 1u);
  EXPECT_TRUE(ignored.empty());
}

TEST_F(TrackerHttp2Test, ConnectionSeenMidwayIsClaimedByItsFrames) {
  ConnId id{31, 8, 1};
  // No open: the connection was there before the capture. Its first chunk is the middle of a DATA frame.
  tracker.OnData(Data{100, id, 5000, 6, Direction::kIngress, false, "\x01\x02\x03\x04\x05\x06"});
  tracker.OnData(Data{110, id, 5006, 0, Direction::kIngress, false, ""});
  const std::string request = Request(41);
  tracker.OnData(Data{120, id, 5006, uint32_t(request.size()), Direction::kIngress, false, request});
  const std::string response = Response(41);
  tracker.OnData(Data{130, id, 9000, uint32_t(response.size()), Direction::kEgress, false, response});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http.version, protocols::HttpVersion::k2);
  EXPECT_EQ(seen[0].http.role, Role::kServer);
  EXPECT_EQ(seen[0].http.status, 200);
  EXPECT_EQ(tracker.stats().http2_header_state_lost, 2u);
}

}  // namespace
}  // namespace l7tap::agent
