#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/hold_watchdog.h"
#include "agent/log.h"
#include "agent/preflight.h"
#include "agent/symbols_command.h"
#include "agent/top_command.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "symbols")
    return l7tap::agent::RunSymbolsCommand(std::vector<std::string>(argv + 2, argv + argc));
  if (argc > 1 && std::string_view(argv[1]) == "check")
    return l7tap::agent::RunCheckCommand(std::vector<std::string>(argv + 2, argv + argc), std::cout,
                                         std::cerr);
  if (argc > 1 && std::string_view(argv[1]) == "top") return l7tap::agent::RunTopCommand(argc - 1, argv + 1);
  if (argc > 1 && std::string_view(argv[1]) == "__hold-watchdog")
    return l7tap::agent::RunHoldWatchdog(std::vector<std::string>(argv + 2, argv + argc));
  auto config = l7tap::agent::ParseArgs(argc, argv);
  if (!config) {
    l7tap::agent::Log(l7tap::agent::LogLevel::kError, config.error());
    return 2;
  }
  if (config->help) {
    std::fputs(l7tap::agent::HelpText().c_str(), stdout);
    return 0;
  }
  l7tap::agent::SetLog(config->log_level, config->log_format);
  return l7tap::agent::RunAgent(*config);
}
