#include "agent/config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include "probes/events.h"

namespace l7tap::agent {
namespace {

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Whole numbers with a range, the flags' most common kind.
struct NumberFlag {
  std::string_view name;
  uint32_t Config::*field;
  uint32_t min, max;
  std::string_view unit;  // for the message: "seconds", ""
};

const NumberFlag kNumberFlags[] = {
    {"--max-connections", &Config::max_connections, 16, 1 << 20, ""},
    {"--conn-idle-timeout", &Config::conn_idle_timeout_s, 1, 86400 * 7, "seconds"},
    {"--max-routes-per-service", &Config::max_routes_per_service, 1, 100000, ""},
    {"--max-values-per-service", &Config::max_values_per_service, 1, 100000, ""},
    {"--max-series", &Config::max_series, 100, 10'000'000, ""},
    {"--series-ttl", &Config::series_ttl_s, 1, 86400 * 7, "seconds"},
    {"--max-traced-binaries", &Config::max_traced_binaries, 1, 100000, ""},
    {"--tls-record-bytes", &Config::tls_record_bytes, 5, L7TAP_MAX_PAYLOAD, "bytes"},
    {"--hold-deadline-ms", &Config::hold_deadline_ms, 10, 60000, "milliseconds"},
};

}  // namespace

const char* TlsCaptureName(TlsCapture c) {
  switch (c) {
    case TlsCapture::kAuto:
      return "auto";
    case TlsCapture::kKeys:
      return "keys";
    case TlsCapture::kPlaintext:
      return "plaintext";
  }
  return "?";
}

const char* BackendChoiceName(SyscallBackendChoice c) {
  switch (c) {
    case SyscallBackendChoice::kAuto:
      return "auto";
    case SyscallBackendChoice::kTracepoint:
      return "tracepoint";
    case SyscallBackendChoice::kKprobe:
      return "kprobe";
    case SyscallBackendChoice::kOff:
      return "off";
  }
  return "?";
}

std::string HelpText() {
  return R"(usage: l7tap [flags]
       l7tap symbols PATH [--table] [--symbol-table FILE]   (what l7tap finds in a binary)

Traces HTTP/1, HTTPS (OpenSSL, Go crypto/tls) and DNS traffic of every process on this node from the kernel
(eBPF) and serves request and lookup latencies as Prometheus histograms. Needs root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF.

flags:
  --listen ADDR:PORT        where /metrics is served (default 0.0.0.0:9464)
  --print                   print one line per transaction to stdout
  --syscall-probes MODE     auto | tracepoint | kprobe (default auto: kprobe where the kernel
                            supports kprobes, else syscall tracepoints; off: none, to measure
                            what the TLS uprobes cost alone: OpenSSL records nothing then)
  --tls-probes on|off       uprobes on TLS libraries and Go binaries (default on)
  --tls-capture MODE        auto | keys | plaintext (default auto). keys: one uprobe per file
                            on the library's key-log function captures each handshake's
                            secrets, and the agent decrypts the ciphertext the syscall probes
                            see (no uprobe per request; memory-BIO TLS such as Node.js and
                            Python asyncio included). plaintext: uprobes on SSL_read/SSL_write
                            and Go's (*tls.Conn).Read/Write. auto: keys wherever a file's
                            key-log hook is found, plaintext elsewhere
  --tls-keylog FILE         NSS key-log file (SSLKEYLOGFILE, node --tls-keylog) read as it
                            grows: secrets of libraries without a hook (repeatable)
  --tls-record-bytes N      keys mode: bytes copied of each TLS record past a call's first
                            event, 5..16384 (default 16384: whole records, HTTP/2 frames stay
                            found; less saves copying large HTTP/1 bodies)
  --hold-new-processes on|off  stop a process that runs or maps a file l7tap has not inspected
                            yet at its first TLS bytes, until its TLS probes are attached (default
                            on): a fresh static binary's first HTTPS request is then traced. A
                            process is held at most --hold-deadline-ms; a watchdog process
                            resumes it if the agent is slow, stopped or killed
  --hold-deadline-ms N      the longest a process is held, 10..60000 (default 1000)
  --max-payload-bytes N     bytes copied per syscall event, 64..16384 (default 4096); larger
                            bodies are counted by length, not copied
  --pid PID                 trace only this process (repeatable; default: every process)
  --ringbuf-mib N           kernel->agent ring buffer size in MiB, power of two (default 8)
  --ringbuf-kib N           the same in KiB, power of two from 4 (for tests: a tiny ring loses events)
  --event-batch-ms N        the agent reads kernel events every N ms, 0..1000 (default 10), and is
                            woken early only when an eighth of the ring buffer is full; 0: woken
                            for every event (events seen sooner, each probe hit costs more)
  --symbol-table FILE       function offsets of stripped binaries, keyed by ELF build-id (lines
                            'BUILD-ID FUNCTION 0xOFFSET', as printed by 'l7tap symbols --table')
  --dns-ports PORT          DNS is UDP and TCP to or from this port (repeatable; default 53); other
                            UDP is never copied
  --dns-timeout SECONDS     a DNS query unanswered this long counts as unanswered (default 5)
  --dns-name-label          add the question name as a label of dns_lookup_duration_seconds (at
                            most --max-values-per-service names per service; the rest "_other")
  --probe-placement MODE    optimized | entry (default optimized: uprobes on instructions the
                            kernel emulates where disassembly proves it equivalent)

bounds (every table has a capacity; what it refuses or evicts is counted in
l7tap_table_evictions_total{table,reason}):
  --max-connections N       connections followed at once, 16..1048576 (default 65536); more are
                            refused and counted
  --conn-idle-timeout SECONDS  a connection without traffic this long is dropped (default 600);
                            its next bytes start it again, from its next message
  --route PATTERN           http_route template, e.g. /users/{name}/orders or /static/* ({x}: one
                            path segment, *: the rest; repeatable, first match wins); other paths
                            have numbers, hex ids, UUIDs, tokens, e-mails and dates templated
  --max-routes-per-service N  distinct http_route values per service (default 100); later ones
                            are recorded as "/_other" and logged once
  --max-values-per-service N  distinct server_address and dns_question_name values per service
                            (default 100); later ones are "_other"
  --max-series N            histogram series in all (default 20000); past it a metric's
                            observations go to its overflow series (labels "_overflow"),
                            counted in l7tap_series_dropped_total{metric}
  --series-ttl SECONDS      a series not updated this long leaves /metrics (default 600)
  --max-traced-binaries N   files (libraries, executables) with TLS uprobes (default 1024);
                            past it the least recently run one is detached
  --allow-pid-namespace     run even when not in the host PID namespace (by default l7tap
                            stops with one line: run it with hostPID: true, --pid=host or as a
                            systemd service); what is degraded is logged at start
  --verbose                 log libbpf diagnostics
  --help                    this text
)";
}

Result<Config> ParseArgs(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_inline_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    auto need_value = [&](std::string_view flag) -> Result<std::string_view> {
      if (has_inline_value) return value;
      if (i + 1 >= argc) return Error{std::string(flag) + " needs a value (see --help)"};
      return std::string_view(argv[++i]);
    };
    if (auto flag = std::find_if(std::begin(kNumberFlags), std::end(kNumberFlags),
                                 [&](const NumberFlag& f) { return f.name == arg; });
        flag != std::end(kNumberFlags)) {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      uint32_t n = 0;
      if (!ParseNumber(*v, n) || n < flag->min || n > flag->max)
        return Error{std::string(arg) + " " + std::string(*v) + ": expected " +
                     (flag->unit.empty() ? "a number" : std::string(flag->unit)) + " from " +
                     std::to_string(flag->min) + " to " + std::to_string(flag->max)};
      c.*(flag->field) = n;
    } else if (arg == "--help" || arg == "-h") {
      c.help = true;
    } else if (arg == "--print") {
      c.print = true;
    } else if (arg == "--verbose") {
      c.verbose = true;
    } else if (arg == "--allow-pid-namespace") {
      c.allow_pid_namespace = true;
    } else if (arg == "--listen") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (v->find(':') == std::string_view::npos)
        return Error{"--listen " + std::string(*v) + ": expected ADDR:PORT, e.g. 127.0.0.1:9464"};
      c.listen = std::string(*v);
    } else if (arg == "--syscall-probes") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (*v == "auto")
        c.syscall_probes = SyscallBackendChoice::kAuto;
      else if (*v == "tracepoint")
        c.syscall_probes = SyscallBackendChoice::kTracepoint;
      else if (*v == "kprobe")
        c.syscall_probes = SyscallBackendChoice::kKprobe;
      else if (*v == "off")
        c.syscall_probes = SyscallBackendChoice::kOff;
      else
        return Error{"--syscall-probes " + std::string(*v) + ": expected auto, tracepoint, kprobe or off"};
    } else if (arg == "--tls-probes") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (*v != "on" && *v != "off") return Error{"--tls-probes " + std::string(*v) + ": expected on or off"};
      c.tls_probes = *v == "on";
    } else if (arg == "--hold-new-processes") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (*v != "on" && *v != "off")
        return Error{"--hold-new-processes " + std::string(*v) + ": expected on or off"};
      c.hold_new_processes = *v == "on";
    } else if (arg == "--tls-capture") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (*v == "auto")
        c.tls_capture = TlsCapture::kAuto;
      else if (*v == "keys")
        c.tls_capture = TlsCapture::kKeys;
      else if (*v == "plaintext")
        c.tls_capture = TlsCapture::kPlaintext;
      else
        return Error{"--tls-capture " + std::string(*v) + ": expected auto, keys or plaintext"};
    } else if (arg == "--tls-keylog") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      c.tls_keylog_files.emplace_back(*v);
    } else if (arg == "--max-payload-bytes") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (!ParseNumber(*v, c.max_payload_bytes) || c.max_payload_bytes < 64 ||
          c.max_payload_bytes > L7TAP_MAX_PAYLOAD)
        return Error{"--max-payload-bytes " + std::string(*v) + ": expected a number from 64 to " +
                     std::to_string(L7TAP_MAX_PAYLOAD)};
    } else if (arg == "--pid") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      uint32_t pid = 0;
      if (!ParseNumber(*v, pid) || pid == 0)
        return Error{"--pid " + std::string(*v) + ": expected a process id"};
      c.pids.push_back(pid);
    } else if (arg == "--symbol-table") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      c.symbol_table = std::string(*v);
    } else if (arg == "--dns-ports") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      uint32_t port = 0;
      if (!ParseNumber(*v, port) || port == 0 || port > 65535)
        return Error{"--dns-ports " + std::string(*v) + ": expected a port from 1 to 65535"};
      if (c.dns_ports.size() == L7TAP_MAX_DNS_PORTS)
        return Error{"--dns-ports: at most " + std::to_string(L7TAP_MAX_DNS_PORTS) + " ports"};
      c.dns_ports.push_back(uint16_t(port));
    } else if (arg == "--dns-timeout") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      double seconds = 0;
      std::string text(*v);
      char* end = nullptr;
      seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(seconds >= 0.001 && seconds <= 3600))
        return Error{"--dns-timeout " + text + ": expected seconds from 0.001 to 3600"};
      c.dns_timeout_ms = uint32_t(seconds * 1000 + 0.5);
    } else if (arg == "--probe-placement") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (*v == "optimized")
        c.probe_placement = ProbePlacement::kOptimized;
      else if (*v == "entry")
        c.probe_placement = ProbePlacement::kEntry;
      else
        return Error{"--probe-placement " + std::string(*v) + ": expected optimized or entry"};
    } else if (arg == "--dns-name-label") {
      c.dns_name_label = true;
    } else if (arg == "--ringbuf-mib" || arg == "--ringbuf-kib") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      const bool mib = arg == "--ringbuf-mib";
      uint32_t n = 0;
      const uint32_t min = mib ? 1 : 4, max = mib ? 1024 : 1024 << 10;
      if (!ParseNumber(*v, n) || n < min || n > max || (n & (n - 1)) != 0)
        return Error{std::string(arg) + " " + std::string(*v) + ": expected a power of two from " +
                     std::to_string(min) + " to " + std::to_string(max)};
      c.ringbuf_kib = mib ? n << 10 : n;
    } else if (arg == "--route") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      c.routes.emplace_back(*v);
    } else if (arg == "--event-batch-ms") {
      auto v = need_value(arg);
      if (!v) return Error{v.error()};
      if (!ParseNumber(*v, c.event_batch_ms) || c.event_batch_ms > 1000)
        return Error{"--event-batch-ms " + std::string(*v) + ": expected milliseconds from 0 to 1000"};
    } else {
      return Error{"unknown flag " + std::string(argv[i]) + " (see --help)"};
    }
  }
  return c;
}

}  // namespace l7tap::agent
