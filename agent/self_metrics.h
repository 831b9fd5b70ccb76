#pragma once
// The agent's own metrics (prefix l7tap_): what the kernel counted, what the event loop and the connection
// tracker counted, so that nothing is lost silently. Assembled at scrape time.
#include <atomic>
#include <cstdint>
#include <vector>

#include "agent/capture_probes.h"
#include "agent/connection_tracker.h"
#include "agent/sample.h"

namespace l7tap::agent {

// Counted by the event loop, read by the metrics thread.
struct EventCounts {
  std::atomic<uint64_t> open{0}, data{0}, close{0}, exit{0}, exec{0}, malformed{0};
  std::atomic<uint64_t> bytes_observed{0}, bytes_copied{0}, transactions{0}, dns_transactions{0};
  std::atomic<uint64_t> open_connections{0};
  // Keys mode: secrets received, by source.
  std::atomic<uint64_t> secrets_openssl{0}, secrets_openssl_object{0}, secrets_go{0}, secrets_keylog_file{0};
};

// `probes` is null until the probes are attached; then only l7tap_ready 0 is reported.
// `more`: samples other parts keep (TLS discovery, tables, series budget).
std::vector<Sample> SelfSamples(const CaptureProbes* probes, const EventCounts& events,
                                const TrackerStats& tracker, std::vector<Sample> more);

}  // namespace l7tap::agent
