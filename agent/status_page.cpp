#include "agent/status_page.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "probes/events.h"

namespace l7tap::agent {
namespace {

// The self-metrics that count what was lost or refused, by reason.
constexpr std::string_view kLossCounters[] = {
    "l7tap_events_lost_total",           "l7tap_messages_lost_total",
    "l7tap_http_requests_lost_total",    "l7tap_http2_frame_walks_lost_total",
    "l7tap_tls_record_walks_lost_total", "l7tap_stream_gaps_total",
    "l7tap_connections_untracked_total", "l7tap_tls_connections_untraced_total",
    "l7tap_series_dropped_total",        "l7tap_process_holds_refused_total",
    "l7tap_attach_errors_total",
};

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", v);
  return buf;
}

std::string Duration(uint64_t ns) {
  const uint64_t s = ns / 1'000'000'000;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%llud %02lluh %02llum %02llus", (unsigned long long)(s / 86400),
                (unsigned long long)(s / 3600 % 24), (unsigned long long)(s / 60 % 60),
                (unsigned long long)(s % 60));
  return buf;
}

}  // namespace

Health CheckHealth(const HealthInput& in) {
  if (!in.ready) return {false, "not ready: the probes are not loaded yet"};
  if (in.programs_attached == 0) return {false, "not ready: no probe program is attached"};
  const uint64_t age = in.now_ns > in.last_poll_ns ? in.now_ns - in.last_poll_ns : 0;
  if (age > kHealthyPollAgeNs)
    return {false, "stalled: the event loop has not read the ring buffer for " +
                       std::to_string(age / 1'000'000'000) + " s"};
  return {true, "ok"};
}

std::string RenderDebug(const DebugInfo& d) {
  std::string out = "l7tap\n";
  utsname u{};
  uname(&u);
  out += "  contract version  " + std::to_string(L7TAP_CONTRACT_VERSION) + "\n";
  out += "  kernel            " + std::string(u.release) + "\n";
  out += "  uptime            " + Duration(d.uptime_ns) + "\n";
  out += "  ready             " + std::string(d.ready ? "yes" : "no") + "\n";
  out += "  syscall backend   " + (d.backend.empty() ? std::string("-") : d.backend) + "\n";
  out += "  programs attached " + std::to_string(d.programs_attached) + "\n";
  out += "  TLS uprobes       " + std::to_string(d.tls_probes_attached) + "\n";
  out += "  listening on      " + d.listen + (d.tls ? " (TLS)" : "") + (d.basic_auth ? " (basic auth)" : "") +
         "\n";
  out += "  connections       " + std::to_string(d.connections) + " followed\n";
  out += "  processes         " + std::to_string(d.processes) + " using traced TLS files\n";

  out += "\ntraced files (" + std::to_string(d.files.size()) + ")\n";
  for (const TracedFileInfo& f : d.files)
    out += "  " + f.path + "  kind=" + f.kind + " mode=" + f.capture + " library=\"" + f.library +
           "\" version=" + f.version + "\n";

  out += "\ntables (entries/capacity, evictions by reason)\n";
  if (d.tables) {
    d.tables->ForEach([&out](const TableStats& t) {
      out += "  " + t.name() + "  " + std::to_string(t.entries()) + "/" + std::to_string(t.capacity());
      for (Eviction e : t.reasons())
        out += std::string(" ") + EvictionName(e) + "=" + std::to_string(t.evicted(e));
      out += "\n";
    });
  }

  out += "\nloss by reason\n";
  for (std::string_view name : kLossCounters) {
    for (const Sample& s : d.samples) {
      if (s.name != name) continue;
      std::string labels;
      for (const auto& [k, v] : s.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
      out += "  " + s.name + (labels.empty() ? "" : "{" + labels + "}") + " " + Number(s.value) + "\n";
    }
  }
  return out;
}

}  // namespace l7tap::agent
