#include "agent/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace l7tap::agent {
namespace {

std::atomic<LogLevel> g_threshold{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};
std::mutex g_write;  // the event and discovery threads both log: whole lines only

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

std::string Rfc3339(int64_t unix_ns) {
  const time_t seconds = time_t(unix_ns / 1'000'000'000);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof(text) - n, ".%03dZ", int(unix_ns / 1'000'000 % 1000));
  return text;
}

}  // namespace

void SetLog(LogLevel threshold, LogFormat format) {
  g_threshold.store(threshold);
  g_format.store(format);
}

bool LogEnabled(LogLevel level) { return level >= g_threshold.load(std::memory_order_relaxed); }

std::string FormatLogLine(LogLevel level, LogFormat format, std::string_view message, int64_t unix_ns) {
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  if (format == LogFormat::kText) return "l7tap: " + std::string(message) + "\n";
  // Invalid UTF-8 (a path's bytes) is replaced, never a reason to lose the line.
  nlohmann::json line = {{"time", Rfc3339(unix_ns)}, {"level", LevelName(level)}, {"msg", message}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string line = FormatLogLine(level, g_format.load(), message, now);
  std::lock_guard lock(g_write);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void VLogf(LogLevel level, const char* fmt, va_list args) {
  if (!LogEnabled(level)) return;
  char small[512];
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(small, sizeof(small), fmt, copy);
  va_end(copy);
  if (n < 0) return;
  if (size_t(n) < sizeof(small)) return Log(level, std::string_view(small, size_t(n)));
  std::string big(size_t(n) + 1, '\0');
  std::vsnprintf(big.data(), big.size(), fmt, args);
  big.resize(size_t(n));
  Log(level, big);
}

void Logf(LogLevel level, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  VLogf(level, fmt, args);
  va_end(args);
}

}  // namespace l7tap::agent
