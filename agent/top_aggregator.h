#pragma once
// `l7tap top`'s numbers: per service and route (HTTP, gRPC) or per service, server and question (DNS), the
// totals since start and, over a window of the last window_s complete seconds (in the first seconds: since
// start), the rate, the error ratio and exact percentiles of the latencies. Pure (no clock, no I/O): time is
// the records' kernel timestamps and the `now` the caller passes (CLOCK_MONOTONIC). Bounded: at most max_rows
// rows (then the least recently updated row idle for a whole window is replaced, else the record counts in
// its kind's overflow row "_other") and at most samples_per_second latencies per row and second (past it,
// reservoir sampling keeps a uniform sample of that second, and the row's percentiles are marked
// approximate); both are counted.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/connection_tracker.h"

namespace l7tap::agent {

enum class TopKind : uint8_t { kHttp, kGrpc, kDns };

struct TopLimits {
  size_t max_rows = 512;
  uint32_t window_s = 10;
  size_t samples_per_second = 1024;  // latencies kept per row and second
};

struct TopKey {
  TopKind kind = TopKind::kHttp;
  protocols::Role role = protocols::Role::kUnknown;
  std::string service;
  std::string name;    // HTTP: http.route; gRPC: "service/method"; DNS: the question name
  std::string server;  // DNS lookups: the server asked; else empty
  bool operator==(const TopKey&) const = default;
};

// One row as shown: totals since the row was made, and the window's figures.
struct TopRow {
  TopKey key;
  uint64_t total = 0, total_errors = 0;
  uint64_t window_count = 0, window_errors = 0;
  double rate = 0;                  // window_count per second of the window (0 while it is empty)
  double error_ratio = 0;           // window_errors / window_count (0 when none)
  uint64_t p50_ns = 0, p99_ns = 0;  // nearest rank over the window's latencies; 0 when none
  bool approximate = false;         // some of the window's latencies were sampled, not all kept
  std::string last_error;           // DNS: the last error's rcode name ("NXDOMAIN"); HTTP: its status
};

struct TopStats {
  uint64_t records = 0;
  uint64_t overflowed = 0;       // records counted in an overflow row (max_rows reached)
  uint64_t rows_replaced = 0;    // idle rows replaced by new ones
  uint64_t samples_thinned = 0;  // latencies not kept past samples_per_second (reservoir)
};

// Error: an HTTP status of 500 or more, no status at all, or an HTTP/2 stream ended early; a gRPC status
// other than 0 (or none); a DNS rcode other than NOERROR.
bool IsError(const TransactionRecord& r);
bool IsError(const DnsRecord& r);

class TopAggregator {
 public:
  explicit TopAggregator(TopLimits limits, uint64_t start_ns);

  // `route`: the transaction's http.route (ignored for gRPC, whose name is its method).
  void Add(const TransactionRecord& r, std::string_view route);
  void Add(const DnsRecord& r);

  // Every row, in no particular order, with the window ending at the start of now_ns's second.
  std::vector<TopRow> Rows(uint64_t now_ns) const;
  const TopStats& stats() const { return stats_; }
  size_t rows() const { return rows_.size(); }
  const TopLimits& limits() const { return limits_; }

  static constexpr std::string_view kOverflow = "_other";

 private:
  struct Second {
    uint64_t index = UINT64_MAX;  // ns / 1e9; UINT64_MAX: unused
    uint64_t count = 0, errors = 0;
    std::vector<uint64_t> latencies;  // at most samples_per_second
  };
  struct Row {
    TopKey key;
    uint64_t total = 0, total_errors = 0;
    uint64_t last_ns = 0;  // the latest record's end
    std::string last_error;
    std::vector<Second> seconds;  // ring of window_s + 1 (the current, incomplete one too)
  };
  struct KeyHash {
    size_t operator()(const TopKey& k) const;
  };

  void Add(TopKey key, uint64_t end_ns, uint64_t duration_ns, bool error, std::string error_name);
  Row* RowFor(TopKey&& key, uint64_t now_ns);

  TopLimits limits_;
  uint64_t start_ns_;
  std::unordered_map<TopKey, Row, KeyHash> rows_;
  std::minstd_rand random_{20261201};  // reservoir sampling: reproducible
  TopStats stats_;
};

}  // namespace l7tap::agent
