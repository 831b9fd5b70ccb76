#pragma once
// Whether the agent runs in the host PID namespace. The probes report process ids as the kernel's initial
// namespace numbers them (bpf_get_current_pid_tgid), and the agent looks those ids up in /proc: both agree
// only in the host PID namespace (a DaemonSet with hostPID, docker/podman --pid=host, a systemd service).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

struct PidView {
  uint32_t getpid = 0;       // the agent's pid in its own namespace
  uint32_t kernel_tgid = 0;  // the same process as the probes see it (host namespace)
  uint32_t proc_self = 0;    // the pid /proc/self names: /proc's namespace numbering
  bool host() const { return getpid == kernel_tgid; }
  // /proc numbers processes as the probes do: /proc/PID lookups of reported pids are right.
  bool proc_matches_kernel() const { return proc_self == kernel_tgid; }
};

// The pids of the "NSpid:" line of /proc/PID/status, outermost namespace (of that /proc mount) first; one
// entry in the namespace the /proc belongs to. Empty when there is no such line.
std::vector<uint32_t> ParseNsPids(std::string_view proc_status);

// Asks the kernel for the caller's tgid (a three-instruction BPF program run once with BPF_PROG_TEST_RUN:
// the pid as the probes will report it) and reads getpid() and /proc/self. Fails where BPF cannot be loaded;
// the caller then falls back to NsPidsSuggestChild.
Result<PidView> ReadPidView();

// Without BPF: true when /proc/self/status shows more than one NSpid entry (a /proc of an outer namespace),
// or the pid namespace is not the initial one (its inode is the kernel's fixed PROC_PID_INIT_INO).
bool NsPidsSuggestChild();

// The one line printed when the agent is not in the host PID namespace, naming the fix.
std::string PidNamespaceError(const PidView& v);
// What --allow-pid-namespace gives up, printed once at start in that mode.
std::string PidNamespaceDegraded(const PidView& v);

}  // namespace l7tap::agent
