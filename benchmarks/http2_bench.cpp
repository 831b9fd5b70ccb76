// User-space cost per HTTP/2 stream (one request and its response): real connections recorded once from
// nghttp2's client and server talking in memory (tests/protocols/h2_wire.cpp), then replayed to a fresh
// session per iteration, so each iteration is one whole connection (preface, SETTINGS, every stream, close)
// and the session's set-up (its two HPACK inflaters) is paid once per connection, as in the agent.
//
// per_stream is the CPU time of an iteration divided by its streams (items_per_second counts streams).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "agent/connection_tracker.h"
#include "protocols/http2_session.h"
#include "protocols/protocol_session.h"
#include "tests/protocols/h2_wire.h"

namespace {

using l7tap::protocols::Direction;
using l7tap::protocols::HttpTransaction;
using l7tap::protocols::Role;
namespace wire = l7tap::protocols::testing;

// The bytes of one connection as the traced server sees them.
struct Recording {
  std::vector<wire::WireChunk> chunks;
  size_t streams = 0;
  size_t bytes = 0;
};

// What curl sends and nginx answers for a small static file.
wire::H2Exchange StaticGet(int i) {
  wire::H2Exchange e;
  e.path = "/static/items/" + std::to_string(i) + ".json?v=3";
  e.request_headers = {{"user-agent", "curl/7.88.1"}, {"accept", "*/*"}};
  e.response_headers = {{"server", "nginx/1.22.1"},
                        {"date", "Tue, 01 Dec 2026 12:00:00 GMT"},
                        {"content-type", "application/json"},
                        {"content-length", "420"},
                        {"last-modified", "Mon, 30 Nov 2026 08:15:42 GMT"},
                        {"etag", "\"6564c3ae-1a4\""},
                        {"accept-ranges", "bytes"}};
  e.response_body = std::string(420, 'j');
  return e;
}

// A unary gRPC call (grpc-go / grpcio style headers), status in the trailers.
wire::H2Exchange GrpcUnary(int i) {
  wire::H2Exchange e;
  e.method = "POST";
  e.path = "/shop.v1.Inventory/GetItem";
  e.request_headers = {{"content-type", "application/grpc"},
                       {"user-agent", "grpc-go/1.59.0"},
                       {"te", "trailers"},
                       {"grpc-timeout", "999000u"}};
  e.request_body = std::string(5, '\0') + "item-" + std::to_string(i);
  e.response_headers = {{"content-type", "application/grpc"}};
  e.response_body = std::string(5, '\0') + std::string(48, 'r');
  e.trailers = {{"grpc-status", "0"}, {"grpc-message", ""}};
  return e;
}

// nghttp2 hands its transport one frame at a time; a server writes what it has at once (nginx coalesces its
// frames into one SSL_write of up to 16 KiB, and the kernel copies up to 16 KiB per event on HTTP/2).
// `coalesce` merges consecutive chunks of one direction up to that size.
Recording Record(const std::vector<std::vector<wire::H2Exchange>>& rounds, bool coalesce) {
  Recording r;
  for (const auto& round : rounds) r.streams += round.size();
  for (wire::WireChunk& c : wire::RunH2Rounds(rounds)) {
    r.bytes += c.bytes.size();
    if (coalesce && !r.chunks.empty() && r.chunks.back().from_client == c.from_client &&
        r.chunks.back().bytes.size() + c.bytes.size() <= 16384) {
      r.chunks.back().bytes += c.bytes;
    } else {
      r.chunks.push_back(std::move(c));
    }
  }
  return r;
}

const Recording& Concurrent(bool coalesce) {
  static const auto make = [](bool c) {
    std::vector<wire::H2Exchange> gets;
    for (int i = 0; i < 100; ++i) gets.push_back(StaticGet(i));
    return Record({gets}, c);
  };
  static const Recording coalesced = make(true), per_frame = make(false);
  return coalesce ? coalesced : per_frame;
}

const Recording& Sequential() {
  static const Recording r = [] {
    std::vector<std::vector<wire::H2Exchange>> rounds;
    for (int i = 0; i < 100; ++i) rounds.push_back({StaticGet(i)});
    return Record(rounds, true);
  }();
  return r;
}

const Recording& Grpc() {
  static const Recording r = [] {
    std::vector<std::vector<wire::H2Exchange>> rounds;
    for (int i = 0; i < 100; ++i) rounds.push_back({GrpcUnary(i)});
    return Record(rounds, true);
  }();
  return r;
}

// Medians hide the spread on a shared machine: min and max over the repetitions too.
void Spread(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", [](const std::vector<double>& v) {
     return *std::min_element(v.begin(), v.end());
   })->ComputeStatistics("max", [](const std::vector<double>& v) {
    return *std::max_element(v.begin(), v.end());
  });
}

bool Check(const HttpTransaction& t) {
  return t.status == 200 && (t.method == "GET" || (t.method == "POST" && t.grpc && t.grpc_status == 0)) &&
         t.end == l7tap::protocols::StreamEnd::kComplete && t.end_ns > t.start_ns;
}

void Finish(benchmark::State& state, const Recording& r, uint64_t transactions, uint64_t wrong) {
  const uint64_t expected = uint64_t(state.iterations()) * r.streams;
  if (transactions != expected || wrong)
    state.SkipWithError(("transactions: " + std::to_string(transactions) + " of " + std::to_string(expected) +
                         ", " + std::to_string(wrong) + " wrong")
                            .c_str());
  state.SetItemsProcessed(int64_t(expected));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(r.bytes));
  // kIsRate | kInvert: CPU seconds per stream, printed with an SI prefix and "s" (e.g. 590.2ns).
  state.counters["per_stream"] =
      benchmark::Counter(double(expected), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["chunks"] = double(r.chunks.size());
}

// Http2Session directly, server role (the client's chunks are read, the server's written).
void SessionPerStream(benchmark::State& state, const Recording& r) {
  uint64_t transactions = 0, wrong = 0;
  for (auto _ : state) {
    l7tap::protocols::Http2Session session(
        Role::kServer,
        [&](HttpTransaction&& t) {
          ++transactions;
          wrong += !Check(t);
        },
        true);
    uint64_t ts = 1000;
    for (const wire::WireChunk& c : r.chunks) {
      session.OnData(c.from_client ? Direction::kIngress : Direction::kEgress, ts, c.bytes, 0);
      ts += 1000;
    }
    session.OnClose();
    benchmark::DoNotOptimize(session.TakeStats());
  }
  Finish(state, r, transactions, wrong);
}

void BM_Http2Concurrent100(benchmark::State& state) { SessionPerStream(state, Concurrent(true)); }
BENCHMARK(BM_Http2Concurrent100)->Apply(Spread);

void BM_Http2Concurrent100PerFrame(benchmark::State& state) { SessionPerStream(state, Concurrent(false)); }
BENCHMARK(BM_Http2Concurrent100PerFrame)->Apply(Spread);

void BM_Http2Sequential100(benchmark::State& state) { SessionPerStream(state, Sequential()); }
BENCHMARK(BM_Http2Sequential100)->Apply(Spread);

void BM_Http2GrpcUnary100(benchmark::State& state) { SessionPerStream(state, Grpc()); }
BENCHMARK(BM_Http2GrpcUnary100)->Apply(Spread);

// The same through the ProtocolSession interface the connection tracker uses (virtual calls, the adapter).
void BM_Http2ProtocolSessionConcurrent100(benchmark::State& state) {
  struct Sink final : l7tap::protocols::TransactionSink {
    uint64_t transactions = 0, wrong = 0;
    void OnHttp(HttpTransaction&& t) override {
      ++transactions;
      wrong += !Check(t);
    }
    void OnDns(l7tap::protocols::DnsTransaction&&) override { ++wrong; }
  } sink;
  const Recording& r = Concurrent(true);
  for (auto _ : state) {
    auto session = l7tap::protocols::MakeHttp2Session(Role::kServer, sink, true);
    auto& in = session->consumer(Direction::kIngress);
    auto& out = session->consumer(Direction::kEgress);
    uint64_t ts = 1000;
    for (const wire::WireChunk& c : r.chunks) {
      (c.from_client ? in : out).OnData(ts, c.bytes, 0);
      ts += 1000;
    }
    session->OnClose();
  }
  Finish(state, r, sink.transactions, sink.wrong);
}
BENCHMARK(BM_Http2ProtocolSessionConcurrent100)->Apply(Spread);

// Decoded events through the connection tracker: protocol sniffing, reassembly, the session and enrichment
// (what the agent does per stream in user space, short of metrics). One connection per iteration.
void BM_Http2TrackerConcurrent100(benchmark::State& state) {
  uint64_t transactions = 0, wrong = 0;
  l7tap::agent::TableRegistry tables;
  l7tap::agent::ConnectionTracker tracker(tables, [&](l7tap::agent::TransactionRecord&& t) {
    ++transactions;
    wrong += !Check(t.http) || t.http.version != l7tap::protocols::HttpVersion::k2;
  });
  const Recording& r = Concurrent(true);
  int32_t fd = 3;
  uint64_t ts = 1000;
  for (auto _ : state) {
    const l7tap::agent::ConnId id{100, fd, uint64_t(fd)};
    ++fd;
    tracker.OnOpen({ts, id, false, true, Role::kServer, 8443, 50000, "127.0.0.1", "127.0.0.1", "nginx"});
    uint64_t pos[2] = {0, 0};
    for (const wire::WireChunk& c : r.chunks) {
      const Direction dir = c.from_client ? Direction::kIngress : Direction::kEgress;
      uint64_t& at = pos[size_t(dir)];
      tracker.OnData({ts += 1000, id, at, uint32_t(c.bytes.size()), dir, true, c.bytes});
      at += c.bytes.size();
    }
    tracker.OnClose({ts += 1000, id});
  }
  Finish(state, r, transactions, wrong);
}
BENCHMARK(BM_Http2TrackerConcurrent100)->Apply(Spread);

}  // namespace

BENCHMARK_MAIN();
