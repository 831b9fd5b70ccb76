#pragma once
// What /healthz and /debug say, from numbers the agent hands over: pure functions, the endpoint serves
// their text. /debug shows state and counts only: no payloads, no request targets.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/sample.h"
#include "agent/table_stats.h"
#include "agent/tls_discovery.h"

namespace l7tap::agent {

// The event loop must have polled the ring buffer this recently for /healthz to say ok.
constexpr uint64_t kHealthyPollAgeNs = 5'000'000'000;

struct HealthInput {
  bool ready = false;            // probes loaded, the event loop started
  size_t programs_attached = 0;  // syscall and process programs linked to their hooks
  uint64_t last_poll_ns = 0;     // when the event loop last polled the ring buffer (monotonic)
  uint64_t now_ns = 0;
};

struct Health {
  bool ok = false;
  std::string text;  // "ok", or one line saying why not
};

Health CheckHealth(const HealthInput& in);

struct DebugInfo {
  uint64_t uptime_ns = 0;
  bool ready = false;
  std::string backend;  // syscall probe backend
  size_t programs_attached = 0, tls_probes_attached = 0;
  std::string listen;  // what the endpoint is bound to
  bool tls = false, basic_auth = false;
  uint64_t connections = 0;  // followed by the connection tracker
  size_t processes = 0;      // using files with TLS uprobes
  std::vector<TracedFileInfo> files;
  const TableRegistry* tables = nullptr;
  std::vector<Sample> samples;  // the self-metrics: the loss counters are picked from them
};

std::string RenderDebug(const DebugInfo& d);

}  // namespace l7tap::agent
