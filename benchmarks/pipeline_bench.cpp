// User-space cost per transaction: HTTP/1 parsing and the whole event -> transaction pipeline.
#include <benchmark/benchmark.h>
#include <llhttp.h>

#include <string>

#include "agent/connection_tracker.h"
#include "protocols/http1_session.h"

namespace {

using l7tap::protocols::Direction;
using l7tap::protocols::Role;

const std::string kRequest =
    "GET /api/items/12345?verbose=1 HTTP/1.1\r\nHost: service.local:8080\r\nUser-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\nX-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 66\r\nDate: Sun, 22 Nov 2026 "
    "03:10:08 "
    "GMT\r\n\r\n{\"id\":12345,\"name\":\"item\",\"tags\":[\"a\",\"b\"],\"ok\":true,\"pad\":\"xxxx\"}";

// HTTP/1 parse and stitch throughput: one request and its response per iteration on a keep-alive connection.
void SessionThroughput(benchmark::State& state, std::string_view request, std::string_view response) {
  uint64_t transactions = 0;
  l7tap::protocols::Http1Session session(Role::kServer, [&](auto&&) { ++transactions; });
  uint64_t ts = 0;
  for (auto _ : state) {
    session.OnData(Direction::kIngress, ++ts, request, 0);
    session.OnData(Direction::kEgress, ++ts, response, 0);
  }
  if (transactions != uint64_t(state.iterations()))
    state.SkipWithError(
        ("lost transactions: " + std::to_string(transactions) + " of " + std::to_string(state.iterations()))
            .c_str());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(request.size() + response.size()));
  state.SetItemsProcessed(int64_t(state.iterations()));
}

void BM_Http1SessionKeepAlive(benchmark::State& state) { SessionThroughput(state, kRequest, kResponse); }
BENCHMARK(BM_Http1SessionKeepAlive);

// 16 KiB bodies both ways (a POST and its answer), every byte copied and parsed.
void BM_Http1SessionLargeBodies(benchmark::State& state) {
  const std::string body(16384, 'x');
  SessionThroughput(state,
                    "POST /upload HTTP/1.1\r\nHost: service.local\r\nContent-Length: 16384\r\n\r\n" + body,
                    "HTTP/1.1 200 OK\r\nContent-Length: 16384\r\n\r\n" + body);
}
BENCHMARK(BM_Http1SessionLargeBodies);

// llhttp by itself on the small messages, no callbacks: what any llhttp-based parser can reach here.
void BM_LlhttpAlone(benchmark::State& state) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  llhttp_t request, response;
  llhttp_init(&request, HTTP_REQUEST, &settings);
  llhttp_init(&response, HTTP_RESPONSE, &settings);
  for (auto _ : state) {
    if (llhttp_execute(&request, kRequest.data(), kRequest.size()) != HPE_OK ||
        llhttp_execute(&response, kResponse.data(), kResponse.size()) != HPE_OK) {
      state.SkipWithError("llhttp rejected the messages");
      break;
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kRequest.size() + kResponse.size()));
}
BENCHMARK(BM_LlhttpAlone);

// Decoded events through the connection tracker (reassembly, parsing, enrichment) per transaction.
void BM_TrackerPerTransaction(benchmark::State& state) {
  uint64_t transactions = 0;
  l7tap::agent::TableRegistry tables;
  l7tap::agent::ConnectionTracker tracker(tables, [&](auto&&) { ++transactions; });
  l7tap::agent::ConnId id{100, 7, 1};
  tracker.OnOpen({0, id, false, true, Role::kServer, 8080, 50000, "127.0.0.1", "127.0.0.1", "server"});
  uint64_t pos[2] = {0, 0}, ts = 0;
  for (auto _ : state) {
    tracker.OnData({++ts, id, pos[1], uint32_t(kRequest.size()), Direction::kIngress, false, kRequest});
    pos[1] += kRequest.size();
    tracker.OnData({++ts, id, pos[0], uint32_t(kResponse.size()), Direction::kEgress, false, kResponse});
    pos[0] += kResponse.size();
  }
  if (transactions != uint64_t(state.iterations()))
    state.SkipWithError(
        ("lost transactions: " + std::to_string(transactions) + " of " + std::to_string(state.iterations()))
            .c_str());
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_TrackerPerTransaction);

}  // namespace

BENCHMARK_MAIN();
