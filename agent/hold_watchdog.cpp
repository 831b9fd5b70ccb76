#include "agent/hold_watchdog.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "agent/monotonic_clock.h"
#include "agent/process_holds.h"

namespace l7tap::agent {
namespace {

constexpr int kHeldFd = 3, kAckFd = 4, kPipeFd = 5, kCountFd = 6;  // in the watchdog
constexpr int kTickMs = 10;                                        // deadline resolution

static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared between processes");

std::atomic<uint64_t>* MapCounter(int fd) {
  void* p = mmap(nullptr, sizeof(std::atomic<uint64_t>), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<std::atomic<uint64_t>*>(p);
}

}  // namespace

Result<HoldWatchdog> HoldWatchdog::Start(int held_fd, int ack_fd, uint32_t deadline_ms) {
  const int count_fd = memfd_create("l7tap-hold-resumes", MFD_CLOEXEC);
  std::atomic<uint64_t>* count = nullptr;
  if (count_fd < 0 || ftruncate(count_fd, sizeof(*count)) != 0 || !(count = MapCounter(count_fd))) {
    const int err = errno;
    if (count_fd >= 0) close(count_fd);
    return Error{std::string("hold watchdog: shared counter failed (") + std::strerror(err) + ")"};
  }
  std::shared_ptr<std::atomic<uint64_t>> resumed(count,
                                                 [](std::atomic<uint64_t>* c) { munmap(c, sizeof(*c)); });
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    const int err = errno;
    close(count_fd);
    return Error{std::string("hold watchdog: pipe failed (") + std::strerror(err) + ")"};
  }
  const std::string deadline = std::to_string(deadline_ms);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]), close(fds[1]), close(count_fd);
    return Error{std::string("hold watchdog: fork failed (") + std::strerror(err) + ")"};
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec: the agent has threads.
    const int held = fcntl(held_fd, F_DUPFD, 64), ack = fcntl(ack_fd, F_DUPFD, 64),
              rd = fcntl(fds[0], F_DUPFD, 64), cnt = fcntl(count_fd, F_DUPFD, 64);
    if (held < 0 || ack < 0 || rd < 0 || cnt < 0 || dup2(held, kHeldFd) < 0 || dup2(ack, kAckFd) < 0 ||
        dup2(rd, kPipeFd) < 0 || dup2(cnt, kCountFd) < 0)
      _exit(127);
    syscall(SYS_close_range, 7u, ~0u, 0u);  // nothing else of the agent's (its /metrics socket) stays open
    const char* argv[] = {"l7tap", "__hold-watchdog", "3", "4", "5", "6", deadline.c_str(), nullptr};
    execv("/proc/self/exe", const_cast<char* const*>(argv));
    _exit(127);
  }
  close(fds[0]);
  close(count_fd);  // the mapping stays
  return HoldWatchdog(pid, fds[1], std::move(resumed));
}

HoldWatchdog::~HoldWatchdog() {
  if (pipe_ >= 0) close(pipe_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

bool HoldWatchdog::Alive(std::string* why) {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
  last_pid_ = pid_;
  pid_ = -1;
  if (why)
    *why = WIFSIGNALED(status) ? std::string("killed by signal ") + std::to_string(WTERMSIG(status))
                               : "exited with status " + std::to_string(WEXITSTATUS(status));
  return false;
}

int RunHoldWatchdog(const std::vector<std::string>& args) {
  int held = -1, ack = -1, pipe = -1, count_fd = -1;
  uint64_t deadline_ms = 0;
  auto num = [](const std::string& s, auto& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  if (args.size() != 5 || !num(args[0], held) || !num(args[1], ack) || !num(args[2], pipe) ||
      !num(args[3], count_fd) || !num(args[4], deadline_ms))
    return 2;
  std::atomic<uint64_t>* resumed = MapCounter(count_fd);
  if (!resumed) return 2;
  // The agent's terminal or service manager signals reach this process too: it ends when the agent does,
  // after resuming what is held.
  prctl(PR_SET_NAME, "l7tap-watchdog");
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  const uint64_t deadline_ns = deadline_ms * 1'000'000;
  for (;;) {
    pollfd p = {pipe, POLLIN, 0};
    const int r = poll(&p, 1, kTickMs);
    if (r > 0) {
      char c;
      if (read(pipe, &c, 1) <= 0) break;  // the agent is gone
    }
    const uint64_t now = MonotonicNs();
    resumed->fetch_add(ResumeHeld(held, ack, now > deadline_ns ? now - deadline_ns : 0),
                       std::memory_order_relaxed);
  }
  while (ResumeHeld(held, ack, UINT64_MAX) > 0) {
  }
  return 0;
}

}  // namespace l7tap::agent
