#include "agent/top_view.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace l7tap::agent {
namespace {

// Printable ASCII without spaces, so columns stay columns whatever a process sent.
std::string Clean(std::string_view s, size_t width) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += u > 0x20 && u < 0x7f ? c : '?';
  }
  if (out.empty()) out = "-";
  if (out.size() > width) out = out.substr(0, width - 1) + "~";
  return out;
}

std::string Ms(uint64_t ns, bool approximate, bool any) {
  if (!any) return "-";
  char b[32];
  std::snprintf(b, sizeof(b), "%s%.3f", approximate ? "~" : "", double(ns) / 1e6);
  return b;
}

const char* Side(protocols::Role r) {
  return r == protocols::Role::kServer ? "server" : r == protocols::Role::kClient ? "client" : "-";
}

const char* Kind(TopKind k) { return k == TopKind::kGrpc ? "grpc" : k == TopKind::kDns ? "dns" : "http"; }

std::string Fit(std::string line, int width) {
  if (width > 0 && line.size() > size_t(width)) line.resize(size_t(width));
  return line;
}

// The sorted column's header carries a '*'.
std::string Head(const char* name, TopSort column, TopSort sort) {
  return std::string(name) + (column == sort ? "*" : "");
}

auto NameKey(const TopRow& r) {
  return std::tie(r.key.service, r.key.name, r.key.server, r.key.role, r.key.kind);
}

}  // namespace

const char* TopSortName(TopSort s) {
  switch (s) {
    case TopSort::kRate:
      return "rate";
    case TopSort::kErrors:
      return "errors";
    case TopSort::kP99:
      return "p99";
    case TopSort::kName:
      return "name";
    case TopSort::kTotal:
      return "total";
  }
  return "?";
}

std::optional<TopSort> TopSortForKey(int key) {
  switch (key) {
    case 'r':
      return TopSort::kRate;
    case 'e':
      return TopSort::kErrors;
    case 'p':
      return TopSort::kP99;
    case 'n':
      return TopSort::kName;
    case 't':
      return TopSort::kTotal;
  }
  return std::nullopt;
}

void SortTopRows(std::vector<TopRow>& rows, TopSort sort) {
  std::sort(rows.begin(), rows.end(), [sort](const TopRow& a, const TopRow& b) {
    switch (sort) {
      case TopSort::kRate:
        if (a.rate != b.rate) return a.rate > b.rate;
        break;
      case TopSort::kErrors:
        if (a.error_ratio != b.error_ratio) return a.error_ratio > b.error_ratio;
        if (a.window_errors != b.window_errors) return a.window_errors > b.window_errors;
        break;
      case TopSort::kP99:
        if (a.p99_ns != b.p99_ns) return a.p99_ns > b.p99_ns;
        break;
      case TopSort::kTotal:
        if (a.total != b.total) return a.total > b.total;
        break;
      case TopSort::kName:
        break;
    }
    return NameKey(a) < NameKey(b);
  });
}

TopLoss TopLossFrom(const std::vector<Sample>& samples) {
  TopLoss l;
  l.known = true;
  for (const Sample& s : samples) {
    const auto v = uint64_t(s.value);
    if (s.name == "l7tap_events_lost_total") {
      l.events_lost += v;
    } else if (s.name == "l7tap_http_requests_lost_total") {
      l.http_requests_lost += v;
    } else if (s.name == "l7tap_dns_unanswered_total") {
      l.dns_unanswered += v;
    } else if (s.name == "l7tap_connections_untracked_total") {
      l.connections_untracked += v;
    } else if (s.name == "l7tap_table_evictions_total") {
      for (const auto& [k, value] : s.labels)
        if (k == "reason" && value == "full") l.table_refusals += v;
    }
  }
  return l;
}

std::vector<std::string> RenderTop(std::vector<TopRow> rows, const TopViewState& st, int width, int height) {
  std::vector<std::string> lines;
  char b[512];
  std::snprintf(
      b, sizeof(b),
      "l7tap top - %s - window %us - sort: %s - keys: r rate, e errors, p p99, n name, t total, q quit",
      st.tracing ? "tracing" : "starting", st.window_s, TopSortName(st.sort));
  lines.push_back(Fit(b, width));
  if (st.loss.known)
    std::snprintf(
        b, sizeof(b),
        "loss: events lost %llu, HTTP requests lost %llu, DNS unanswered %llu, connections untracked "
        "%llu, table refusals %llu | rows %zu/%zu, overflowed %llu, replaced %llu, latencies thinned %llu",
        (unsigned long long)st.loss.events_lost, (unsigned long long)st.loss.http_requests_lost,
        (unsigned long long)st.loss.dns_unanswered, (unsigned long long)st.loss.connections_untracked,
        (unsigned long long)st.loss.table_refusals, st.rows, st.max_rows,
        (unsigned long long)st.stats.overflowed, (unsigned long long)st.stats.rows_replaced,
        (unsigned long long)st.stats.samples_thinned);
  else
    std::snprintf(b, sizeof(b), "loss: -");
  lines.push_back(Fit(b, width));

  SortTopRows(rows, st.sort);
  std::vector<const TopRow*> http, dns;
  for (const TopRow& r : rows) (r.key.kind == TopKind::kDns ? dns : http).push_back(&r);
  // Lines for rows: what is left after the fixed lines (title, loss, two section and two column headers,
  // a blank, the log line). DNS gets at least a third of them when it has rows.
  const int fixed = 8;
  const size_t room = size_t(std::max(0, height - fixed));
  size_t dns_shown = std::min(dns.size(), std::max(room / 3, room > http.size() ? room - http.size() : 0));
  size_t http_shown = std::min(http.size(), room - dns_shown);
  dns_shown = std::min(dns.size(), room - http_shown);

  const auto figures = [&](const TopRow& r) {
    char f[160];
    std::snprintf(f, sizeof(f), " %9llu %8llu %8.1f %6.1f %10s %10s", (unsigned long long)r.total,
                  (unsigned long long)r.total_errors, r.rate, r.error_ratio * 100,
                  Ms(r.p50_ns, r.approximate, r.window_count > 0).c_str(),
                  Ms(r.p99_ns, r.approximate, r.window_count > 0).c_str());
    return std::string(f);
  };
  const auto figure_heads = [&] {
    char f[160];
    std::snprintf(f, sizeof(f), " %9s %8s %8s %6s %10s %10s", Head("TOTAL", TopSort::kTotal, st.sort).c_str(),
                  "ERRORS", Head("REQ/S", TopSort::kRate, st.sort).c_str(),
                  Head("ERR%", TopSort::kErrors, st.sort).c_str(), "P50ms",
                  Head("P99ms", TopSort::kP99, st.sort).c_str());
    return std::string(f);
  };
  const int figures_width = 58;
  const int http_name = std::clamp(width - 16 - 7 - 5 - figures_width - 2, 12, 80);
  const int dns_server = 16;
  const int dns_name = std::clamp(width - 16 - 7 - (dns_server + 1) - figures_width - 12 - 2, 12, 80);

  std::snprintf(b, sizeof(b), "HTTP/gRPC: %zu rows%s", http.size(),
                http_shown < http.size() ? (" (" + std::to_string(http_shown) + " shown)").c_str() : "");
  lines.push_back(Fit(b, width));
  std::snprintf(b, sizeof(b), "%-15s %-6s %-4s %-*s%s %s", Head("SERVICE", TopSort::kName, st.sort).c_str(),
                "SIDE", "KIND", http_name, "ROUTE", figure_heads().c_str(), "LAST-ERROR");
  lines.push_back(Fit(b, width));
  for (size_t i = 0; i < http_shown; ++i) {
    const TopRow& r = *http[i];
    std::snprintf(b, sizeof(b), "%-15s %-6s %-4s %-*s%s %s", Clean(r.key.service, 15).c_str(),
                  Side(r.key.role), Kind(r.key.kind), http_name, Clean(r.key.name, size_t(http_name)).c_str(),
                  figures(r).c_str(), Clean(r.last_error, 16).c_str());
    lines.push_back(Fit(b, width));
  }
  lines.push_back("");
  std::snprintf(b, sizeof(b), "DNS: %zu rows%s", dns.size(),
                dns_shown < dns.size() ? (" (" + std::to_string(dns_shown) + " shown)").c_str() : "");
  lines.push_back(Fit(b, width));
  std::snprintf(b, sizeof(b), "%-15s %-6s %-*s %-*s%s %s", Head("SERVICE", TopSort::kName, st.sort).c_str(),
                "SIDE", dns_server, "SERVER", dns_name, "QUESTION", figure_heads().c_str(), "LAST-ERROR");
  lines.push_back(Fit(b, width));
  for (size_t i = 0; i < dns_shown; ++i) {
    const TopRow& r = *dns[i];
    std::snprintf(b, sizeof(b), "%-15s %-6s %-*s %-*s%s %s", Clean(r.key.service, 15).c_str(),
                  Side(r.key.role), dns_server, Clean(r.key.server, size_t(dns_server)).c_str(), dns_name,
                  Clean(r.key.name, size_t(dns_name)).c_str(), figures(r).c_str(),
                  Clean(r.last_error, 16).c_str());
    lines.push_back(Fit(b, width));
  }
  std::string log = "log: ";
  for (const char c : st.last_log) log += static_cast<unsigned char>(c) >= 0x20 && c != 0x7f ? c : '?';
  for (char& c : log)
    if (static_cast<unsigned char>(c) >= 0x7f) c = '?';
  lines.push_back(Fit(log, width));
  if (height > 0 && lines.size() > size_t(height)) lines.resize(size_t(height));
  return lines;
}

}  // namespace l7tap::agent
