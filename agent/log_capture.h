#pragma once
// `l7tap top` owns the terminal: what the agent logs to stderr (and libbpf, and child processes) is taken
// from a pipe by a thread of its own (so a burst of log lines at start never blocks the agent), the last
// line shown on screen, and the last kKeep lines written to the real stderr when top ends.
#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace l7tap::agent {

class LogCapture {
 public:
  static constexpr size_t kKeep = 50;       // lines kept for the end (older ones are counted)
  static constexpr size_t kMaxLine = 1024;  // bytes per line kept

  LogCapture() = default;
  ~LogCapture();  // Stop()
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Redirects fd 2 into the pipe.
  Result<Ok> Start();
  // Puts the real stderr back and writes the lines kept to it (with how many were dropped before them).
  void Stop();
  std::string last_line() const;

 private:
  void Read();
  void Take(std::string_view bytes);  // under mutex_

  int saved_stderr_ = -1, read_fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::deque<std::string> lines_;
  std::string partial_;
  size_t dropped_ = 0;
};

}  // namespace l7tap::agent
