// --print's lines (text and JSON) for records the connection tracker made from real HTTP and DNS bytes:
// query strings appear only with --print-full-target, the JSON fields are those README lists.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "agent/config.h"
#include "agent/connection_tracker.h"
#include "agent/printer.h"
#include "agent/target_redaction.h"
#include "protocols/http_route.h"

namespace l7tap::agent {
namespace {

using nlohmann::json;
using protocols::Direction;
using protocols::Role;

// 2026-12-01T00:00:00Z, as the printers' wall clock for monotonic 0.
constexpr int64_t kEpoch = 1'796'083'200'000'000'000;

class PrintTest : public ::testing::Test {
 protected:
  TableRegistry tables;
  std::vector<TransactionRecord> http;
  std::vector<DnsRecord> dns;
  ConnectionTracker tracker{tables, [this](TransactionRecord&& r) { http.push_back(std::move(r)); }};
  std::map<std::tuple<uint64_t, uint64_t, int>, uint64_t> positions;

  void SetUp() override {
    tracker.SetDns([this](DnsRecord&& r) { dns.push_back(std::move(r)); }, {53});
  }

  // One exchange on a new TCP connection, the traced process in `role` ("server" accepted from
  // 127.0.0.9:43210 on port 8080; "client" connected to it).
  TransactionRecord Exchange(Role role, std::string_view request, std::string_view response,
                             uint32_t fd = 4) {
    const ConnId id{4242, int32_t(fd), fd};
    ConnOpen o{1, id, false, true, role, 8080, 43210, "127.0.0.1", "127.0.0.9", "shop-api"};
    if (role == Role::kClient) std::swap(o.local_port, o.remote_port), o.comm = "curl";
    tracker.OnOpen(o);
    const Direction in = role == Role::kServer ? Direction::kIngress : Direction::kEgress;
    const Direction out = role == Role::kServer ? Direction::kEgress : Direction::kIngress;
    Send(id, in, 1'000'000'000, request);
    Send(id, out, 1'002'500'000, response);  // 2.5 ms later
    EXPECT_EQ(http.size(), 1u);
    TransactionRecord r = http.empty() ? TransactionRecord{} : http.back();
    http.clear();
    return r;
  }
  void Send(ConnId id, Direction dir, uint64_t ts, std::string_view bytes) {
    uint64_t& p = positions[{id.key(), id.generation, int(dir)}];
    tracker.OnData(Data{ts, id, p, uint32_t(bytes.size()), dir, false, bytes});
    p += bytes.size();
  }
};

constexpr std::string_view kSecretRequest =
    "GET /users/42/orders?token=s3cr3t-t0ken&page=2 HTTP/1.1\r\nHost: shop\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TransactionPrinter Printer(PrintFormat format, bool full) {
  return TransactionPrinter(PrintOptions{format, full, nullptr}, WallClock(kEpoch));
}

TEST_F(PrintTest, TextShowsThePathAndHidesTheQuery) {
  const TransactionRecord r = Exchange(Role::kServer, kSecretRequest, kOk);
  const std::string line = Printer(PrintFormat::kText, false).Format(r);
  EXPECT_EQ(line,
            "2026-12-01T00:00:01.002Z server shop-api[4242] GET /users/42/orders?… -> 200 2.500ms port=8080");
  EXPECT_EQ(line.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(line.find("page"), std::string::npos);
}

TEST_F(PrintTest, TextWithFullTargetShowsTheQuery) {
  const TransactionRecord r = Exchange(Role::kServer, kSecretRequest, kOk);
  EXPECT_EQ(
      Printer(PrintFormat::kText, true).Format(r),
      "2026-12-01T00:00:01.002Z server shop-api[4242] GET /users/42/orders?token=s3cr3t-t0ken&page=2 -> 200 "
      "2.500ms port=8080");
}

TEST_F(PrintTest, TextWithoutQueryHasNoMarker) {
  const TransactionRecord r = Exchange(Role::kClient, "POST /upload HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                                       "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(
      Printer(PrintFormat::kText, false).Format(r),
      "2026-12-01T00:00:01.002Z client curl[4242] POST /upload -> 503 2.500ms port=8080 peer=127.0.0.9");
}

TEST_F(PrintTest, JsonFieldsOfAServerTransaction) {
  const TransactionRecord r = Exchange(Role::kServer, kSecretRequest, kOk);
  const std::string line = Printer(PrintFormat::kJson, false).Format(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find("s3cr3t"), std::string::npos);
  const json j = json::parse(line);
  const json want = {
      {"type", "http"},
      {"role", "server"},
      {"start_time", "2026-12-01T00:00:01.000000000Z"},
      {"duration_ns", 2'500'000},
      {"service.name", "shop-api"},
      {"process.executable.name", "shop-api"},
      {"process.pid", 4242},
      {"server.port", 8080},
      {"network.protocol.name", "http"},
      {"network.protocol.version", "1.1"},
      {"url.scheme", "http"},
      {"http.request.method", "GET"},
      {"url.path", "/users/42/orders"},
      {"http.route", "/users/{id}/orders"},
      {"http.response.status_code", 200},
  };
  EXPECT_EQ(j, want) << line;
  // Fields in the order README lists them.
  EXPECT_EQ(line.rfind("{\"type\":\"http\",\"role\":\"server\",\"start_time\":", 0), 0u) << line;
}

TEST_F(PrintTest, JsonWithFullTargetHasTheQuery) {
  const TransactionRecord r = Exchange(Role::kServer, kSecretRequest, kOk);
  const json j = json::parse(Printer(PrintFormat::kJson, true).Format(r));
  EXPECT_EQ(j.at("url.path"), "/users/42/orders");
  EXPECT_EQ(j.at("url.query"), "token=s3cr3t-t0ken&page=2");
}

TEST_F(PrintTest, JsonOfAClientTransactionNamesTheServer) {
  const TransactionRecord r = Exchange(Role::kClient, "DELETE /items/7 HTTP/1.1\r\nHost: a\r\n\r\n",
                                       "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  const json j = json::parse(Printer(PrintFormat::kJson, false).Format(r));
  EXPECT_EQ(j.at("role"), "client");
  EXPECT_EQ(j.at("service.name"), "curl");
  EXPECT_EQ(j.at("server.address"), "127.0.0.9");
  EXPECT_EQ(j.at("server.port"), 8080);
  EXPECT_EQ(j.at("http.request.method"), "DELETE");
  EXPECT_EQ(j.at("http.route"), "/items/{id}");
  EXPECT_EQ(j.at("http.response.status_code"), 500);
  EXPECT_FALSE(j.contains("url.query"));
}

TEST_F(PrintTest, JsonUsesTheAgentsRoutePatterns) {
  const TransactionRecord r = Exchange(Role::kServer, "GET /users/alice/profile HTTP/1.1\r\n\r\n", kOk);
  TransactionPrinter p(PrintOptions{PrintFormat::kJson, false,
                                    [](std::string_view) { return std::string("/users/{name}/profile"); }},
                       WallClock(kEpoch));
  EXPECT_EQ(json::parse(p.Format(r)).at("http.route"), "/users/{name}/profile");
}

TEST_F(PrintTest, JsonKeepsBytesThatAreNotUtf8Printable) {
  // HTTP/2 :path may carry any bytes; JSON output must stay valid (invalid UTF-8 becomes U+FFFD).
  TransactionRecord r = Exchange(Role::kServer, kSecretRequest, kOk);
  r.http.target = "/caf\xe9/\x1b[2J?q=1";
  r.http.method = "BREW";
  const std::string line = Printer(PrintFormat::kJson, false).Format(r);
  const json j = json::parse(line);
  EXPECT_EQ(j.at("url.path"), "/caf\xef\xbf\xbd/\x1b[2J");
  EXPECT_EQ(j.at("http.request.method"), "_OTHER");
  EXPECT_EQ(j.at("http.request.method_original"), "BREW");
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << "escaped as \\u001b";
  // Text escapes control bytes too.
  const std::string text = Printer(PrintFormat::kText, false).Format(r);
  EXPECT_NE(text.find("/caf\xe9/\\x1b[2J?…"), std::string::npos) << text;
}

TEST_F(PrintTest, GrpcCallInJson) {
  TransactionRecord r = Exchange(Role::kServer, kSecretRequest, kOk);
  r.http.target = "/helloworld.Greeter/SayHello";
  r.http.version = protocols::HttpVersion::k2;
  r.http.grpc = true;
  r.http.grpc_status = 5;
  r.tls = true;
  const json j = json::parse(Printer(PrintFormat::kJson, false).Format(r));
  EXPECT_EQ(j.at("type"), "grpc");
  EXPECT_EQ(j.at("network.protocol.version"), "2");
  EXPECT_EQ(j.at("url.scheme"), "https");
  EXPECT_EQ(j.at("rpc.system"), "grpc");
  EXPECT_EQ(j.at("rpc.service"), "helloworld.Greeter");
  EXPECT_EQ(j.at("rpc.method"), "SayHello");
  EXPECT_EQ(j.at("rpc.grpc.status_code"), 5);
  EXPECT_FALSE(j.contains("http.route"));
}

// A DNS query and its NXDOMAIN answer over UDP, class IN.
std::string DnsMessage(uint16_t id, bool response, uint8_t rcode) {
  std::string m = {char(id >> 8),
                   char(id & 0xff),
                   char(response ? 0x81 : 0x01),
                   char(response ? 0x80 | rcode : 0),
                   0,
                   1,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0};
  for (std::string_view label : {"db", "internal", "test"}) m.push_back(char(label.size())), m.append(label);
  m.append({0, 0, 28, 0, 1});  // AAAA, IN
  return m;
}

TEST_F(PrintTest, DnsLookupInTextAndJson) {
  const ConnId id{777, 9, 5};
  ConnOpen o{1, id, false, false, Role::kUnknown, 41000, 53, "127.0.0.1", "127.0.0.53", "resolver"};
  uint8_t raw[16] = {127, 0, 0, 53};
  o.remote = ToPeer(AF_INET, 53, raw);
  tracker.OnOpen(o);
  const std::string q = DnsMessage(99, false, 0), a = DnsMessage(99, true, 3);
  tracker.OnData(Data{5'000'000'000, id, 0, uint32_t(q.size()), Direction::kEgress, false, q});
  tracker.OnData(Data{5'000'750'000, id, 0, uint32_t(a.size()), Direction::kIngress, false, a});
  ASSERT_EQ(dns.size(), 1u);
  EXPECT_EQ(Printer(PrintFormat::kText, false).Format(dns[0]),
            "2026-12-01T00:00:05.000Z client resolver[777] DNS AAAA db.internal.test -> NXDOMAIN 0.750ms udp "
            "port=53 peer=127.0.0.53");
  const json j = json::parse(Printer(PrintFormat::kJson, false).Format(dns[0]));
  const json want = {
      {"type", "dns"},
      {"role", "client"},
      {"start_time", "2026-12-01T00:00:05.000000000Z"},
      {"duration_ns", 750'000},
      {"service.name", "resolver"},
      {"process.executable.name", "resolver"},
      {"process.pid", 777},
      {"server.port", 53},
      {"server.address", "127.0.0.53"},
      {"network.protocol.name", "dns"},
      {"network.transport", "udp"},
      {"dns.question.name", "db.internal.test"},
      {"dns.question.type", "AAAA"},
      {"dns.response_code", "NXDOMAIN"},
      {"dns.truncated", false},
  };
  EXPECT_EQ(j, want);
}

TEST(TargetRedaction, Forms) {
  EXPECT_EQ(PrintableTarget("/a/b", false), "/a/b");
  EXPECT_EQ(PrintableTarget("/a/b?", false), "/a/b?…");
  EXPECT_EQ(PrintableTarget("/a?x=1#frag", false), "/a?…");
  EXPECT_EQ(PrintableTarget("/a#frag", false), "/a");
  EXPECT_EQ(PrintableTarget("*", false), "*");
  EXPECT_EQ(PrintableTarget("example.com:443", false), "example.com:443");  // CONNECT
  EXPECT_EQ(PrintableTarget("http://user:pw@proxy.test:3128/p?k=v", false), "http://…@proxy.test:3128/p?…");
  EXPECT_EQ(PrintableTarget("http://proxy.test/p", false), "http://proxy.test/p");
  EXPECT_EQ(PrintableTarget("http://user:pw@proxy.test/p?k=v", true), "http://user:pw@proxy.test/p?k=v");
  EXPECT_EQ(PrintableTarget(std::string(300, 'a') + "?k=v", false), std::string(200, 'a') + "?…");
  EXPECT_EQ(PrintableTarget("/\r\n?x", true), "/\\x0d\\x0a?x");
  const TargetParts p = SplitTarget("https://u@h/x/y?q=1&r#f");
  EXPECT_EQ(p.scheme, "https");
  EXPECT_EQ(p.authority, "h");
  EXPECT_TRUE(p.had_userinfo);
  EXPECT_EQ(p.path, "/x/y");
  EXPECT_EQ(p.query, "q=1&r");
}

TEST(WallClockTest, Rfc3339) {
  EXPECT_EQ(WallClock::Rfc3339(kEpoch + 123'456'789, 9), "2026-12-01T00:00:00.123456789Z");
  EXPECT_EQ(WallClock::Rfc3339(kEpoch + 123'456'789, 3), "2026-12-01T00:00:00.123Z");
  EXPECT_EQ(WallClock::Rfc3339(kEpoch, 0), "2026-12-01T00:00:00Z");
  EXPECT_EQ(WallClock(kEpoch).WallNs(1'000), kEpoch + 1'000);
}

Result<Config> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "l7tap");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseArgs(int(argv.size()), argv.data());
}

TEST(PrintFlags, FormatFullTargetAndListenGiven) {
  auto c = Parse({"--print", "--format", "json", "--print-full-target"});
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->print_format, PrintFormat::kJson);
  EXPECT_TRUE(c->print_full_target);
  EXPECT_FALSE(c->listen_set);  // `l7tap top` then serves no /metrics
  c = Parse({"--listen", "127.0.0.1:9999"});
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->print_format, PrintFormat::kText);
  EXPECT_FALSE(c->print_full_target);
  EXPECT_TRUE(c->listen_set);
  EXPECT_FALSE(Parse({"--format", "yaml"}));
}

}  // namespace
}  // namespace l7tap::agent
