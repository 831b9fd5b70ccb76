#include "agent/agent.h"

#include <bpf/libbpf.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "agent/capture_probes.h"
#include "agent/connection_tracker.h"
#include "agent/event_decoder.h"
#include "agent/metrics.h"
#include "agent/printer.h"
#include "agent/self_metrics.h"
#include "agent/tls_discovery.h"
#include "symbolizer/address_table.h"

namespace l7tap::agent {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class Agent {
 public:
  explicit Agent(const Config& c)
      : config_(c),
        tracker_([this](TransactionRecord&& r) { OnTransaction(r); },
                 [this](const ConnId& id, bool tls) {
                   probes_->MuteConnection(id.tgid, id.fd, id.generation, tls);
                 }) {}

  int Run() {
    if (!config_.symbol_table.empty()) {
      auto table = symbolizer::AddressTable::Load(config_.symbol_table);
      if (!table) return Fail(table.error());
      table_ = std::make_unique<symbolizer::AddressTable>(std::move(*table));
    }
    auto metrics = Metrics::Start(config_.listen, [this] { return SelfSamples(); });
    if (!metrics) return Fail(metrics.error());
    metrics_ = std::move(*metrics);
    metrics_->SetDnsNameLabel(config_.dns_name_label);
    tracker_.SetDns([this](DnsRecord&& r) { OnDns(r); }, config_.dns_ports);

    ProbeOptions options;
    options.choice = config_.syscall_probes;
    options.max_payload_bytes = config_.max_payload_bytes;
    options.pids = config_.pids;
    options.self_tgid = getpid();
    options.ringbuf_bytes = config_.ringbuf_mib << 20;
    if (config_.event_batch_ms > 0) options.wakeup_bytes = options.ringbuf_bytes / 8;
    if (!config_.dns_ports.empty()) options.dns_ports = config_.dns_ports;
    auto probes = CaptureProbes::Load(options);
    if (!probes) return Fail(probes.error());
    probes_ = std::move(*probes);
    tls_ = std::make_unique<TlsDiscovery>(*probes_, table_.get(), getpid(), config_.probe_placement);
    if (config_.tls_probes) tls_->ScanNode();

    ring_buffer* rb = ring_buffer__new(probes_->ringbuf_fd(), &Agent::HandleRecord, this, nullptr);
    if (!rb)
      return Fail(std::string("creating the ring buffer reader failed (") + std::strerror(errno) + ")");
    ready_.store(true, std::memory_order_release);
    std::fprintf(stderr,
                 "l7tap: tracing socket syscalls with the %s backend (%zu programs), /metrics on %s\n",
                 BackendName(probes_->backend()), probes_->programs_attached(), config_.listen.c_str());

    // Batched: the kernel wakes this loop only when the ring fills up, so it drains the ring on a timer too.
    const int idle_ms = config_.event_batch_ms > 0 ? int(config_.event_batch_ms) : 200;
    int timeout_ms = idle_ms;
    while (!g_stop) {
      int n = ring_buffer__poll(rb, timeout_ms);
      if (n >= 0 && config_.event_batch_ms > 0) n = ring_buffer__consume(rb);
      if (n < 0 && n != -EINTR) {
        ring_buffer__free(rb);
        return Fail(std::string("reading the ring buffer failed (") + std::strerror(-n) + ")");
      }
      counts_.open_connections = tracker_.open_connections();
      const uint64_t now = MonotonicNs();
      if (now >= next_dns_expiry_) {
        tracker_.ExpireDns(now, uint64_t(config_.dns_timeout_ms) * 1'000'000);
        next_dns_expiry_ = now + 100'000'000;  // unanswered queries are counted within 0.1 s of timing out
      }
      int due_ms = tls_->RunDue(now);
      timeout_ms = due_ms < 0 || due_ms > idle_ms ? idle_ms : due_ms;
    }
    ring_buffer__free(rb);
    std::fprintf(stderr, "l7tap: detaching probes and exiting\n");
    return 0;
  }

 private:
  static int Fail(const std::string& message) {
    std::fprintf(stderr, "l7tap: %s\n", message.c_str());
    return 1;
  }

  static int HandleRecord(void* self, void* data, size_t size) {
    static_cast<Agent*>(self)->Handle(DecodeEvent(data, size));
    return 0;
  }

  void Handle(const Event& event) {
    if (auto* d = std::get_if<Data>(&event)) {
      counts_.data++;
      counts_.bytes_observed += d->length;
      counts_.bytes_copied += d->payload.size();
      tracker_.OnData(*d);
    } else if (auto* o = std::get_if<ConnOpen>(&event)) {
      counts_.open++;
      tracker_.OnOpen(*o);
    } else if (auto* c = std::get_if<Close>(&event)) {
      counts_.close++;
      tracker_.OnClose(*c);
    } else if (auto* x = std::get_if<ProcessExit>(&event)) {
      counts_.exit++;
      for (int32_t fd : tracker_.OnProcessExit(x->tgid)) probes_->ForgetConnection(x->tgid, fd);
      metrics_->ForgetProcess(x->tgid);
    } else if (auto* e = std::get_if<ProcessExec>(&event)) {
      counts_.exec++;
      if (config_.tls_probes) tls_->OnExec(e->tgid, e->filename, e->ts_ns);
    } else if (auto* m = std::get_if<Malformed>(&event)) {
      if (counts_.malformed++ == 0)
        std::fprintf(stderr, "l7tap: dropping malformed event: %s\n", m->reason.c_str());
    }
  }

  void OnTransaction(const TransactionRecord& r) {
    counts_.transactions++;
    metrics_->Record(r);
    if (config_.print) std::printf("%s\n", printer_.Format(r).c_str()), std::fflush(stdout);
  }

  void OnDns(const DnsRecord& r) {
    counts_.dns_transactions++;
    metrics_->RecordDns(r);
    if (config_.print) std::printf("%s\n", printer_.Format(r).c_str()), std::fflush(stdout);
  }

  std::vector<Sample> SelfSamples() const {
    if (!ready_.load(std::memory_order_acquire))
      return agent::SelfSamples(nullptr, counts_, tracker_.stats(), {});
    return agent::SelfSamples(probes_.get(), counts_, tracker_.stats(), tls_->Samples());
  }

  Config config_;
  ConnectionTracker tracker_;
  TransactionPrinter printer_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<symbolizer::AddressTable> table_;
  std::unique_ptr<CaptureProbes> probes_;
  std::unique_ptr<TlsDiscovery> tls_;
  EventCounts counts_;
  std::atomic<bool> ready_{false};
  uint64_t next_dns_expiry_ = 0;
};

}  // namespace

int RunAgent(const Config& config) {
  SetLibbpfVerbose(config.verbose);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Agent agent(config);
  return agent.Run();
}

}  // namespace l7tap::agent
