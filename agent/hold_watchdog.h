#pragma once
// The hold watchdog: a small process of its own (this executable run as `l7tap __hold-watchdog`) that resumes
// every process the probes hold once it has been held for the deadline, and all of them when the agent is
// gone (its pipe closes however the agent ends, SIGKILL included). Holding is safe only while it runs.
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

class HoldWatchdog {
 public:
  // `held_fd`, `ack_fd`: the probes' held and proc_ack maps.
  static Result<HoldWatchdog> Start(int held_fd, int ack_fd, uint32_t deadline_ms);
  HoldWatchdog(HoldWatchdog&& o) noexcept
      : pid_(o.pid_), last_pid_(o.last_pid_), pipe_(o.pipe_), resumed_(std::move(o.resumed_)) {
    o.pid_ = -1, o.pipe_ = -1;
  }
  HoldWatchdog& operator=(HoldWatchdog&&) = delete;
  // Closes the pipe (the watchdog resumes whatever is held and exits) and reaps it.
  ~HoldWatchdog();
  pid_t pid() const { return pid_ > 0 ? pid_ : last_pid_; }
  // False once the watchdog has exited (reaped here, with its status in `why`).
  bool Alive(std::string* why);
  // Processes the watchdog resumed at the deadline, counted by it in memory it shares with the agent: seen
  // at once, however busy the agent is, and kept after the watchdog is gone.
  std::shared_ptr<const std::atomic<uint64_t>> resumed_at_deadline() const { return resumed_; }

 private:
  HoldWatchdog(pid_t pid, int pipe, std::shared_ptr<std::atomic<uint64_t>> resumed)
      : pid_(pid), pipe_(pipe), resumed_(std::move(resumed)) {}
  pid_t pid_;
  pid_t last_pid_ = -1;
  int pipe_;  // write end: closed when the agent ends
  std::shared_ptr<std::atomic<uint64_t>> resumed_;
};

// `l7tap __hold-watchdog HELD_FD ACK_FD PIPE_FD COUNT_FD DEADLINE_MS`: the watchdog's loop (COUNT_FD: a memfd
// holding the count of deadline resumes). Returns its exit code.
int RunHoldWatchdog(const std::vector<std::string>& args);

}  // namespace l7tap::agent
