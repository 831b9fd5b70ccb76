#pragma once
// Command-line configuration of the agent.
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

enum class SyscallBackendChoice { kAuto, kTracepoint, kKprobe, kOff };
// Where uprobes go: the cheapest equivalent instruction (optimized), or the functions' own entries (entry; Go
// functions: just past their stack check, which correctness needs).
enum class ProbePlacement { kOptimized, kEntry };

struct Config {
  std::string listen = "0.0.0.0:9464";
  bool print = false;
  bool verbose = false;
  SyscallBackendChoice syscall_probes = SyscallBackendChoice::kAuto;
  uint32_t max_payload_bytes = 4096;
  std::vector<uint32_t> pids;
  uint32_t ringbuf_mib = 8;
  uint32_t event_batch_ms = 10;     // events reach the agent in batches this old at most; 0: one wake-up each
  std::string symbol_table;         // address table for stripped binaries (build-id -> function offsets)
  std::vector<uint16_t> dns_ports;  // DNS over UDP and TCP on these ports; empty: 53
  uint32_t dns_timeout_ms = 5000;   // a query unanswered this long is counted unanswered
  bool dns_name_label = false;      // question names as a label (capped per process, then "other")
  ProbePlacement probe_placement = ProbePlacement::kOptimized;
  bool tls_probes = true;  // attach to TLS libraries and Go binaries
  bool help = false;
};

Result<Config> ParseArgs(int argc, char** argv);
std::string HelpText();
const char* BackendChoiceName(SyscallBackendChoice c);

}  // namespace l7tap::agent
