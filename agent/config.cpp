#include "agent/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string_view>

#include "agent/bucket_spec.h"
#include "agent/config_file.h"
#include "agent/listen_address.h"
#include "probes/events.h"

namespace l7tap::agent {
namespace {

// Values that are converted after parsing (enums, units, two spellings of one setting).
struct RawValues {
  std::string syscall_probes = "auto";
  std::string tls_probes = "on";
  std::string tls_capture = "auto";
  std::string hold_new_processes = "on";
  std::string preflight = "on";
  std::string probe_placement = "optimized";
  uint32_t ringbuf_mib = 8;
  uint32_t ringbuf_kib = 0;
  double dns_timeout_s = 5;
  std::string config_file;
  std::string log_level = "info";
  std::string log_format = "text";
  std::vector<std::string> buckets;  // --buckets LIST / METRIC=LIST, each given
  std::string print_format = "text";
};

// Every flag F can also be set by the environment variable L7TAP_F (upper case, '-' as '_') and by the key F
// in the --config file.
std::string EnvName(std::string_view flag) {
  std::string name = "L7TAP_";
  for (char ch : flag.substr(2)) name += ch == '-' ? '_' : char(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

const CLI::Validator kPowerOfTwo(
    [](std::string& s) -> std::string {
      unsigned long n = std::strtoul(s.c_str(), nullptr, 10);
      return n != 0 && (n & (n - 1)) == 0 ? "" : "expected a power of two, got " + s;
    },
    "POWER-OF-TWO");

// ParseListenAddress's message without its "--listen " (CLI11 puts the flag's name first).
const CLI::Validator kListenAddress(
    [](std::string& s) -> std::string {
      auto a = ParseListenAddress(s);
      if (a) return "";
      std::string why = a.error();
      if (why.starts_with("--listen ")) why.erase(0, 9);
      return why;
    },
    "ADDR:PORT");

// The descriptions say the allowed values already.
CLI::Validator Quiet(CLI::Validator v) {
  v.description("");
  return v;
}

// What is traced (README "What is traced"): process selectors (OR), exclusions (win), ports (on top).
void AddSelectionFlags(CLI::App& app, SelectionRules& r) {
  const std::string group = "Selection";
  auto pids = [&](const char* name, std::vector<uint32_t>& into, const char* what) {
    app.add_option(name, into, what)
        ->type_name("PID")
        ->delimiter(',')
        ->check(Quiet(CLI::Range(1u, 1u << 22)))
        ->group(group);
  };
  auto ports = [&](const char* name, std::vector<uint16_t>& into, const char* what) {
    app.add_option(name, into, what)
        ->type_name("PORT")
        ->delimiter(',')
        ->check(Quiet(CLI::Range(1, 65535)))
        ->group(group);
  };
  auto texts = [&](const char* name, std::vector<std::string>& into, const char* type, const char* what) {
    app.add_option(name, into, what)->type_name(type)->group(group);
  };
  pids("--pid", r.pids,
       "trace this process. Every selection flag is repeatable; a process is\n"
       "traced when no process selector (--pid, --pid-tree, --exe,\n"
       "--container-id, --cgroup) is given or one selects it, and no\n"
       "--exclude-* flag matches it; --port then filters its connections");
  pids("--pid-tree", r.pid_trees, "trace this process and its descendants, those forked later too");
  texts("--exe", r.exes, "GLOB",
        "trace processes whose executable (/proc/PID/exe) matches: a glob\n"
        "with a '/' matches the whole path, one without the file name\n"
        "(nginx, python3*)");
  texts("--container-id", r.container_ids, "ID",
        "trace the processes of this container (its id or a prefix of it, as\n"
        "docker ps shows; 4 to 64 hex digits), containers started later too");
  texts("--cgroup", r.cgroups, "PATH", "trace the processes in this cgroup v2 directory or below it");
  ports("--port", r.ports, "follow only connections whose local or peer port is PORT");
  pids("--exclude-pid", r.exclude_pids, "never trace this process (an exclusion wins over any selector)");
  texts("--exclude-exe", r.exclude_exes, "GLOB", "never trace processes whose executable matches (as --exe)");
  texts("--exclude-container-id", r.exclude_container_ids, "ID",
        "never trace the processes of this container");
  texts("--exclude-cgroup", r.exclude_cgroups, "PATH",
        "never trace the processes in this cgroup or below it");
  ports("--exclude-port", r.exclude_ports, "never follow connections whose local or peer port is PORT");
}

// The flags, in the order --help lists them. Each option is also an environment variable and a config key.
void AddFlags(CLI::App& app, Config& c, RawValues& raw) {
  app.set_config();  // CLI11's own config files stay off: --config below is YAML
  app.add_option("--config", raw.config_file,
                 "YAML file of settings: flag names without -- as keys (see README\n\"Configuration\")")
      ->type_name("FILE")
      ->configurable(false);
  app.add_option("--listen", c.listen,
                 "where /metrics, /healthz and /debug are served (default :9464: every\n"
                 "address, IPv6 and IPv4); also 127.0.0.1:9464, [::1]:9464 or a unix\n"
                 "socket, unix:/run/l7tap/metrics.sock (mode 0660)")
      ->type_name("ADDR:PORT")
      ->check(Quiet(kListenAddress));
  app.add_option("--web-config", c.web_config,
                 "TLS, client certificates, basic auth and response headers of the\n"
                 "endpoint, in Prometheus exporter-toolkit's web-config format (as\n"
                 "node_exporter's --web.config.file)")
      ->type_name("FILE");
  app.add_flag("--print", c.print,
               "print one line per transaction to stdout (paths only: query\n"
               "strings are shown as \"?…\")");
  app.add_option("--format", raw.print_format,
                 "text | json (default text): --print's lines; json: one object per\n"
                 "transaction (fields in README)")
      ->type_name("FORMAT")
      ->check(Quiet(CLI::IsMember({"text", "json"})));
  app.add_flag("--print-full-target", c.print_full_target,
               "--print shows query strings too (they may carry tokens and keys)");
  app.add_option("--syscall-probes", raw.syscall_probes,
                 "auto | tracepoint | kprobe | off (default auto: kprobe where the\n"
                 "kernel supports kprobes, else syscall tracepoints; off: none, to\n"
                 "measure what the TLS uprobes cost alone: OpenSSL records nothing then)")
      ->type_name("MODE")
      ->check(Quiet(CLI::IsMember({"auto", "tracepoint", "kprobe", "off"})));
  app.add_option("--tls-probes", raw.tls_probes, "uprobes on TLS libraries and Go binaries (default on)")
      ->type_name("on|off")
      ->check(Quiet(CLI::IsMember({"on", "off"})));
  app.add_option("--tls-capture", raw.tls_capture,
                 "auto | keys | plaintext (default auto). keys: one uprobe per file on\n"
                 "the library's key-log function captures each handshake's secrets,\n"
                 "and the agent decrypts the ciphertext the syscall probes see (no\n"
                 "uprobe per request; memory-BIO TLS such as Node.js and Python\n"
                 "asyncio included). plaintext: uprobes on SSL_read/SSL_write and Go's\n"
                 "(*tls.Conn).Read/Write. auto: keys wherever a file's key-log hook\n"
                 "is found, plaintext elsewhere")
      ->type_name("MODE")
      ->check(Quiet(CLI::IsMember({"auto", "keys", "plaintext"})));
  app.add_option("--tls-keylog", c.tls_keylog_files,
                 "NSS key-log file (SSLKEYLOGFILE, node --tls-keylog) read as it grows:\n"
                 "secrets of libraries without a hook (repeatable)")
      ->type_name("FILE");
  app.add_option("--tls-record-bytes", c.tls_record_bytes,
                 "keys mode: bytes copied of each TLS record past a call's first event,\n"
                 "5..16384 (default 16384: whole records, HTTP/2 frames stay found;\n"
                 "less saves copying large HTTP/1 bodies)")
      ->type_name("N")
      ->check(Quiet(CLI::Range(5u, uint32_t(L7TAP_MAX_PAYLOAD))));
  app.add_option("--hold-new-processes", raw.hold_new_processes,
                 "stop a process that runs or maps a file l7tap has not inspected yet\n"
                 "at its first TLS bytes, until its TLS probes are attached (default\n"
                 "on): a fresh static binary's first HTTPS request is then traced. A\n"
                 "process is held at most --hold-deadline-ms; a watchdog process\n"
                 "resumes it if the agent is slow, stopped or killed")
      ->type_name("on|off")
      ->check(Quiet(CLI::IsMember({"on", "off"})));
  app.add_option("--hold-deadline-ms", c.hold_deadline_ms,
                 "the longest a process is held, 10..60000 (default 1000)")
      ->type_name("N")
      ->check(Quiet(CLI::Range(10u, 60000u)));
  app.add_option("--max-payload-bytes", c.max_payload_bytes,
                 "bytes copied per syscall event, 64..16384 (default 4096); larger\n"
                 "bodies are counted by length, not copied")
      ->type_name("N")
      ->check(Quiet(CLI::Range(64u, uint32_t(L7TAP_MAX_PAYLOAD))));
  AddSelectionFlags(app, c.selection);
  app.add_option("--ringbuf-mib", raw.ringbuf_mib,
                 "kernel->agent ring buffer size in MiB, power of two (default 8)")
      ->type_name("N")
      ->check(Quiet(CLI::Range(1u, 1024u) & kPowerOfTwo));
  app.add_option("--ringbuf-kib", raw.ringbuf_kib,
                 "the same in KiB, power of two from 4 (for tests: a tiny ring loses\nevents)")
      ->type_name("N")
      ->check(Quiet(CLI::Range(4u, 1024u << 10) & kPowerOfTwo));
  app.add_option("--event-batch-ms", c.event_batch_ms,
                 "the agent reads kernel events every N ms, 0..1000 (default 10), and is\n"
                 "woken early only when an eighth of the ring buffer is full; 0: woken\n"
                 "for every event (events seen sooner, each probe hit costs more)")
      ->type_name("N")
      ->check(Quiet(CLI::Range(0u, 1000u)));
  app.add_option("--symbol-table", c.symbol_table,
                 "function offsets of stripped binaries, keyed by ELF build-id (lines\n"
                 "'BUILD-ID FUNCTION 0xOFFSET', as printed by 'l7tap symbols --table')")
      ->type_name("FILE");
  app.add_option("--dns-ports", c.dns_ports,
                 "DNS is UDP and TCP to or from this port (repeatable; default 53); other\n"
                 "UDP is never copied")
      ->type_name("PORT")
      ->delimiter(',')
      ->check(Quiet(CLI::Range(1, 65535)));
  app.add_option("--dns-timeout", raw.dns_timeout_s,
                 "a DNS query unanswered this long counts as unanswered (default 5)")
      ->type_name("SECONDS")
      ->check(Quiet(CLI::Range(0.001, 3600.0)));
  app.add_flag("--dns-name-label", c.dns_name_label,
               "add the question name as a label of dns_lookup_duration_seconds (at\n"
               "most --max-values-per-service names per service; the rest \"_other\")");
  app.add_option("--probe-placement", raw.probe_placement,
                 "optimized | entry (default optimized: uprobes on instructions the\n"
                 "kernel emulates where disassembly proves it equivalent)")
      ->type_name("MODE")
      ->check(Quiet(CLI::IsMember({"optimized", "entry"})));

  // Bounds: every table has a capacity; what it refuses or evicts is counted in
  // l7tap_table_evictions_total{table,reason}.
  const std::string bounds = "Bounds";
  app.add_option("--max-connections", c.max_connections,
                 "connections followed at once, 16..1048576 (default 65536); more are\nrefused and counted")
      ->type_name("N")
      ->check(Quiet(CLI::Range(16u, 1u << 20)))
      ->group(bounds);
  app.add_option("--conn-idle-timeout", c.conn_idle_timeout_s,
                 "a connection without traffic this long is dropped (default 600); its\n"
                 "next bytes start it again, from its next message")
      ->type_name("SECONDS")
      ->check(Quiet(CLI::Range(1u, 86400u * 7)))
      ->group(bounds);
  app.add_option("--route", c.routes,
                 "http_route template, e.g. /users/{name}/orders or /static/* ({x}: one\n"
                 "path segment, *: the rest; repeatable, first match wins); other paths\n"
                 "have numbers, hex ids, UUIDs, tokens, e-mails and dates templated")
      ->type_name("PATTERN")
      ->group(bounds);
  app.add_option("--max-routes-per-service", c.max_routes_per_service,
                 "distinct http_route values per service (default 100); later ones are\n"
                 "recorded as \"/_other\" and logged once")
      ->type_name("N")
      ->check(Quiet(CLI::Range(1u, 100000u)))
      ->group(bounds);
  app.add_option("--max-values-per-service", c.max_values_per_service,
                 "distinct server_address and dns_question_name values per service\n"
                 "(default 100); later ones are \"_other\"")
      ->type_name("N")
      ->check(Quiet(CLI::Range(1u, 100000u)))
      ->group(bounds);
  app.add_option("--max-series", c.max_series,
                 "histogram series in all (default 20000); past it a metric's\n"
                 "observations go to its overflow series (labels \"_overflow\"),\n"
                 "counted in l7tap_series_dropped_total{metric}")
      ->type_name("N")
      ->check(Quiet(CLI::Range(100u, 10'000'000u)))
      ->group(bounds);
  app.add_option("--series-ttl", c.series_ttl_s,
                 "a series not updated this long leaves /metrics (default 600)")
      ->type_name("SECONDS")
      ->check(Quiet(CLI::Range(1u, 86400u * 7)))
      ->group(bounds);
  app.add_option("--buckets", raw.buckets,
                 "latency histogram bucket bounds in seconds, comma-separated, e.g.\n"
                 "0.005,0.01,0.05,0.1,0.5,1 (at most 64, increasing; default: the\n"
                 "OpenTelemetry ones, 0.0001 to 10); METRIC=LIST sets one histogram's\n"
                 "(e.g. dns_lookup_duration_seconds=0.001,0.01,0.1; repeatable)")
      ->type_name("LIST|METRIC=LIST")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->group(bounds);
  app.add_option("--max-traced-binaries", c.max_traced_binaries,
                 "files (libraries, executables) with TLS uprobes (default 1024); past\n"
                 "it the least recently run one is detached")
      ->type_name("N")
      ->check(Quiet(CLI::Range(1u, 100000u)))
      ->group(bounds);

  app.add_flag("--allow-pid-namespace", c.allow_pid_namespace,
               "run even when not in the host PID namespace (by default l7tap stops\n"
               "with one line: run it with hostPID: true, --pid=host or as a systemd\n"
               "service); what is degraded is logged at start");
  app.add_option("--log-level", raw.log_level,
                 "debug | info | warn | error (default info): the least severe lines\n"
                 "logged on stderr")
      ->type_name("LEVEL")
      ->check(Quiet(CLI::IsMember({"debug", "info", "warn", "error"})));
  app.add_option("--log-format", raw.log_format,
                 "text | json (default text): json writes one object per line with\n"
                 "time, level and msg")
      ->type_name("FORMAT")
      ->check(Quiet(CLI::IsMember({"text", "json"})));
  app.add_option("--preflight", raw.preflight,
                 "check capabilities and kernel features at start and stop naming what\n"
                 "is missing (default on); off: fail where a missing piece is first used")
      ->type_name("on|off")
      ->check(Quiet(CLI::IsMember({"on", "off"})));
  app.add_flag("--verbose", c.verbose, "log libbpf diagnostics");

  for (const CLI::Option* opt : app.get_options())
    if (opt->get_name() != "--help") const_cast<CLI::Option*>(opt)->envname(EnvName(opt->get_name()));
}

void Describe(CLI::App& app) {
  app.name("l7tap");
  app.description(
      "Traces HTTP/1, HTTP/2, gRPC, HTTPS (OpenSSL, Go crypto/tls) and DNS traffic of every process on this "
      "node\n"
      "from the kernel (eBPF) and serves request and lookup latencies as Prometheus histograms. Needs a "
      "kernel\n"
      "with BTF and root or the capabilities 'l7tap check --capabilities' lists (README: Capabilities).");
  app.footer(
      "Every flag is also an environment variable (--max-connections: L7TAP_MAX_CONNECTIONS; lists of "
      "numbers\n"
      "comma-separated) and a key of the --config file (max-connections: 1000). A flag wins over its\n"
      "variable, the variable over the file, the file over the default.\n\n"
      "subcommands:\n"
      "  l7tap symbols PATH [--table] [--symbol-table FILE]   what l7tap finds in a binary\n"
      "  l7tap check [--capabilities] [flags]                 the privileges and kernel features l7tap "
      "needs\n"
      "  l7tap top [flags]                                    live per-route rates, errors and latencies (q "
      "quits)");
  app.get_formatter()->column_width(30);
  // A flag given twice keeps its last value, as with most tools (scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

// CLI11's messages name the option; say where a bad value came from and where to look.
std::string Explained(const CLI::Error& e, int argc, char** argv) {
  std::string what = e.what();
  for (const char* prefix :
       {"The following arguments were not expected: ", "The following argument was not expected: "})
    if (what.starts_with(prefix)) what = "unknown flag " + what.substr(std::string_view(prefix).size());
  if (auto colon = what.find(':'); what.starts_with("--") && colon != std::string::npos) {
    const std::string flag = what.substr(0, colon);
    bool on_command_line = false;
    for (int i = 1; i < argc; ++i)
      on_command_line |=
          std::string_view(argv[i]) == flag || std::string_view(argv[i]).starts_with(flag + "=");
    if (!on_command_line && std::getenv(EnvName(flag).c_str()) != nullptr)
      what = EnvName(flag) + ": " + what.substr(colon + 2);
  }
  return what + " (see --help)";
}

// Settings of the file that neither a flag nor the environment set.
Result<Ok> ApplyConfigFile(CLI::App& app, const std::string& path) {
  auto entries = ReadConfigFile(path);
  if (!entries) return Error{entries.error()};
  for (const ConfigFileEntry& e : *entries) {
    CLI::Option* opt = app.get_option_no_throw(e.flag);
    if (opt == nullptr || !opt->get_configurable() || opt->get_name() == "--help")
      return Error{"--config " + path + ": unknown key '" + e.key +
                   "' (keys are the flags' names without --, see --help)"};
    if (opt->count() > 0) continue;  // the flag or its environment variable wins
    try {
      if (opt->get_expected_min() == 0) {
        if (e.values.size() != 1)
          return Error{"--config " + path + ": " + e.key + ": expected true or false"};
        opt->add_result(opt->get_flag_value(e.flag, e.values[0]));
      } else {
        opt->add_result(std::vector<std::string>(e.values));
      }
      opt->run_callback();
    } catch (const CLI::Error& err) {
      return Error{"--config " + path + ": " + e.key + ": " + err.what()};
    }
  }
  return Ok{};
}

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
  Config c;
  RawValues raw;
  CLI::App app;
  Describe(app);
  AddFlags(app, c, raw);
  return app.help();
}

Result<Config> ParseArgs(int argc, char** argv) {
  Config c;
  RawValues raw;
  CLI::App app;
  Describe(app);
  AddFlags(app, c, raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    c.help = true;
    return c;
  } catch (const CLI::Error& e) {
    return Error{Explained(e, argc, argv)};
  }
  if (!raw.config_file.empty())
    if (auto applied = ApplyConfigFile(app, raw.config_file); !applied) return Error{applied.error()};

  c.syscall_probes = raw.syscall_probes == "tracepoint" ? SyscallBackendChoice::kTracepoint
                     : raw.syscall_probes == "kprobe"   ? SyscallBackendChoice::kKprobe
                     : raw.syscall_probes == "off"      ? SyscallBackendChoice::kOff
                                                        : SyscallBackendChoice::kAuto;
  c.tls_probes = raw.tls_probes == "on";
  c.hold_new_processes = raw.hold_new_processes == "on";
  c.preflight = raw.preflight == "on";
  c.tls_capture = raw.tls_capture == "keys"        ? TlsCapture::kKeys
                  : raw.tls_capture == "plaintext" ? TlsCapture::kPlaintext
                                                   : TlsCapture::kAuto;
  c.log_level = raw.log_level == "debug"   ? LogLevel::kDebug
                : raw.log_level == "warn"  ? LogLevel::kWarn
                : raw.log_level == "error" ? LogLevel::kError
                                           : LogLevel::kInfo;
  c.log_format = raw.log_format == "json" ? LogFormat::kJson : LogFormat::kText;
  c.probe_placement = raw.probe_placement == "entry" ? ProbePlacement::kEntry : ProbePlacement::kOptimized;
  c.print_format = raw.print_format == "json" ? PrintFormat::kJson : PrintFormat::kText;
  c.listen_set = app.get_option("--listen")->count() > 0;
  c.ringbuf_kib = app.get_option("--ringbuf-kib")->count() > 0 ? raw.ringbuf_kib : raw.ringbuf_mib << 10;
  c.dns_timeout_ms = uint32_t(raw.dns_timeout_s * 1000 + 0.5);
  auto buckets = ParseBucketSpecs(raw.buckets);
  if (!buckets) return Error{buckets.error()};
  c.buckets = std::move(buckets->all);
  c.metric_buckets = std::move(buckets->per_metric);
  if (c.dns_ports.size() > L7TAP_MAX_DNS_PORTS)
    return Error{"--dns-ports: at most " + std::to_string(L7TAP_MAX_DNS_PORTS) + " ports"};
  if (auto ok = ValidateSelection(c.selection); !ok) return Error{ok.error()};
  return c;
}

}  // namespace l7tap::agent
