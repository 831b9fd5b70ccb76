#pragma once
// Command-line configuration of the agent.
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

enum class SyscallBackendChoice { kAuto, kTracepoint, kKprobe };

struct Config {
  std::string listen = "0.0.0.0:9464";
  bool print = false;
  bool verbose = false;
  SyscallBackendChoice syscall_probes = SyscallBackendChoice::kAuto;
  uint32_t max_payload_bytes = 4096;
  std::vector<uint32_t> pids;
  uint32_t ringbuf_mib = 8;
  std::string symbol_table;  // address table for stripped binaries (build-id -> function offsets)
  bool help = false;
};

Result<Config> ParseArgs(int argc, char** argv);
std::string HelpText();
const char* BackendChoiceName(SyscallBackendChoice c);

}  // namespace l7tap::agent
