#pragma once
// Keeps the kernel's tables true to the node. They are plain hash maps (probes/state.bpf.h): a full one
// refuses inserts instead of evicting live entries, so something must remove the entries whose end the
// probes never saw. Each pass removes entries of processes that are gone, connections idle past the timeout,
// and mutes and TLS sessions whose connection is gone, and reports every table's fill and removals.
#include <cstdint>
#include <unordered_set>

#include "agent/capture_probes.h"
#include "agent/event_decoder.h"
#include "agent/table_stats.h"

namespace l7tap::agent {

class KernelSweeper {
 public:
  KernelSweeper(CaptureProbes& probes, TableRegistry& tables, uint64_t idle_timeout_ns);
  // One pass over conns, muted, ssl_fds and go_calls. `now_ns`: CLOCK_MONOTONIC, the probes' clock.
  void Sweep(uint64_t now_ns);
  // The agent dropped a connection for `why` (idle, process gone): its kernel record goes too, counted.
  void Forget(const ConnId& id, Eviction why);
  // The agent stopped parsing a connection (not its protocol): mute it in the kernel, or count the refusal.
  void Mute(const ConnId& id, bool tls);

 private:
  bool Alive(uint32_t tgid);

  CaptureProbes& probes_;
  uint64_t idle_timeout_ns_;
  TableStats& conns_;
  TableStats& muted_;
  TableStats& ssl_fds_;
  TableStats& go_calls_;
  TableStats& go_slots_;
  TableStats& detach_queue_;  // uprobe links waiting for the detaching thread
  size_t detached_inline_seen_ = 0;
  KernelCounters refused_seen_{};  // kernel refusal counters already added to the tables
  // Per pass: processes found alive or gone.
  std::unordered_set<uint32_t> alive_, gone_;
};

}  // namespace l7tap::agent
