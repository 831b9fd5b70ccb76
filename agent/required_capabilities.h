#pragma once
// The capabilities the agent needs, in one place: the start-up checks (agent/preflight.cpp), `l7tap check`
// and `l7tap check --capabilities` (which the systemd unit, the Kubernetes manifests and the tests compare
// against) all read this list. Each entry says what fails without it; tests/e2e/test_least_privilege.py drops
// each in turn and shows that failure.
#include <array>

#include "agent/config.h"

namespace l7tap::agent {

// When a capability is needed: always, or only for a feature that is on by default.
enum class CapabilityNeed {
  kAlways,
  kTlsProbes,  // --tls-probes on: reading other processes' binaries and libraries
  kHolding,    // --tls-probes on and --hold-new-processes on: resuming held processes
};

struct RequiredCapability {
  const char* name;     // as in capabilities(7), e.g. "CAP_BPF"
  int number;           // linux/capability.h
  int also_granted_by;  // a broader capability the kernel accepts instead (CAP_SYS_ADMIN), or -1
  CapabilityNeed need;
  const char* why;  // what fails without it
};

inline constexpr int kCapSysAdmin = 21;

inline constexpr std::array<RequiredCapability, 6> kRequiredCapabilities = {{
    {"CAP_BPF", 39, kCapSysAdmin, CapabilityNeed::kAlways,
     "needed to create BPF maps and load BPF programs (bpf() refuses with EPERM)"},
    {"CAP_PERFMON", 38, kCapSysAdmin, CapabilityNeed::kAlways,
     "needed to load tracing BPF programs and attach uprobes and tracepoints (perf_event_open refuses)"},
    {"CAP_DAC_READ_SEARCH", 2, -1, CapabilityNeed::kAlways,
     "needed to read tracefs (/sys/kernel/tracing is root's, mode 0700), other users' binaries and "
     "libraries through /proc/PID/root, and to reopen overlay files by handle (open_by_handle_at)"},
    {"CAP_SYS_PTRACE", 19, -1, CapabilityNeed::kTlsProbes,
     "needed to read /proc/PID/exe, /proc/PID/maps and /proc/PID/root of other users' processes, where "
     "the TLS libraries and Go binaries to attach to are found"},
    {"CAP_CHECKPOINT_RESTORE", 40, kCapSysAdmin, CapabilityNeed::kTlsProbes,
     "needed to open /proc/PID/map_files entries: a TLS library deleted on disk (upgraded under a running "
     "process) is attached to through them"},
    {"CAP_KILL", 5, -1, CapabilityNeed::kHolding,
     "needed to resume (SIGCONT) other users' processes that --hold-new-processes stopped until their TLS "
     "probes were attached"},
}};

inline bool CapabilityNeeded(const RequiredCapability& c, const Config& config) {
  switch (c.need) {
    case CapabilityNeed::kAlways:
      return true;
    case CapabilityNeed::kTlsProbes:
      return config.tls_probes;
    case CapabilityNeed::kHolding:
      return config.tls_probes && config.hold_new_processes;
  }
  return true;
}

}  // namespace l7tap::agent
