// `l7tap top`'s aggregation (per key totals, errors, window rate and exact percentiles, bounds) and its
// screen's text.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "agent/top_aggregator.h"
#include "agent/top_view.h"

namespace l7tap::agent {
namespace {

using protocols::Role;

constexpr uint64_t kS = 1'000'000'000, kMs = 1'000'000;
constexpr uint64_t kStart = 100 * kS + 300 * kMs;  // agent ready at 100.3 s: second 101 is the first complete

TransactionRecord Http(std::string service, Role role, std::string target, int status, uint64_t end_ns,
                       uint64_t duration_ns) {
  TransactionRecord r;
  r.service_name = std::move(service);
  r.http.role = role;
  r.http.method = "GET";
  r.http.target = std::move(target);
  r.http.status = status;
  r.http.end_ns = end_ns;
  r.http.start_ns = end_ns - duration_ns;
  return r;
}

DnsRecord Dns(std::string server, std::string name, uint8_t rcode, uint64_t end_ns, uint64_t duration_ns) {
  DnsRecord r;
  r.service_name = "resolver";
  r.server_address = std::move(server);
  r.dns.role = Role::kClient;
  r.dns.name = std::move(name);
  r.dns.rcode = rcode;
  r.dns.end_ns = end_ns;
  r.dns.start_ns = end_ns - duration_ns;
  return r;
}

const TopRow& Find(const std::vector<TopRow>& rows, std::string_view service, std::string_view name) {
  auto it = std::find_if(rows.begin(), rows.end(),
                         [&](const TopRow& r) { return r.key.service == service && r.key.name == name; });
  if (it == rows.end()) throw std::runtime_error("no row " + std::string(service) + " " + std::string(name));
  return *it;
}

TEST(TopAggregator, CountsAndErrorsPerServiceAndRoute) {
  TopAggregator a({}, kStart);
  // 20/s of "/" (200) and 2/s of "/error" (500) for 12 s, seconds 101..112; /items/<n> share one route.
  for (uint64_t s = 101; s <= 112; ++s) {
    for (uint64_t i = 0; i < 20; ++i)
      a.Add(Http("web", Role::kServer, "/?i=1", 200, s * kS + i * 40 * kMs, kMs), "/");
    for (uint64_t i = 0; i < 2; ++i)
      a.Add(Http("web", Role::kServer, "/error", 500, s * kS + i * 400 * kMs, 3 * kMs), "/error");
  }
  a.Add(Http("web", Role::kServer, "/items/1", 404, 112 * kS, kMs), "/items/{id}");
  a.Add(Http("web", Role::kServer, "/items/2", 0, 112 * kS, kMs), "/items/{id}");  // no status: an error
  const std::vector<TopRow> rows = a.Rows(113 * kS + 100 * kMs);
  ASSERT_EQ(rows.size(), 3u);
  const TopRow& ok = Find(rows, "web", "/");
  EXPECT_EQ(ok.total, 240u);
  EXPECT_EQ(ok.total_errors, 0u);
  EXPECT_EQ(ok.window_count, 200u);  // seconds 103..112
  EXPECT_DOUBLE_EQ(ok.rate, 20.0);
  EXPECT_DOUBLE_EQ(ok.error_ratio, 0.0);
  EXPECT_EQ(ok.p50_ns, kMs);
  const TopRow& err = Find(rows, "web", "/error");
  EXPECT_EQ(err.total, 24u);
  EXPECT_EQ(err.total_errors, 24u);
  EXPECT_DOUBLE_EQ(err.rate, 2.0);
  EXPECT_DOUBLE_EQ(err.error_ratio, 1.0);
  EXPECT_EQ(err.last_error, "500");
  const TopRow& items = Find(rows, "web", "/items/{id}");
  EXPECT_EQ(items.total, 2u);
  EXPECT_EQ(items.total_errors, 1u);  // a 404 is not an error; no status is
  EXPECT_EQ(items.last_error, "no status");
  EXPECT_EQ(a.stats().records, 266u);
}

TEST(TopAggregator, WindowIsTheLastCompleteSecondsSinceStart) {
  TopAggregator a({.window_s = 10}, kStart);
  a.Add(Http("web", Role::kServer, "/", 200, 100 * kS + 500 * kMs, kMs),
        "/");  // in the first, partial second
  for (uint64_t i = 0; i < 6; ++i) a.Add(Http("web", Role::kServer, "/", 200, 101 * kS + i * kMs, kMs), "/");
  a.Add(Http("web", Role::kServer, "/", 200, 102 * kS + 5 * kMs, kMs), "/");  // the current second
  // At 100.9 no second has ended since start: no rate.
  EXPECT_DOUBLE_EQ(a.Rows(100 * kS + 900 * kMs)[0].rate, 0.0);
  // At 101.9: from start (100.3) to 101.0.
  TopRow r = a.Rows(101 * kS + 900 * kMs)[0];
  EXPECT_EQ(r.window_count, 1u);
  EXPECT_DOUBLE_EQ(r.rate, 1 / 0.7);
  // At 102.1: seconds 100 (since 100.3) and 101.
  r = a.Rows(102 * kS + 100 * kMs)[0];
  EXPECT_EQ(r.total, 8u);
  EXPECT_EQ(r.window_count, 7u);
  EXPECT_DOUBLE_EQ(r.rate, 7 / 1.7);
  // At 103.5: up to 103.0.
  r = a.Rows(103 * kS + 500 * kMs)[0];
  EXPECT_EQ(r.window_count, 8u);
  EXPECT_DOUBLE_EQ(r.rate, 8 / 2.7);
  // At 112.0: seconds 102..111 (100 and 101 have left the window).
  r = a.Rows(112 * kS)[0];
  EXPECT_EQ(r.window_count, 1u);
  EXPECT_DOUBLE_EQ(r.rate, 0.1);
  // Long after: nothing in the window, the totals stay.
  r = a.Rows(200 * kS)[0];
  EXPECT_EQ(r.window_count, 0u);
  EXPECT_EQ(r.total, 8u);
  EXPECT_EQ(r.p99_ns, 0u);
  // A record older than its bucket's second (arriving late, past the window) counts in the totals only.
  a.Add(Http("web", Role::kServer, "/", 200, 300 * kS, kMs), "/");
  a.Add(Http("web", Role::kServer, "/", 200, 289 * kS, kMs), "/");  // same ring slot as 300, older
  r = a.Rows(301 * kS)[0];
  EXPECT_EQ(r.total, 10u);
  EXPECT_EQ(r.window_count, 1u);
}

TEST(TopAggregator, ExactPercentilesOfTheWindow) {
  TopAggregator a({}, kStart);
  // 1..100 ms, spread over two seconds, in a shuffled order.
  for (uint64_t i = 0; i < 100; ++i) {
    const uint64_t ms = (i * 37) % 100 + 1;
    a.Add(Http("web", Role::kServer, "/", 200, (101 + i % 2) * kS + i * kMs, ms * kMs), "/");
  }
  const TopRow r = a.Rows(103 * kS)[0];
  EXPECT_EQ(r.window_count, 100u);
  EXPECT_EQ(r.p50_ns, 50 * kMs);
  EXPECT_EQ(r.p99_ns, 99 * kMs);
  EXPECT_FALSE(r.approximate);
}

TEST(TopAggregator, LatenciesPastTheReservoirAreSampledAndCounted) {
  TopAggregator a({.samples_per_second = 100}, kStart);
  for (uint64_t i = 0; i < 1000; ++i)
    a.Add(Http("web", Role::kServer, "/", 200, 101 * kS + i * 100'000, (i % 10 + 1) * kMs), "/");
  const TopRow r = a.Rows(102 * kS)[0];
  EXPECT_EQ(r.window_count, 1000u);  // counts stay exact
  EXPECT_TRUE(r.approximate);
  EXPECT_EQ(a.stats().samples_thinned, 900u);
  // A uniform sample of 1..10 ms, each a tenth: the median is near 5 or 6 ms, p99 10 ms.
  EXPECT_GE(r.p50_ns, 4 * kMs);
  EXPECT_LE(r.p50_ns, 7 * kMs);
  EXPECT_EQ(r.p99_ns, 10 * kMs);
}

TEST(TopAggregator, RowsAreBoundedOverflowAndIdleReplacementCounted) {
  TopAggregator a({.max_rows = 2, .window_s = 10}, kStart);
  a.Add(Http("web", Role::kServer, "/a", 200, 101 * kS, kMs), "/a");
  a.Add(Http("web", Role::kServer, "/b", 200, 102 * kS, kMs), "/b");
  a.Add(Http("web", Role::kServer, "/c", 200, 103 * kS, kMs), "/c");  // full, nothing idle: overflow row
  a.Add(Http("web", Role::kServer, "/d", 200, 104 * kS, kMs), "/d");
  EXPECT_EQ(a.stats().overflowed, 2u);
  std::vector<TopRow> rows = a.Rows(105 * kS);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(Find(rows, "_other", "_other").total, 2u);
  // /a idle for more than a window: a new route takes its place.
  a.Add(Http("web", Role::kServer, "/e", 200, 112 * kS, kMs), "/e");
  EXPECT_EQ(a.stats().rows_replaced, 1u);
  rows = a.Rows(113 * kS);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(Find(rows, "web", "/e").total, 1u);
  EXPECT_EQ(Find(rows, "web", "/b").total, 1u);
  EXPECT_EQ(a.rows(), 3u);  // max_rows + one overflow row
}

TEST(TopAggregator, RolesAreApart) {
  TopAggregator a({}, kStart);
  a.Add(Http("web", Role::kServer, "/", 200, 101 * kS, kMs), "/");
  a.Add(Http("web", Role::kClient, "/", 200, 101 * kS, kMs), "/");
  EXPECT_EQ(a.Rows(102 * kS).size(), 2u);
}

TEST(TopAggregator, GrpcRowsAreMethodsAndNonZeroStatusesErrors) {
  TopAggregator a({}, kStart);
  TransactionRecord r = Http("greeter", Role::kServer, "/helloworld.Greeter/SayHello", 200, 101 * kS, kMs);
  r.http.grpc = true;
  r.http.grpc_status = 0;
  a.Add(r, "ignored");
  r.http.grpc_status = 14;
  a.Add(r, "ignored");
  const std::vector<TopRow> rows = a.Rows(102 * kS);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key.kind, TopKind::kGrpc);
  EXPECT_EQ(rows[0].key.name, "helloworld.Greeter/SayHello");
  EXPECT_EQ(rows[0].total_errors, 1u);
  EXPECT_EQ(rows[0].last_error, "grpc 14");
}

TEST(TopAggregator, DnsPerServerAndQuestion) {
  TopAggregator a({}, kStart);
  for (int i = 0; i < 4; ++i) a.Add(Dns("127.0.0.53", "db.test", 0, 101 * kS + i, 2 * kMs));
  a.Add(Dns("127.0.0.53", "gone.test", 3, 101 * kS, 1 * kMs));
  a.Add(Dns("10.0.0.1", "db.test", 2, 101 * kS, 9 * kMs));
  const std::vector<TopRow> rows = a.Rows(102 * kS);
  ASSERT_EQ(rows.size(), 3u);
  int seen = 0;
  for (const TopRow& r : rows) {
    EXPECT_EQ(r.key.kind, TopKind::kDns);
    if (r.key.server == "127.0.0.53" && r.key.name == "db.test") {
      seen++;
      EXPECT_EQ(r.total, 4u);
      EXPECT_EQ(r.total_errors, 0u);
      EXPECT_EQ(r.p99_ns, 2 * kMs);
    } else if (r.key.name == "gone.test") {
      seen++;
      EXPECT_EQ(r.total_errors, 1u);
      EXPECT_EQ(r.last_error, "NXDOMAIN");
    } else if (r.key.server == "10.0.0.1") {
      seen++;
      EXPECT_EQ(r.last_error, "SERVFAIL");
    }
  }
  EXPECT_EQ(seen, 3);
}

// The three routes of the e2e test: rates 20, 5, 2 /s; errors only on /error; p99 highest on /slow.
std::vector<TopRow> ThreeRoutes() {
  TopAggregator a({}, kStart);
  for (uint64_t s = 101; s <= 110; ++s) {
    for (uint64_t i = 0; i < 20; ++i)
      a.Add(Http("http_server", Role::kServer, "/", 200, s * kS + i, kMs / 10), "/");
    for (uint64_t i = 0; i < 5; ++i)
      a.Add(Http("http_server", Role::kServer, "/slow", 200, s * kS + i, 50 * kMs), "/slow");
    for (uint64_t i = 0; i < 2; ++i)
      a.Add(Http("http_server", Role::kServer, "/error", 500, s * kS + i, kMs / 5), "/error");
  }
  return a.Rows(111 * kS);
}

std::vector<std::string> Names(std::vector<TopRow> rows, TopSort sort) {
  SortTopRows(rows, sort);
  std::vector<std::string> out;
  for (const TopRow& r : rows) out.push_back(r.key.name);
  return out;
}

TEST(TopView, SortKeys) {
  const std::vector<TopRow> rows = ThreeRoutes();
  using V = std::vector<std::string>;
  EXPECT_EQ(Names(rows, TopSort::kRate), (V{"/", "/slow", "/error"}));
  EXPECT_EQ(Names(rows, TopSort::kErrors), (V{"/error", "/", "/slow"}));
  EXPECT_EQ(Names(rows, TopSort::kP99), (V{"/slow", "/error", "/"}));
  EXPECT_EQ(Names(rows, TopSort::kName), (V{"/", "/error", "/slow"}));
  EXPECT_EQ(Names(rows, TopSort::kTotal), (V{"/", "/slow", "/error"}));
  EXPECT_EQ(TopSortForKey('e'), TopSort::kErrors);
  EXPECT_EQ(TopSortForKey('p'), TopSort::kP99);
  EXPECT_EQ(TopSortForKey('x'), std::nullopt);
}

TEST(TopView, Screen) {
  TopViewState st;
  st.sort = TopSort::kErrors;
  st.tracing = true;
  st.max_rows = 512;
  st.rows = 3;
  st.loss = TopLossFrom(
      {Sample{"l7tap_events_lost_total", "", true, {{"reason", "ringbuf_full"}}, 7},
       Sample{"l7tap_events_lost_total", "", true, {{"reason", "malformed"}}, 1},
       Sample{"l7tap_http_requests_lost_total", "", true, {{"reason", "request_lost"}}, 3},
       Sample{"l7tap_table_evictions_total", "", true, {{"table", "conns"}, {"reason", "full"}}, 2},
       Sample{"l7tap_table_evictions_total", "", true, {{"table", "conns"}, {"reason", "idle"}}, 9}});
  st.last_log = "l7tap: tracing \x1b[31m";
  const std::vector<std::string> lines = RenderTop(ThreeRoutes(), st, 200, 50);
  ASSERT_EQ(lines.size(), 11u);
  EXPECT_NE(lines[0].find("tracing"), std::string::npos);
  EXPECT_NE(lines[0].find("sort: errors"), std::string::npos);
  EXPECT_NE(lines[1].find("events lost 8, HTTP requests lost 3, DNS unanswered 0, connections untracked 0, "
                          "table refusals 2"),
            std::string::npos)
      << lines[1];
  EXPECT_EQ(lines[2], "HTTP/gRPC: 3 rows");
  EXPECT_NE(lines[3].find("ERR%*"), std::string::npos) << lines[3];
  // Whitespace-separated columns, in the errors order.
  auto fields = [](const std::string& l) {
    std::vector<std::string> f;
    size_t i = 0;
    while ((i = l.find_first_not_of(' ', i)) != std::string::npos) {
      const size_t j = l.find(' ', i);
      f.push_back(l.substr(i, j - i));
      i = j;
    }
    return f;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(fields(lines[4]), (V{"http_server", "server", "http", "/error", "20", "20", "2.0", "100.0",
                                 "0.200", "0.200", "500"}));
  EXPECT_EQ(fields(lines[5]),
            (V{"http_server", "server", "http", "/", "200", "0", "20.0", "0.0", "0.100", "0.100", "-"}));
  EXPECT_EQ(fields(lines[6])[3], "/slow");
  EXPECT_EQ(lines[8], "DNS: 0 rows");
  EXPECT_EQ(lines[10], "log: l7tap: tracing ?[31m");
  for (const std::string& l : lines) EXPECT_LE(l.size(), 200u);
}

TEST(TopView, ShortTerminalShowsWhatFitsAndSaysSo) {
  TopViewState st;
  const std::vector<std::string> lines = RenderTop(ThreeRoutes(), st, 80, 10);
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines[2], "HTTP/gRPC: 3 rows (2 shown)");
  for (const std::string& l : lines) EXPECT_LE(l.size(), 80u);
  EXPECT_NE(lines[0].find("starting"), std::string::npos);
}

}  // namespace
}  // namespace l7tap::agent
