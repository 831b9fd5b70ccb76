#include "agent/top_aggregator.h"

#include <algorithm>
#include <functional>

#include "protocols/dns_message.h"
#include "protocols/grpc_path.h"

namespace l7tap::agent {
namespace {

constexpr uint64_t kSecondNs = 1'000'000'000;

uint64_t Duration(uint64_t start_ns, uint64_t end_ns) { return end_ns > start_ns ? end_ns - start_ns : 0; }

// Nearest rank: the smallest value with at least q of the values at or below it.
uint64_t Percentile(std::vector<uint64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t rank = size_t(q * double(v.size()) + 0.999999999);  // ceil without float surprises at exact ranks
  rank = std::clamp<size_t>(rank, 1, v.size());
  std::nth_element(v.begin(), v.begin() + ptrdiff_t(rank - 1), v.end());
  return v[rank - 1];
}

}  // namespace

bool IsError(const TransactionRecord& r) {
  const auto& t = r.http;
  if (t.end != protocols::StreamEnd::kComplete) return true;
  if (t.grpc) return t.grpc_status != 0;
  return t.status == 0 || t.status >= 500;
}

bool IsError(const DnsRecord& r) { return r.dns.rcode != 0; }

size_t TopAggregator::KeyHash::operator()(const TopKey& k) const {
  std::hash<std::string> h;
  size_t x = h(k.service) * 31 + h(k.name);
  x = x * 31 + h(k.server);
  return x * 31 + (size_t(k.kind) << 2 | size_t(k.role));
}

TopAggregator::TopAggregator(TopLimits limits, uint64_t start_ns) : limits_(limits), start_ns_(start_ns) {
  limits_.window_s = std::max<uint32_t>(limits_.window_s, 1);
  limits_.max_rows = std::max<size_t>(limits_.max_rows, 1);
}

void TopAggregator::Add(const TransactionRecord& r, std::string_view route) {
  const auto& t = r.http;
  TopKey key{t.grpc ? TopKind::kGrpc : TopKind::kHttp, t.role, r.service_name, {}, {}};
  if (t.grpc) {
    const std::string_view target = t.target;
    const protocols::GrpcMethod m = protocols::SplitGrpcPath(target.substr(0, target.find('?')));
    key.name = m.service.empty() ? "_OTHER/_OTHER" : std::string(m.service) + "/" + std::string(m.method);
  } else {
    key.name = route;
  }
  const bool error = IsError(r);
  std::string error_name;
  if (error) {
    if (t.end != protocols::StreamEnd::kComplete)
      error_name = protocols::StreamEndName(t.end);
    else if (t.grpc)
      error_name = t.grpc_status >= 0 ? "grpc " + std::to_string(t.grpc_status) : "no grpc-status";
    else
      error_name = t.status ? std::to_string(t.status) : "no status";
  }
  Add(std::move(key), t.end_ns, Duration(t.start_ns, t.end_ns), error, std::move(error_name));
}

void TopAggregator::Add(const DnsRecord& r) {
  const auto& t = r.dns;
  TopKey key{TopKind::kDns, t.role, r.service_name, t.name,
             t.role == protocols::Role::kServer ? std::string() : r.server_address};
  const bool error = IsError(r);
  Add(std::move(key), t.end_ns, Duration(t.start_ns, t.end_ns), error,
      error ? protocols::DnsRcodeName(t.rcode) : "");
}

TopAggregator::Row* TopAggregator::RowFor(TopKey&& key, uint64_t now_ns) {
  if (auto it = rows_.find(key); it != rows_.end()) return &it->second;
  const auto make = [this](TopKey&& k) {
    Row row;
    row.key = k;
    row.seconds.resize(limits_.window_s + 1);
    return &rows_.emplace(std::move(k), std::move(row)).first->second;
  };
  // Overflow rows are kept beyond max_rows (one per kind): the bound is max_rows + 3.
  size_t ordinary = rows_.size();
  for (const auto& [k, row] : rows_)
    if (k.service == kOverflow && k.name == kOverflow) --ordinary;
  if (ordinary < limits_.max_rows) return make(std::move(key));
  // Full: replace the least recently updated row if it has been idle for a whole window.
  auto idle = rows_.end();
  for (auto it = rows_.begin(); it != rows_.end(); ++it) {
    if (it->first.service == kOverflow && it->first.name == kOverflow) continue;
    if (idle == rows_.end() || it->second.last_ns < idle->second.last_ns) idle = it;
  }
  if (idle != rows_.end() && idle->second.last_ns + uint64_t(limits_.window_s) * kSecondNs < now_ns) {
    rows_.erase(idle);
    stats_.rows_replaced++;
    return make(std::move(key));
  }
  stats_.overflowed++;
  TopKey other{key.kind, protocols::Role::kUnknown, std::string(kOverflow), std::string(kOverflow), {}};
  if (auto it = rows_.find(other); it != rows_.end()) return &it->second;
  return make(std::move(other));
}

void TopAggregator::Add(TopKey key, uint64_t end_ns, uint64_t duration_ns, bool error,
                        std::string error_name) {
  stats_.records++;
  Row& row = *RowFor(std::move(key), end_ns);
  row.total++;
  row.last_ns = std::max(row.last_ns, end_ns);
  if (error) row.total_errors++, row.last_error = std::move(error_name);
  const uint64_t index = end_ns / kSecondNs;
  Second& s = row.seconds[index % row.seconds.size()];
  if (s.index != index) {
    if (s.index != UINT64_MAX && s.index > index) return;  // older than the window: in the totals only
    s.index = index;
    s.count = s.errors = 0;
    s.latencies.clear();
  }
  s.count++;
  if (error) s.errors++;
  if (s.latencies.size() < limits_.samples_per_second) {
    s.latencies.push_back(duration_ns);
    return;
  }
  // Reservoir (algorithm R): each of the second's latencies is kept with the same probability.
  stats_.samples_thinned++;
  const uint64_t j = std::uniform_int_distribution<uint64_t>(0, s.count - 1)(random_);
  if (j < s.latencies.size()) s.latencies[j] = duration_ns;
}

std::vector<TopRow> TopAggregator::Rows(uint64_t now_ns) const {
  // The window: the last window_s complete seconds, or since start when that is less (the first seconds).
  const uint64_t now_s = now_ns / kSecondNs, end = now_s * kSecondNs;
  const uint64_t begin =
      std::max(start_ns_, now_s >= limits_.window_s ? (now_s - limits_.window_s) * kSecondNs : 0);
  const uint64_t from = begin / kSecondNs;
  const double span = end > begin ? double(end - begin) / 1e9 : 0.0;
  std::vector<TopRow> out;
  out.reserve(rows_.size());
  std::vector<uint64_t> latencies;
  for (const auto& [key, row] : rows_) {
    TopRow r;
    r.key = key;
    r.total = row.total;
    r.total_errors = row.total_errors;
    r.last_error = row.last_error;
    latencies.clear();
    for (const Second& s : row.seconds) {
      if (s.index == UINT64_MAX || s.index < from || s.index >= now_s) continue;
      r.window_count += s.count;
      r.window_errors += s.errors;
      latencies.insert(latencies.end(), s.latencies.begin(), s.latencies.end());
      if (s.latencies.size() < s.count) r.approximate = true;
    }
    if (span > 0) r.rate = double(r.window_count) / span;
    if (r.window_count) r.error_ratio = double(r.window_errors) / double(r.window_count);
    r.p50_ns = Percentile(latencies, 0.50);
    r.p99_ns = Percentile(latencies, 0.99);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace l7tap::agent
