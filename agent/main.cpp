#include <cstdio>

#include "agent/agent.h"
#include "agent/config.h"

int main(int argc, char** argv) {
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
