#include "agent/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace l7tap::agent {
namespace {

constexpr int64_t kWhen = 1'764'624'600'123'000'000;  // 2025-12-01T21:30:00.123Z

TEST(LogTest, TextIsOneLinePrefixed) {
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, LogFormat::kText, "attached 4 uprobes\n", kWhen),
            "l7tap: attached 4 uprobes\n");
}

TEST(LogTest, JsonIsOneObjectPerLine) {
  const std::string line =
      FormatLogLine(LogLevel::kWarn, LogFormat::kJson, "TLS: \"a\\b\" (pid 7)\nsecond\n", kWhen);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // an inner newline is escaped, never a second line
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["time"], "2025-12-01T21:30:00.123Z");
  EXPECT_EQ(parsed["level"], "warn");
  EXPECT_EQ(parsed["msg"], "TLS: \"a\\b\" (pid 7)\nsecond");
}

TEST(LogTest, InvalidUtf8IsReplacedNotDropped) {
  const auto parsed =
      nlohmann::json::parse(FormatLogLine(LogLevel::kError, LogFormat::kJson, "path /tmp/\xff\xfe", kWhen));
  EXPECT_EQ(parsed["level"], "error");
  EXPECT_EQ(parsed["msg"].get<std::string>().rfind("path /tmp/", 0), 0u);
}

TEST(LogTest, LevelsBelowTheThresholdAreOff) {
  SetLog(LogLevel::kWarn, LogFormat::kText);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarn));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLog(LogLevel::kInfo, LogFormat::kText);
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
}

}  // namespace
}  // namespace l7tap::agent
