#pragma once
// The agent's side of holding new processes (probes/holds.bpf.h): clears processes once every file they run
// and map has been inspected, teaches the kernel which files are known, and resumes held processes. Used by
// the discovery thread; Samples() by the metrics thread.
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "agent/latency_histogram.h"
#include "agent/sample.h"
#include "agent/table_stats.h"
#include "probes/events.h"

namespace l7tap::agent {

struct KernelFileKey {
  uint64_t dev = 0;  // kernel encoding: MAJOR << 20 | MINOR
  uint64_t ino = 0;
  auto operator<=>(const KernelFileKey&) const = default;
};
// From stat()'s st_dev (user-space encoding) and st_ino.
KernelFileKey KernelKeyFromStat(dev_t st_dev, ino_t st_ino);
// From a /proc/PID/maps line ("addr perms offset MAJ:MIN inode path"): nullopt for anonymous mappings.
std::optional<KernelFileKey> KernelKeyFromMapsLine(std::string_view line);

// Resumes (SIGCONT) the processes in the probes' held map stopped before `cutoff_ns` (UINT64_MAX: all), at
// most 256 per call; with `ack_fd` (proc_ack) >= 0 it marks them cleared first, so they are not held again.
// Whoever deletes an entry resumes its process. Returns how many it resumed. Async-signal-safe calls only
// (the watchdog).
size_t ResumeHeld(int held_fd, int ack_fd, uint64_t cutoff_ns);

struct HoldMaps {
  int known_files = -1, proc_files = -1, proc_ack = -1, held = -1;
};

class ProcessHolds {
 public:
  ProcessHolds(HoldMaps maps, TableRegistry& tables, size_t max_known = L7TAP_MAX_KNOWN_FILES);

  // Before a process is scanned: its seq and the files the probes recorded (nullopt: nothing to clear).
  struct Pending {
    uint64_t seq = 0;
    std::vector<KernelFileKey> recorded;
  };
  std::optional<Pending> Begin(uint32_t tgid) const;
  // After the scan: what the process runs and maps is inspected. `mapped`: the files seen in its maps.
  void Clear(uint32_t tgid, const Pending& before, const std::vector<KernelFileKey>& mapped);
  // A file the agent inspected (or stopped tracing: Forget).
  void Learn(const KernelFileKey& key);
  void Forget(const KernelFileKey& key);
  // Resumes a held process (SIGCONT). `held_since_ns`: when the probes stopped it. False when it was no
  // longer held (the watchdog resumed it at the deadline, or it exited), or when SIGCONT was refused.
  bool Release(uint32_t tgid, uint64_t held_since_ns, uint64_t now_ns);
  // Called (on the discovery thread) the first time SIGCONT is refused (`err`: errno): without the right to
  // resume other users' processes, holding would leave them stopped.
  void OnResumeRefused(std::function<void(uint32_t tgid, int err)> f) { on_refused_ = std::move(f); }
  // Resumes every held process (at exit, or when the watchdog is gone).
  size_t ReleaseAll();
  // Forgets acks of processes gone (the probes remove them at exit; an ack written after that stays). On the
  // thread that clears processes.
  void Sweep();
  // The kernel tables' fill, and the inserts they refused (`proc_table_full`: L7TAP_CNT_PROC_TABLE_FULL so
  // far). Any thread.
  void CountTables(uint64_t proc_table_full);
  // Held processes that ended while held (L7TAP_CNT_HOLD_EXITED so far). Any thread.
  void CountExited(uint64_t exited) { exited_.store(exited, std::memory_order_relaxed); }
  // The watchdog's own count of the processes it resumed at the deadline (HoldWatchdog).
  void CountDeadlinesWith(std::shared_ptr<const std::atomic<uint64_t>> resumed) {
    deadline_ = std::move(resumed);
  }

  std::vector<Sample> Samples() const;

 private:
  HoldMaps maps_;
  size_t max_known_;
  std::deque<KernelFileKey> known_order_;  // oldest first: leaves known_files first when it is full
  std::set<KernelFileKey> known_;
  std::set<uint32_t> acked_;  // processes with a proc_ack entry written by the agent
  TableStats& known_table_;
  TableStats& procs_table_;
  TableStats& held_table_;
  uint64_t proc_table_full_seen_ = 0;
  LatencyHistogram hold_duration_;
  std::atomic<uint64_t> released_{0}, released_at_exit_{0}, exited_{0}, refused_{0};
  std::function<void(uint32_t, int)> on_refused_;
  std::shared_ptr<const std::atomic<uint64_t>> deadline_;  // set before the metrics thread reads it
};

}  // namespace l7tap::agent
