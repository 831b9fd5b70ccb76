#pragma once
#include "agent/config.h"

namespace l7tap::agent {

// Loads the probes, serves /metrics and processes events until SIGINT/SIGTERM. Returns the exit code.
int RunAgent(const Config& config);

}  // namespace l7tap::agent
