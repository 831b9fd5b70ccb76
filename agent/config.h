#pragma once
// Command-line configuration of the agent.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/log.h"
#include "agent/selection_rules.h"
#include "common/result.h"

namespace l7tap::agent {

enum class SyscallBackendChoice { kAuto, kTracepoint, kKprobe, kOff };
// Where uprobes go: the cheapest equivalent instruction (optimized), or the functions' own entries (entry; Go
// functions: just past their stack check, which correctness needs).
enum class ProbePlacement { kOptimized, kEntry };
// How HTTPS is read: secrets captured once per handshake and the ciphertext decrypted in the agent (keys),
// the TLS libraries' plaintext at every read and write (plaintext), or keys wherever a file has a key-log
// hook and plaintext elsewhere (auto).
enum class TlsCapture { kAuto, kKeys, kPlaintext };
const char* TlsCaptureName(TlsCapture c);
// --print's lines: for people (text) or programs (JSON, one object per line).
enum class PrintFormat { kText, kJson };

struct Config {
  // The HTTP endpoint: ":9464" (every address, IPv6 and IPv4), ADDR:PORT, [ADDR]:PORT or unix:/PATH.
  std::string listen = ":9464";
  std::string web_config;   // exporter-toolkit web configuration (TLS, basic auth, headers); empty: none
  bool listen_set = false;  // --listen given (flag, variable or file): `l7tap top` serves /metrics only then
  bool print = false;
  PrintFormat print_format = PrintFormat::kText;  // --format
  bool print_full_target = false;                 // --print-full-target: query strings too
  bool verbose = false;
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  SyscallBackendChoice syscall_probes = SyscallBackendChoice::kAuto;
  uint32_t max_payload_bytes = 4096;
  SelectionRules selection;         // --pid, --pid-tree, --exe, --container-id, --cgroup, --port, --exclude-*
  uint32_t ringbuf_kib = 8 << 10;   // --ringbuf-mib / --ringbuf-kib
  uint32_t event_batch_ms = 10;     // events reach the agent in batches this old at most; 0: one wake-up each
  std::string symbol_table;         // address table for stripped binaries (build-id -> function offsets)
  std::vector<uint16_t> dns_ports;  // DNS over UDP and TCP on these ports; empty: 53
  uint32_t dns_timeout_ms = 5000;   // a query unanswered this long is counted unanswered
  bool dns_name_label = false;      // question names as a label (capped per process, then "other")
  ProbePlacement probe_placement = ProbePlacement::kOptimized;
  bool tls_probes = true;  // attach to TLS libraries and Go binaries
  TlsCapture tls_capture = TlsCapture::kAuto;
  std::vector<std::string> tls_keylog_files;  // NSS key-log files (SSLKEYLOGFILE) read as they grow
  uint32_t tls_record_bytes = 16384;          // keys mode: bytes copied per record past a call's first event
  // A process running or mapping a file not yet inspected is stopped at its first TLS bytes until the agent
  // has attached to it, for at most hold_deadline_ms (a watchdog process resumes it if the agent cannot).
  bool hold_new_processes = true;
  uint32_t hold_deadline_ms = 1000;
  // Bounds (the bounded-state policy: every table has a capacity, an expiry where idleness makes sense).
  uint32_t max_connections = 65536;       // followed at once (kernel and agent)
  uint32_t conn_idle_timeout_s = 600;     // a connection without events this long is dropped
  std::vector<std::string> routes;        // --route patterns, first match wins
  uint32_t max_routes_per_service = 100;  // then http_route="/_other"
  uint32_t max_values_per_service = 100;  // server_address, dns_question_name: then "_other"
  uint32_t max_series = 20000;            // histogram series in all
  uint32_t series_ttl_s = 600;            // a series not updated this long leaves /metrics
  uint32_t max_traced_binaries = 1024;    // files with TLS uprobes; then the least recently run is detached
  // Histogram bucket bounds in seconds (agent/bucket_spec.h): for every transaction histogram, and per metric
  // name (wins over `buckets`). Empty: the OpenTelemetry defaults.
  std::vector<double> buckets;
  std::map<std::string, std::vector<double>> metric_buckets;
  // Run even outside the host PID namespace (degraded: see PidNamespaceDegraded); otherwise a start-up error.
  bool allow_pid_namespace = false;
  // Check capabilities and kernel features at start (agent/preflight.h); off: fail where first used.
  bool preflight = true;
  bool help = false;
};

Result<Config> ParseArgs(int argc, char** argv);
std::string HelpText();
const char* BackendChoiceName(SyscallBackendChoice c);

}  // namespace l7tap::agent
