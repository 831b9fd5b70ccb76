#pragma once
// Where the agent's transactions go besides /metrics: --print's lines, or `l7tap top`'s aggregator. Called on
// the event thread, in the order transactions complete.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agent/connection_tracker.h"
#include "agent/sample.h"

namespace l7tap::agent {

struct SinkContext {
  // http.route of a request target, as /metrics labels it (--route patterns, then templating; before the
  // per-service budget).
  std::function<std::string(std::string_view target)> route;
  // The agent's self-metrics (loss and drop counters included), as /metrics serves them. Costly: call it at
  // most about once a second.
  SampleSource self_metrics;
};

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Once, when probes are attached and events flow (before any record or tick).
  virtual void Start(const SinkContext& context) { (void)context; }
  virtual void OnTransaction(const TransactionRecord& r) = 0;
  virtual void OnDns(const DnsRecord& r) = 0;
  // After every batch of events (every --event-batch-ms, at least every 200 ms). Returns false to stop the
  // agent (it then detaches and returns 0, as on SIGTERM).
  virtual bool Tick(uint64_t now_ns) {
    (void)now_ns;
    return true;
  }
};

}  // namespace l7tap::agent
