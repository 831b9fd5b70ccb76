#pragma once
// Whether a process still runs: the one check the sweeps share (ESRCH means gone; EPERM means it runs
// under another user, which only happens without root).
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace l7tap::agent {

// False when the agent runs in a PID namespace whose numbers differ from the host pids the probes report
// (--allow-pid-namespace): a check would call every process gone, so every process counts as running and
// only exit events and idle timeouts end what it had. Set once at start.
inline std::atomic<bool> g_process_checks{true};

inline bool ProcessAlive(uint32_t tgid) {
  if (!g_process_checks.load(std::memory_order_relaxed)) return true;
  return kill(pid_t(tgid), 0) == 0 || errno == EPERM;
}

}  // namespace l7tap::agent
