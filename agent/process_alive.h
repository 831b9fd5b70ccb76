#pragma once
// Whether a process still runs: the one check the sweeps share (ESRCH means gone; EPERM means it runs
// under another user, which only happens without root).
#include <signal.h>

#include <cerrno>
#include <cstdint>

namespace l7tap::agent {

inline bool ProcessAlive(uint32_t tgid) { return kill(pid_t(tgid), 0) == 0 || errno == EPERM; }

}  // namespace l7tap::agent
