#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/hold_watchdog.h"
#include "agent/symbols_command.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "symbols")
    return l7tap::agent::RunSymbolsCommand(std::vector<std::string>(argv + 2, argv + argc));
  if (argc > 1 && std::string_view(argv[1]) == "__hold-watchdog")
    return l7tap::agent::RunHoldWatchdog(std::vector<std::string>(argv + 2, argv + argc));
  auto config = l7tap::agent::ParseArgs(argc, argv);
  if (!config) {
    std::fprintf(stderr, "l7tap: %s\n", config.error().c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(l7tap::agent::HelpText().c_str(), stdout);
    return 0;
  }
  return l7tap::agent::RunAgent(*config);
}
