#include "agent/agent.h"

#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "agent/capture_probes.h"
#include "agent/connection_tracker.h"
#include "agent/container_id.h"
#include "agent/discovery_worker.h"
#include "agent/event_decoder.h"
#include "agent/hold_watchdog.h"
#include "agent/http_endpoint.h"
#include "agent/kernel_sweeper.h"
#include "agent/latency_histogram.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/monotonic_clock.h"
#include "agent/pid_namespace.h"
#include "agent/preflight.h"
#include "agent/print_sink.h"
#include "agent/process_alive.h"
#include "agent/process_holds.h"
#include "agent/process_selector.h"
#include "agent/self_metrics.h"
#include "agent/status_page.h"
#include "agent/table_stats.h"
#include "agent/tls_discovery.h"
#include "agent/tls_keylog_files.h"
#include "agent/tls_untraced.h"
#include "protocols/http_route.h"
#include "protocols/route_patterns.h"
#include "symbolizer/address_table.h"

namespace l7tap::agent {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

constexpr uint64_t kSecond = 1'000'000'000;
// Housekeeping periods: connections and processes every second, kernel tables every 5 s, series, label
// values and detached files every 10 s.
constexpr uint64_t kTrackerSweepNs = kSecond;
constexpr uint64_t kKernelSweepNs = 5 * kSecond;
constexpr uint64_t kSlowSweepNs = 10 * kSecond;

// One descriptor per traced file (TlsDiscovery) on top of the usual: the soft limit may be 1024.
void RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// The kernel's part of the selection rules: cgroup paths resolved to ids (an error names the bad one).
Result<ProbeOptions::Selection> SelectionOptions(const SelectionRules& r) {
  ProbeOptions::Selection s;
  s.filter_processes = r.filters_processes();
  s.select_only = r.selects_processes();
  s.at_exec = r.decides_at_exec();
  for (auto [paths, out] :
       {std::pair{&r.cgroups, &s.cgroups}, std::pair{&r.exclude_cgroups, &s.exclude_cgroups}})
    for (const std::string& path : *paths) {
      auto ref = ResolveCgroup(path);
      if (!ref) return Error{(paths == &r.cgroups ? "--cgroup " : "--exclude-cgroup ") + ref.error()};
      out->emplace_back(ref->id, ref->level);
    }
  s.ports = r.ports;
  s.exclude_ports = r.exclude_ports;
  return s;
}

TrackerLimits LimitsOf(const Config& c) {
  TrackerLimits l;
  l.max_connections = c.max_connections;
  l.idle_timeout_ns = uint64_t(c.conn_idle_timeout_s) * kSecond;
  return l;
}

class Agent {
 public:
  // The endpoint's thread reads the other members at scrape time: it stops first.
  ~Agent() {
    ready_.store(false, std::memory_order_release);
    endpoint_.reset();
    metrics_.reset();
    StopDiscovery();
  }

  explicit Agent(const Config& c, protocols::RoutePatterns routes, RecordSink* sink)
      : config_(c),
        routes_(std::move(routes)),
        tracker_(
            tables_, [this](TransactionRecord&& r) { OnTransaction(r); },
            [this](const ConnId& id, bool tls) { sweeper_->Mute(id, tls); }, LimitsOf(c)),
        own_sink_(!sink && c.print ? std::make_unique<PrintSink>(c) : nullptr),
        sink_(sink ? sink : own_sink_.get()) {}

  int Run() {
    // Host pids from the probes, looked up in /proc: both must number processes alike.
    uint32_t self_tgid = uint32_t(getpid());
    bool proc_shows_host_pids = true;
    if (auto view = ReadPidView(); view && !view->host()) {
      if (!config_.allow_pid_namespace) return Fail(PidNamespaceError(*view));
      Log(LogLevel::kWarn, PidNamespaceDegraded(*view));
      self_tgid = view->kernel_tgid;  // the probes skip the agent by its host pid
      proc_shows_host_pids = view->proc_matches_kernel();
      g_process_checks = proc_shows_host_pids;
    }  // BPF unusable: loading the probes below says why
    RaiseFileLimit();
    if (!config_.symbol_table.empty()) {
      auto table = symbolizer::AddressTable::Load(config_.symbol_table);
      if (!table) return Fail(table.error());
      table_ = std::make_unique<symbolizer::AddressTable>(std::move(*table));
    }
    // `l7tap top` without --listen serves nothing: a node agent may hold the default port.
    const bool serve = !config_.listen.empty();
    EndpointOptions eo;
    if (serve) {
      if (auto listen = ParseListenAddress(config_.listen); listen)
        eo.listen = *listen;
      else
        return Fail(listen.error());
    }
    if (serve && !config_.web_config.empty()) {
      auto web = LoadWebConfig(config_.web_config);
      if (!web) return Fail(web.error());
      for (const std::string& note : web->notes)
        Logf(LogLevel::kInfo, "--web-config %s: %s", config_.web_config.c_str(), note.c_str());
      tls_web_ = web->tls.enabled;
      basic_auth_web_ = !web->users.empty();
      eo.web = std::move(*web);
    }
    MetricsOptions mo;
    mo.max_series = config_.max_series;
    mo.series_ttl_ns = uint64_t(config_.series_ttl_s) * kSecond;
    mo.max_routes_per_service = config_.max_routes_per_service;
    mo.max_values_per_service = config_.max_values_per_service;
    mo.dns_name_label = config_.dns_name_label;
    mo.buckets = config_.buckets;
    mo.metric_buckets = config_.metric_buckets;
    mo.route = [this](std::string_view target) { return protocols::RouteFor(target, routes_); };
    auto metrics = Metrics::Start(
        mo, [this] { return SelfSamples(); }, tables_);
    if (!metrics) return Fail(metrics.error());
    metrics_ = std::move(*metrics);
    if (serve) {
      auto endpoint = HttpEndpoint::Start(std::move(eo), Handlers());
      if (!endpoint) return Fail(endpoint.error());
      endpoint_ = std::move(*endpoint);
    }
    tracker_.SetDns([this](DnsRecord&& r) { OnDns(r); }, config_.dns_ports);
    tracker_.SetForgotten([this](const ConnId& id, Eviction why) { sweeper_->Forget(id, why); });
    if (proc_shows_host_pids) {
      container_ids_ = std::make_unique<ContainerIds>(tables_);
      tracker_.SetContainerIds([this](uint32_t tgid) { return container_ids_->Of(tgid); });
    }

    ProbeOptions options;
    options.choice = config_.syscall_probes;
    options.max_payload_bytes = config_.max_payload_bytes;
    if (auto sel = SelectionOptions(config_.selection); !sel)
      return Fail(sel.error());
    else
      options.selection = *sel;
    options.self_tgid = self_tgid;
    options.ringbuf_bytes = config_.ringbuf_kib << 10;
    options.max_connections = config_.max_connections;
    if (config_.event_batch_ms > 0) options.wakeup_bytes = options.ringbuf_bytes / 8;
    if (!config_.dns_ports.empty()) options.dns_ports = config_.dns_ports;
    // Ciphertext is worth copying where secrets can come: key-log hooks, or key-log files.
    options.tls_keys = config_.tls_capture != TlsCapture::kPlaintext &&
                       (config_.tls_probes || !config_.tls_keylog_files.empty());
    options.tls_record_bytes = config_.tls_record_bytes;
    options.hold_new = config_.tls_probes && config_.hold_new_processes;
    auto probes = CaptureProbes::Load(options);
    if (!probes) return Fail(probes.error());
    probes_ = std::move(*probes);
    selector_ = std::make_unique<ProcessSelector>(config_.selection, probes_->proc_verdicts_fd(), tables_);
    selector_->ScanAll();
    tables_.Add("kernel_sel_ports", L7TAP_MAX_PORTS, {})
        .set_entries(config_.selection.ports.size() + config_.selection.exclude_ports.size());
    tables_.Add("kernel_dns_ports", L7TAP_MAX_DNS_PORTS, {}).set_entries(options.dns_ports.size());
    sweeper_ =
        std::make_unique<KernelSweeper>(*probes_, tables_, uint64_t(config_.conn_idle_timeout_s) * kSecond);
    TlsDiscoveryLimits tl;
    tl.max_traced_files = config_.max_traced_binaries;
    const TlsCaptureMode capture = config_.tls_capture == TlsCapture::kKeys ? TlsCaptureMode::kKeys
                                   : config_.tls_capture == TlsCapture::kPlaintext
                                       ? TlsCaptureMode::kPlaintext
                                       : TlsCaptureMode::kAuto;
    tls_ = std::make_unique<TlsDiscovery>(*probes_, table_.get(), self_tgid, tables_, config_.probe_placement,
                                          tl, capture);
    if (options.tls_keys) {
      secrets_ = std::make_unique<protocols::TlsSecretStore>();
      secrets_table_ = &tables_.Add("tls_secrets", protocols::TlsSecretStoreLimits{}.capacity,
                                    {Eviction::kLeastRecent, Eviction::kIdle});
      if (!config_.tls_keylog_files.empty())
        keylog_files_ =
            std::make_unique<TlsKeyLogFiles>(config_.tls_keylog_files, [this](protocols::TlsSecret&& s) {
              counts_.secrets_keylog_file++;
              s.ts_ns = MonotonicNs();  // the TTL counts from when it was read
              secrets_->Add(std::move(s));
            });
      tracker_.SetTls(secrets_.get(), &tls_untraced_, [this] {
        if (keylog_files_) keylog_files_->Poll();
      });
    }
    if (options.hold_new) {
      // Holding is safe only with the watchdog running: without it, nothing is held.
      auto watchdog =
          HoldWatchdog::Start(probes_->held_fd(), probes_->proc_ack_fd(), config_.hold_deadline_ms);
      if (!watchdog) {
        probes_->SetHoldEnabled(false);
        Logf(LogLevel::kWarn, "not holding new processes: %s", watchdog.error().c_str());
      } else {
        watchdog_ = std::make_unique<HoldWatchdog>(std::move(*watchdog));
        holds_ = std::make_unique<ProcessHolds>(HoldMaps{probes_->known_files_fd(), probes_->proc_files_fd(),
                                                         probes_->proc_ack_fd(), probes_->held_fd()},
                                                tables_);
        holds_->CountDeadlinesWith(watchdog_->resumed_at_deadline());
        holds_->OnResumeRefused([this](uint32_t tgid, int err) {
          probes_->SetHoldEnabled(false);  // each further hold would stop a process for good
          Logf(LogLevel::kError,
               "resuming held process %u failed (%s): resuming other users' processes needs CAP_KILL; new "
               "processes are no longer held, and that one stays stopped until it is sent SIGCONT",
               tgid, std::strerror(err));
        });
        tls_->SetHolds(holds_.get());
      }
    }
    if (config_.tls_probes) tls_->ScanNode();
    worker_ = std::make_unique<DiscoveryWorker>(*tls_, holds_.get(), tables_);
    worker_->Start();

    ring_buffer* rb = ring_buffer__new(probes_->ringbuf_fd(), &Agent::HandleRecord, this, nullptr);
    if (!rb)
      return Fail(std::string("creating the ring buffer reader failed (") + std::strerror(errno) + ")");
    last_poll_ns_.store(MonotonicNs(), std::memory_order_relaxed);
    ready_.store(true, std::memory_order_release);
    Logf(LogLevel::kInfo, "tracing socket syscalls with the %s backend (%zu programs), %s",
         BackendName(probes_->backend()), probes_->programs_attached(),
         endpoint_ ? ("/metrics, /healthz and /debug on " + endpoint_->description()).c_str()
                   : "/metrics not served");
    if (sink_)
      sink_->Start({[this](std::string_view t) { return protocols::RouteFor(t, routes_); },
                    [this] { return SelfSamples(); }});

    // Batched: the kernel wakes this loop only when the ring fills up, so it drains the ring on a timer too.
    const int idle_ms = config_.event_batch_ms > 0 ? int(config_.event_batch_ms) : 200;
    int timeout_ms = idle_ms;
    while (!g_stop) {
      // Key-log lines first: a handshake's line is written before its records reach the ring.
      if (keylog_files_) keylog_files_->Poll();
      int n = ring_buffer__poll(rb, timeout_ms);
      if (n >= 0 && config_.event_batch_ms > 0) n = ring_buffer__consume(rb);
      if (n < 0 && n != -EINTR) {
        ring_buffer__free(rb);
        return Fail(std::string("reading the ring buffer failed (") + std::strerror(-n) + ")");
      }
      const uint64_t now = MonotonicNs();
      last_poll_ns_.store(now, std::memory_order_relaxed);  // /healthz: the ring buffer is being drained
      tracker_.ExpireHoles(now);
      if (secrets_) {
        tracker_.PollTls(now);
        secrets_->Expire(now);
        // Secrets leave the store at their TTL (idle) or to make room (the oldest).
        const protocols::TlsSecretStoreStats st = secrets_->TakeStats();
        secrets_table_->Evicted(Eviction::kIdle, st.expired);
        secrets_table_->Evicted(Eviction::kLeastRecent, st.evicted);
        secrets_table_->set_entries(secrets_->size());
      }
      Housekeeping(now);
      counts_.open_connections = tracker_.open_connections();
      timeout_ms = idle_ms;
      if (sink_ && !sink_->Tick(now)) break;  // `l7tap top` quit
    }
    StopDiscovery();
    ring_buffer__free(rb);
    Logf(LogLevel::kInfo, "detaching probes and exiting");
    return 0;
  }

 private:
  // Nothing stays held once the agent stops: holding ends, the discovery thread stops, the held resume.
  void StopDiscovery() {
    if (probes_) probes_->SetHoldEnabled(false);
    if (worker_) worker_->Stop();
    if (holds_) holds_->ReleaseAll();
    watchdog_.reset();
  }

  // Holding is only safe while the watchdog runs: once it is gone, nothing more is held.
  void CheckWatchdog() {
    std::string why;
    if (!watchdog_ || watchdog_->Alive(&why)) return;
    probes_->SetHoldEnabled(false);
    const size_t released = holds_->ReleaseAll();
    Logf(LogLevel::kWarn,
         "the hold watchdog (pid %d) %s: new processes are no longer held (%zu resumed); restart "
         "l7tap to hold them again",
         int(watchdog_->pid()), why.c_str(), released);
    watchdog_.reset();
  }

  static int Fail(const std::string& message) {
    Log(LogLevel::kError, message);
    return 1;
  }

  // The bounded-state policy's timers: expiry of everything that idles, and the kernel tables' sweep.
  void Housekeeping(uint64_t now) {
    if (now >= next_dns_expiry_) {
      tracker_.ExpireDns(now, uint64_t(config_.dns_timeout_ms) * 1'000'000);
      next_dns_expiry_ = now + 100'000'000;  // unanswered queries are counted within 0.1 s of timing out
    }
    if (now >= next_tracker_sweep_) {
      CheckWatchdog();
      tracker_.Sweep(now, ProcessAlive);
      if (container_ids_) container_ids_->Sweep(ProcessAlive);
      next_tracker_sweep_ = now + kTrackerSweepNs;
    }
    if (now >= next_kernel_sweep_) {
      sweeper_->Sweep(now);
      const KernelCounters k = probes_->ReadCounters();
      if (holds_) {
        holds_->CountTables(k[L7TAP_CNT_PROC_TABLE_FULL]);
        holds_->CountExited(k[L7TAP_CNT_HOLD_EXITED]);
      }
      selector_->Sweep(k[L7TAP_CNT_VERDICT_TABLE_FULL]);
      next_kernel_sweep_ = now + kKernelSweepNs;
    }
    if (now >= next_slow_sweep_) {
      metrics_->Expire(now);
      next_slow_sweep_ = now + kSlowSweepNs;
    }
  }

  static int HandleRecord(void* self, void* data, size_t size) {
    static_cast<Agent*>(self)->Handle(DecodeEvent(data, size));
    return 0;
  }

  void Handle(const Event& event) {
    if (auto* d = std::get_if<Data>(&event)) {
      if (selector_->Drops(d->conn.tgid, d->ts_ns)) return;
      // How far behind the kernel the event thread is (every 64th event: a clock read each is cheap, but
      // not free).
      if ((counts_.data++ & 63) == 0) {
        const uint64_t now = MonotonicNs();
        event_lag_.Observe(now > d->ts_ns ? double(now - d->ts_ns) / 1e9 : 0);
      }
      counts_.bytes_observed += d->length;
      counts_.bytes_copied += d->payload.size();
      tracker_.OnData(*d);
    } else if (auto* o = std::get_if<ConnOpen>(&event)) {
      if (selector_->Drops(o->conn.tgid, o->ts_ns)) {  // not followed after all
        probes_->ForgetConnection(o->conn.tgid, o->conn.fd, o->conn.generation);
        return;
      }
      counts_.open++;
      tracker_.OnOpen(*o);
    } else if (auto* c = std::get_if<Close>(&event)) {
      counts_.close++;
      tracker_.OnClose(*c);
    } else if (auto* x = std::get_if<ProcessExit>(&event)) {
      counts_.exit++;
      for (int32_t fd : tracker_.OnProcessExit(x->tgid)) probes_->ForgetConnection(x->tgid, fd);
      worker_->PostExit(x->tgid);
      if (container_ids_) container_ids_->OnExit(x->tgid);
    } else if (auto* e = std::get_if<ProcessExec>(&event)) {
      counts_.exec++;
      // Decided here, not on the discovery thread: a process's bytes wait for no binary's parsing.
      const bool may_trace = selector_->OnExec(e->tgid, MonotonicNs());
      if (config_.tls_probes && may_trace) worker_->PostExec(e->tgid, e->filename, e->ts_ns);
    } else if (auto* h = std::get_if<ProcessHold>(&event)) {
      worker_->PostHold(h->tgid, h->ts_ns);
    } else if (auto* k = std::get_if<TlsSecretEvent>(&event)) {
      OnSecret(*k);
    } else if (auto* m = std::get_if<Malformed>(&event)) {
      if (counts_.malformed++ == 0) Logf(LogLevel::kWarn, "dropping malformed event: %s", m->reason.c_str());
    }
  }

  // Into the secret store, and nowhere else (never logged). Plaintext mode loads no key-log hook.
  void OnSecret(const TlsSecretEvent& k) {
    const l7tap_secret_event& ev = *k.record;
    if (!secrets_) return;
    const std::string_view label(ev.label, strnlen(ev.label, sizeof(ev.label)));
    auto which = protocols::TlsSecretLabelFromName(label);
    if (!which) return;  // e.g. "RSA" (an encrypted premaster): no secret keys mode uses
    protocols::TlsSecret s;
    s.label = *which;
    s.has_client_random = ev.has_random != 0;
    if (s.has_client_random) std::memcpy(s.client_random.data(), ev.client_random, s.client_random.size());
    s.secret.Assign(std::span<const uint8_t>(ev.secret, ev.secret_len));
    s.source = ev.hook == L7TAP_HOOK_GO_WRITE_KEY_LOG ? protocols::TlsSecretSource::kGo
                                                      : protocols::TlsSecretSource::kOpenSsl;
    s.tgid = ev.tgid;
    s.ssl = ev.ssl;
    s.ts_ns = k.ts_ns;
    (ev.hook == L7TAP_HOOK_GO_WRITE_KEY_LOG ? counts_.secrets_go
     : ev.hook == L7TAP_HOOK_SSL_LOG_SECRET ? counts_.secrets_openssl_object
                                            : counts_.secrets_openssl)++;
    secrets_->Add(std::move(s));
  }

  void OnTransaction(const TransactionRecord& r) {
    counts_.transactions++;
    metrics_->Record(r);
    if (sink_) sink_->OnTransaction(r);
  }

  void OnDns(const DnsRecord& r) {
    counts_.dns_transactions++;
    metrics_->RecordDns(r);
    if (sink_) sink_->OnDns(r);
  }

  EndpointHandlers Handlers() {
    EndpointHandlers h;
    h.metrics = [this] { return metrics_->Exposition(); };
    h.health = [this] {
      HealthInput in;
      in.ready = ready_.load(std::memory_order_acquire);
      if (in.ready) in.programs_attached = probes_->programs_attached();
      in.last_poll_ns = last_poll_ns_.load(std::memory_order_relaxed);
      in.now_ns = MonotonicNs();
      return CheckHealth(in);
    };
    h.debug = [this](const std::string& listen) {
      DebugInfo d;
      d.uptime_ns = MonotonicNs() - started_ns_;
      d.ready = ready_.load(std::memory_order_acquire);
      if (d.ready) {
        d.backend = BackendName(probes_->backend());
        d.programs_attached = probes_->programs_attached();
        d.tls_probes_attached = probes_->tls_probes_attached();
        d.files = tls_->TracedFiles();
        d.processes = tls_->processes_followed();
      }
      d.listen = listen;
      d.tls = tls_web_;
      d.basic_auth = basic_auth_web_;
      d.connections = counts_.open_connections.load(std::memory_order_relaxed);
      d.tables = &tables_;
      d.samples = SelfSamples();
      return RenderDebug(d);
    };
    return h;
  }

  std::vector<Sample> SelfSamples() const {
    if (!ready_.load(std::memory_order_acquire))
      return agent::SelfSamples(nullptr, counts_, tracker_.stats(), {});
    std::vector<Sample> more = tls_->Samples();
    if (holds_)
      for (Sample& s : holds_->Samples()) more.push_back(std::move(s));
    more.push_back(event_lag_.ToSample(
        "l7tap_event_lag_seconds",
        "From a data event's syscall to the agent handling it (every 64th event): how far behind the kernel "
        "the event thread runs (--event-batch-ms included)",
        {}));
    for (Sample& s : tls_untraced_.Samples()) more.push_back(std::move(s));
    for (Sample& s : tables_.Samples()) more.push_back(std::move(s));
    for (Sample& s : metrics_->Samples()) more.push_back(std::move(s));
    return agent::SelfSamples(probes_.get(), counts_, tracker_.stats(), std::move(more));
  }

  Config config_;
  protocols::RoutePatterns routes_;
  TableRegistry tables_;  // first: every other member registers its tables here
  ConnectionTracker tracker_;
  std::unique_ptr<RecordSink> own_sink_;  // --print's, unless the caller gave one
  RecordSink* sink_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<symbolizer::AddressTable> table_;
  std::unique_ptr<CaptureProbes> probes_;
  std::unique_ptr<KernelSweeper> sweeper_;
  std::unique_ptr<ContainerIds> container_ids_;  // off where /proc does not show host pids
  std::unique_ptr<ProcessSelector> selector_;
  std::unique_ptr<TlsDiscovery> tls_;
  std::unique_ptr<ProcessHolds> holds_;  // holding on, with its watchdog running
  std::unique_ptr<HoldWatchdog> watchdog_;
  std::unique_ptr<DiscoveryWorker> worker_;  // after tls_ and holds_: stops before they go
  LatencyHistogram event_lag_;
  std::unique_ptr<protocols::TlsSecretStore> secrets_;  // keys mode only
  TableStats* secrets_table_ = nullptr;
  std::unique_ptr<TlsKeyLogFiles> keylog_files_;
  TlsUntraced tls_untraced_;
  EventCounts counts_;
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> last_poll_ns_{0};  // the event loop's last ring buffer poll
  const uint64_t started_ns_ = MonotonicNs();
  bool tls_web_ = false, basic_auth_web_ = false;  // what --web-config turned on (for /debug)
  std::unique_ptr<HttpEndpoint> endpoint_;         // last: destroyed first (the destructor resets it anyway)
  uint64_t next_dns_expiry_ = 0, next_tracker_sweep_ = 0, next_kernel_sweep_ = 0, next_slow_sweep_ = 0;
};

}  // namespace

int RunAgent(const Config& config, RecordSink* sink) {
  SetLibbpfVerbose(config.verbose);
  // A missing capability or kernel feature is named with its fix here, not as a load failure later.
  if (config.preflight) {
    const auto items = RunPreflight(config);
    for (const PreflightItem& i : items)
      if (i.state != PreflightItem::State::kOk) Log(LogLevel::kError, i.line);
    if (!AllPassed(items)) {
      Log(LogLevel::kError, "stopping: 'l7tap check' lists what is needed (--preflight off skips this)");
      return 1;
    }
  }
  auto routes = protocols::RoutePatterns::Parse(config.routes);
  if (!routes) {
    Logf(LogLevel::kError, "--route: %s", routes.error().c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Agent agent(config, std::move(*routes), sink);
  return agent.Run();
}

}  // namespace l7tap::agent
