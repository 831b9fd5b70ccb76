// The HTTP endpoint with a real libmicrohttpd daemon on loopback and unix sockets, spoken to over real
// sockets; --listen's forms; /healthz's and /debug's texts.
#include "agent/http_endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>

#include "web_test_files.h"

namespace l7tap::agent {
namespace {

// One request on a fresh connection; the whole response (the server closes: Connection: close).
// `half`: the client sends and goes without waiting for an answer (a request cut short).
std::string Exchange(const sockaddr* addr, socklen_t len, const std::string& request, bool half = false) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  if (connect(fd, addr, len) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
    char buf[4096];
    for (int i = 0; i < 10000 && !half; ++i) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
  } else {
    out = "connect failed";
  }
  close(fd);
  return out;
}

std::string Get(uint16_t port, const std::string& path, const std::string& extra = "") {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return Exchange(reinterpret_cast<sockaddr*>(&in), sizeof(in),
                  "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + "\r\n");
}

std::string GetUnix(const std::string& socket_path, const std::string& path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::snprintf(un.sun_path, sizeof(un.sun_path), "%s", socket_path.c_str());
  return Exchange(reinterpret_cast<sockaddr*>(&un), sizeof(un),
                  "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

uint16_t PortOf(const HttpEndpoint& e) {
  const std::string& d = e.description();  // "127.0.0.1:PORT"
  return uint16_t(std::stoi(d.substr(d.rfind(':') + 1)));
}

std::string Base64(const std::string& s) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < s.size(); i += 3) {
    const uint32_t n = (uint32_t(uint8_t(s[i])) << 16) |
                       (i + 1 < s.size() ? uint32_t(uint8_t(s[i + 1])) << 8 : 0) |
                       (i + 2 < s.size() ? uint32_t(uint8_t(s[i + 2])) : 0);
    out += t[n >> 18 & 63];
    out += t[n >> 12 & 63];
    out += i + 1 < s.size() ? t[n >> 6 & 63] : '=';
    out += i + 2 < s.size() ? t[n & 63] : '=';
  }
  return out;
}

struct Fixture {
  std::atomic<bool> healthy{false};
  EndpointHandlers Handlers() {
    EndpointHandlers h;
    h.metrics = [] { return std::string("# TYPE x counter\nx 1\n"); };
    h.health = [this] { return healthy ? Health{true, "ok"} : Health{false, "not ready: testing"}; };
    h.debug = [](const std::string& listen) { return "debug page of " + listen + "\n"; };
    return h;
  }
};

EndpointOptions On(const std::string& listen) {
  EndpointOptions o;
  auto a = ParseListenAddress(listen);
  EXPECT_TRUE(a.ok()) << a.error();
  if (a) o.listen = *a;
  return o;
}

TEST(ListenAddressTest, Forms) {
  auto any = ParseListenAddress(":9464");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->kind, ListenAddress::Kind::kAnyAddress);
  EXPECT_EQ(any->port, 9464);
  auto v4 = ParseListenAddress("0.0.0.0:9464");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->kind, ListenAddress::Kind::kIpv4);
  auto lo = ParseListenAddress("127.0.0.1:0");
  ASSERT_TRUE(lo.ok());
  EXPECT_EQ(lo->kind, ListenAddress::Kind::kIpv4);
  EXPECT_EQ(lo->port, 0);
  auto v6 = ParseListenAddress("[::1]:9464");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->kind, ListenAddress::Kind::kIpv6);
  auto v6any = ParseListenAddress("[::]:1");
  ASSERT_TRUE(v6any.ok());
  EXPECT_EQ(v6any->kind, ListenAddress::Kind::kAnyAddress);
  auto unix_socket = ParseListenAddress("unix:/run/l7tap/metrics.sock");
  ASSERT_TRUE(unix_socket.ok());
  EXPECT_EQ(unix_socket->kind, ListenAddress::Kind::kUnix);
  EXPECT_EQ(unix_socket->path, "/run/l7tap/metrics.sock");
  for (const char* bad : {"9464", "localhost:9464", "::1:9464", "[::1]9464", "[::1:9464", "1.2.3.4:65536",
                          "1.2.3.4:", "1.2.3.4:x", "unix:relative.sock", "unix:", "unix:/run/", "[bad]:1"}) {
    auto r = ParseListenAddress(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().rfind(std::string("--listen ") + bad + ": ", 0), 0u) << r.error();
    EXPECT_NE(r.error().find("e.g. --listen :9464"), std::string::npos) << r.error();
  }
  EXPECT_FALSE(ParseListenAddress("unix:/" + std::string(200, 'a')).ok());
}

TEST(HttpEndpointTest, ServesTheThreePathsAndRefusesTheRest) {
  Fixture f;
  auto e = HttpEndpoint::Start(On("127.0.0.1:0"), f.Handlers());
  ASSERT_TRUE(e.ok()) << e.error();
  const uint16_t port = PortOf(**e);
  const std::string metrics = Get(port, "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_TRUE(metrics.ends_with("\r\n\r\n# TYPE x counter\nx 1\n")) << metrics;
  // Query strings do not change the path.
  EXPECT_EQ(Get(port, "/metrics?x=1").rfind("HTTP/1.1 200", 0), 0u);

  std::string health = Get(port, "/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 503", 0), 0u) << health;
  EXPECT_TRUE(health.ends_with("\r\n\r\nnot ready: testing\n")) << health;
  f.healthy = true;
  health = Get(port, "/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_TRUE(health.ends_with("\r\n\r\nok\n")) << health;

  const std::string debug = Get(port, "/debug");
  EXPECT_TRUE(debug.ends_with("\r\n\r\ndebug page of 127.0.0.1:" + std::to_string(port) + "\n")) << debug;
  EXPECT_EQ(Get(port, "/").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Get(port, "/metrics/x").rfind("HTTP/1.1 404", 0), 0u);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto* addr = reinterpret_cast<sockaddr*>(&in);
  const std::string post =
      Exchange(addr, sizeof(in),
               "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  const std::string head =
      Exchange(addr, sizeof(in), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;  // no body

  // Garbage, and a connection that sends half a request and goes: the endpoint serves on.
  const std::string garbage =
      Exchange(addr, sizeof(in), std::string("\x16\x03\x01\x00\xff garbage\r\n\r\n", 20));
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  Exchange(addr, sizeof(in), "GET /metr", /*half=*/true);
  EXPECT_EQ(Get(port, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
}

TEST(HttpEndpointTest, AddressInUseNamesTheFlag) {
  Fixture f;
  auto first = HttpEndpoint::Start(On("127.0.0.1:0"), f.Handlers());
  ASSERT_TRUE(first.ok()) << first.error();
  const std::string taken = "127.0.0.1:" + std::to_string(PortOf(**first));
  auto second = HttpEndpoint::Start(On(taken), f.Handlers());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error(),
            "--listen " + taken +
                ": address already in use: stop what listens there or choose another port with "
                "--listen");
}

TEST(HttpEndpointTest, Ipv6Loopback) {
  Fixture f;
  auto e = HttpEndpoint::Start(On("[::1]:0"), f.Handlers());
  ASSERT_TRUE(e.ok()) << e.error();
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = in6addr_loopback;
  in6.sin6_port = htons(PortOf(**e));
  const std::string r = Exchange(reinterpret_cast<sockaddr*>(&in6), sizeof(in6),
                                 "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST(HttpEndpointTest, AnyAddressTakesIpv4AndIpv6) {
  Fixture f;
  auto e = HttpEndpoint::Start(On(":0"), f.Handlers());
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_NE((*e)->description().find("(IPv6 and IPv4)"), std::string::npos) << (*e)->description();
  const uint16_t port = PortOf(**e);
  EXPECT_EQ(Get(port, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = in6addr_loopback;
  in6.sin6_port = htons(port);
  const std::string r = Exchange(reinterpret_cast<sockaddr*>(&in6), sizeof(in6),
                                 "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST(HttpEndpointTest, UnixSocketModeStaleFileAndRemoval) {
  Fixture f;
  const std::string path = testing::TestDir() + "endpoint.sock";
  unlink(path.c_str());
  {
    // A stale socket: bound, then closed without removing its file.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof(un.sun_path), "%s", path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
    close(fd);
  }
  {
    auto e = HttpEndpoint::Start(On("unix:" + path), f.Handlers());
    ASSERT_TRUE(e.ok()) << e.error();
    EXPECT_EQ((*e)->description(), "unix:" + path);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    const std::string r = GetUnix(path, "/metrics");
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
    // A live socket is not taken over.
    auto second = HttpEndpoint::Start(On("unix:" + path), f.Handlers());
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.error().find("another process listens on " + path), std::string::npos) << second.error();
    EXPECT_EQ(GetUnix(path, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
  }
  struct stat st {};
  EXPECT_NE(stat(path.c_str(), &st), 0) << "the socket file is left behind";
  // Something that is not a socket is never removed.
  testing::WriteFile(path, "data");
  auto e = HttpEndpoint::Start(On("unix:" + path), f.Handlers());
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("exists and is not a socket"), std::string::npos) << e.error();
  EXPECT_EQ(testing::ReadFile(path), "data");
  unlink(path.c_str());
}

TEST(HttpEndpointTest, BasicAuthAndHeaders) {
  Fixture f;
  EndpointOptions o = On("127.0.0.1:0");
  o.web.users["alice"] = testing::Bcrypt("pw");
  o.web.headers = {{"X-Content-Type-Options", "nosniff"}};
  auto e = HttpEndpoint::Start(std::move(o), f.Handlers());
  ASSERT_TRUE(e.ok()) << e.error();
  const uint16_t port = PortOf(**e);
  const std::string none = Get(port, "/metrics");
  EXPECT_EQ(none.rfind("HTTP/1.1 401", 0), 0u) << none;
  EXPECT_NE(none.find("WWW-Authenticate: Basic realm=\"l7tap\""), std::string::npos) << none;
  EXPECT_NE(none.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos) << none;
  EXPECT_EQ(none.find("x 1"), std::string::npos);
  EXPECT_EQ(Get(port, "/metrics", "Authorization: Basic " + Base64("alice:wrong") + "\r\n")
                .rfind("HTTP/1.1 401", 0),
            0u);
  EXPECT_EQ(
      Get(port, "/metrics", "Authorization: Basic " + Base64("bob:pw") + "\r\n").rfind("HTTP/1.1 401", 0),
      0u);
  const std::string ok = Get(port, "/metrics", "Authorization: Basic " + Base64("alice:pw") + "\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos) << ok;
  // Every path is behind the password.
  EXPECT_EQ(Get(port, "/healthz").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(Get(port, "/debug").rfind("HTTP/1.1 401", 0), 0u);
}

TEST(StatusPageTest, Health) {
  EXPECT_EQ(CheckHealth({false, 0, 0, 0}).text, "not ready: the probes are not loaded yet");
  EXPECT_EQ(CheckHealth({true, 0, 1, 1}).text, "not ready: no probe program is attached");
  const Health ok = CheckHealth({true, 12, 10'000'000'000, 14'000'000'000});
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.text, "ok");
  const Health stalled = CheckHealth({true, 12, 10'000'000'000, 17'000'000'000});
  EXPECT_FALSE(stalled.ok);
  EXPECT_EQ(stalled.text, "stalled: the event loop has not read the ring buffer for 7 s");
}

TEST(StatusPageTest, Debug) {
  TableRegistry tables;
  TableStats& t = tables.Add("connections", 65536, {Eviction::kFull, Eviction::kIdle});
  t.set_entries(3);
  t.Evicted(Eviction::kIdle, 2);
  DebugInfo d;
  d.uptime_ns = (86400 + 3600 + 61) * 1'000'000'000ULL;
  d.ready = true;
  d.backend = "tracepoint";
  d.programs_attached = 12;
  d.listen = "[::]:9464 (IPv6 and IPv4)";
  d.tls = true;
  d.connections = 3;
  d.processes = 2;
  d.files = {{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "library", "keys", "OpenSSL", "3.0.17"}};
  d.tables = &tables;
  d.samples = {{"l7tap_events_lost_total", "", true, {{"reason", "ringbuf_full"}}, 5},
               {"l7tap_events_total", "", true, {{"kind", "data"}}, 100}};
  const std::string page = RenderDebug(d);
  EXPECT_NE(page.find("  uptime            1d 01h 01m 01s\n"), std::string::npos) << page;
  EXPECT_NE(page.find("  syscall backend   tracepoint\n"), std::string::npos) << page;
  EXPECT_NE(page.find("  programs attached 12\n"), std::string::npos) << page;
  EXPECT_NE(page.find("  listening on      [::]:9464 (IPv6 and IPv4) (TLS)\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\ntraced files (1)\n  /usr/lib/x86_64-linux-gnu/libssl.so.3  kind=library mode=keys "
                      "library=\"OpenSSL\" version=3.0.17\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("\n  connections  3/65536 full=0 idle=2\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\nloss by reason\n  l7tap_events_lost_total{reason=ringbuf_full} 5\n"),
            std::string::npos)
      << page;
  EXPECT_EQ(page.find("l7tap_events_total"), std::string::npos) << page;  // not a loss
}

}  // namespace
}  // namespace l7tap::agent
