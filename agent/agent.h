#pragma once
#include "agent/config.h"
#include "agent/record_sink.h"

namespace l7tap::agent {

// Loads the probes, serves /metrics (unless config.listen is empty) and processes events until SIGINT/SIGTERM
// or the sink's Tick says stop. Transactions go to `sink`, else, with config.print, to stdout. Returns the
// exit code.
int RunAgent(const Config& config, RecordSink* sink = nullptr);

}  // namespace l7tap::agent
