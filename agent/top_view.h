#pragma once
// `l7tap top`'s screen as lines of text: a title with the active sort and the keys, the loss line, the HTTP
// and gRPC table, the DNS table, and the last log line. Pure: the terminal side (top_screen.h) only draws
// them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/sample.h"
#include "agent/top_aggregator.h"

namespace l7tap::agent {

enum class TopSort { kRate, kErrors, kP99, kName, kTotal };
const char* TopSortName(TopSort s);
// The sort a key selects (r, e, p, n, t); none for other keys.
std::optional<TopSort> TopSortForKey(int key);
// Descending by the sort's figure (name: ascending), ties by name, so the order is stable between frames.
void SortTopRows(std::vector<TopRow>& rows, TopSort sort);

// The agent's own loss and drop counters, from its self-metrics.
struct TopLoss {
  bool known = false;
  uint64_t events_lost = 0;            // l7tap_events_lost_total, every reason
  uint64_t http_requests_lost = 0;     // l7tap_http_requests_lost_total
  uint64_t dns_unanswered = 0;         // l7tap_dns_unanswered_total
  uint64_t connections_untracked = 0;  // l7tap_connections_untracked_total
  uint64_t table_refusals = 0;         // l7tap_table_evictions_total{reason="full"}
};
TopLoss TopLossFrom(const std::vector<Sample>& samples);

struct TopViewState {
  TopSort sort = TopSort::kRate;
  bool tracing = false;  // the agent is ready
  uint32_t window_s = 10;
  size_t max_rows = 0;
  size_t rows = 0;
  TopStats stats;
  TopLoss loss;
  std::string last_log;  // the agent's last log line
};

// At most `height` lines, each at most `width` bytes, printable ASCII only (names are sanitized: a byte
// outside it shows as "?").
std::vector<std::string> RenderTop(std::vector<TopRow> rows, const TopViewState& state, int width,
                                   int height);

}  // namespace l7tap::agent
