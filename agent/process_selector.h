#pragma once
// Writes the selection verdicts of processes (probes/state.bpf.h proc_verdicts, L7TAP_SEL_*) that user space
// decides: the --pid values, every process running at start (its executable, container, place in a
// --pid-tree), and each process again at exec (its new executable). The kernel carries verdicts over forks
// and drops them at exits; this sweeps those of processes gone unseen.
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

#include "agent/selection_rules.h"
#include "agent/table_stats.h"
#include "common/result.h"

namespace l7tap::agent {

struct CgroupRef {
  uint64_t id = 0;     // the cgroup v2 id: the directory's inode number
  uint32_t level = 0;  // depth below the hierarchy's root (the root is 0)
};

// The cgroup v2 directory at `path`, seen from this mount namespace (its root must be the hierarchy's: run in
// the host cgroup namespace). An error says why it is not one.
Result<CgroupRef> ResolveCgroup(const std::string& path);

// Without any process rule it does nothing (the table is still reported).
class ProcessSelector {
 public:
  ProcessSelector(SelectionRules rules, int verdicts_fd, TableRegistry& tables);

  // Every process in /proc (twice: a child forked during the first pass from a parent not yet decided is
  // caught by the second). Returns how many processes got a verdict.
  size_t ScanAll();
  // A process called exec: the exec-time rules are decided again for its new executable (what --pid and
  // --pid-tree gave it stays). Whether it may be traced now (false: TLS discovery can pass it by). `now_ns`:
  // when (MonotonicNs); until the kernel sees the decision the process was traced (L7TAP_SEL_PENDING).
  bool OnExec(uint32_t tgid, uint64_t now_ns);
  // Whether an event of tgid from ts_ns was traced only while its exec was undecided, of a process then
  // found not traced: the agent drops it (the ring brings a process's exec before its later events).
  bool Drops(uint32_t tgid, uint64_t ts_ns) const {
    if (untraced_at_.empty()) return false;
    auto it = untraced_at_.find(tgid);
    return it != untraced_at_.end() && ts_ns < it->second;
  }
  // Forgets verdicts of processes gone, counts the table (kernel_refused: L7TAP_CNT_VERDICT_TABLE_FULL).
  void Sweep(uint64_t kernel_refused);

 private:
  uint8_t Lookup(uint32_t tgid) const;
  void Store(uint32_t tgid, uint8_t bits);
  bool MayTrace(uint8_t bits) const;

  SelectionRules rules_;
  int fd_;
  TableStats& table_;
  // Processes found not traced at exec -> when; for a short while (events in the ring are younger), bounded.
  static constexpr size_t kMaxUntraced = 4096;
  static constexpr uint64_t kUntracedKeepNs = 5'000'000'000;
  std::unordered_map<uint32_t, uint64_t> untraced_at_;
  std::deque<std::pair<uint32_t, uint64_t>> untraced_order_;
  TableStats& untraced_table_;
  uint64_t refused_seen_ = 0;
};

}  // namespace l7tap::agent
