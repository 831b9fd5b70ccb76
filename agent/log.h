#pragma once
// The agent's log: one line per event on stderr, as text ("l7tap: message") or JSON
// ({"time":..., "level":..., "msg":...}), below a level (--log-level, --log-format).
#include <cstdarg>
#include <string>
#include <string_view>

namespace l7tap::agent {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

void SetLog(LogLevel threshold, LogFormat format);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view message);
// printf-style, for the many lines that format numbers and names.
[[gnu::format(printf, 2, 3)]] void Logf(LogLevel level, const char* fmt, ...);
void VLogf(LogLevel level, const char* fmt, va_list args);

// The line Log writes, for tests.
std::string FormatLogLine(LogLevel level, LogFormat format, std::string_view message, int64_t unix_ns);

}  // namespace l7tap::agent
