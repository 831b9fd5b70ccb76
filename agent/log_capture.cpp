#include "agent/log_capture.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/log.h"

namespace l7tap::agent {

LogCapture::~LogCapture() { Stop(); }

Result<Ok> LogCapture::Start() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  std::fflush(stderr);
  saved_stderr_ = fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (saved_stderr_ < 0 || dup2(fds[1], 2) < 0) {
    const int e = errno;
    close(fds[0]), close(fds[1]);
    if (saved_stderr_ >= 0) close(saved_stderr_), saved_stderr_ = -1;
    return Error{std::string("redirecting stderr: ") + std::strerror(e)};
  }
  close(fds[1]);  // fd 2 is the write end now (children inherit it, as they would inherit stderr)
  read_fd_ = fds[0];
  reader_ = std::thread([this] { Read(); });
  return Ok{};
}

void LogCapture::Read() {
  char buf[4096];
  for (;;) {
    pollfd p{read_fd_, POLLIN, 0};
    // Wakes every 100 ms to see whether to stop: a child holding the write end would keep EOF away.
    const int n = poll(&p, 1, 100);
    if (n > 0) {
      const ssize_t got = read(read_fd_, buf, sizeof(buf));
      if (got > 0) {
        std::lock_guard lock(mutex_);
        Take(std::string_view(buf, size_t(got)));
        continue;
      }
      if (got == 0) return;
    }
    if (n < 0 && errno != EINTR) return;
    if (stop_.load()) return;
  }
}

void LogCapture::Take(std::string_view bytes) {
  for (const char c : bytes) {
    if (c != '\n') {
      if (partial_.size() < kMaxLine) partial_ += c;
      continue;
    }
    lines_.push_back(std::move(partial_));
    partial_.clear();
    if (lines_.size() > kKeep) lines_.pop_front(), dropped_++;
  }
}

std::string LogCapture::last_line() const {
  std::lock_guard lock(mutex_);
  return lines_.empty() ? std::string() : lines_.back();
}

void LogCapture::Stop() {
  if (saved_stderr_ < 0) return;
  std::fflush(stderr);
  dup2(saved_stderr_, 2);  // closes the pipe's write end held by fd 2
  close(saved_stderr_);
  saved_stderr_ = -1;
  stop_.store(true);
  if (reader_.joinable()) reader_.join();
  // What was written but not read yet.
  fcntl(read_fd_, F_SETFL, O_NONBLOCK);
  char buf[4096];
  ssize_t got;
  std::lock_guard lock(mutex_);
  while ((got = read(read_fd_, buf, sizeof(buf))) > 0) Take(std::string_view(buf, size_t(got)));
  close(read_fd_);
  read_fd_ = -1;
  if (!partial_.empty()) Take("\n");
  if (dropped_) Logf(LogLevel::kInfo, "(%zu earlier log lines not kept)", dropped_);
  for (const std::string& line : lines_) std::fprintf(stderr, "%s\n", line.c_str());
  lines_.clear();
}

}  // namespace l7tap::agent
