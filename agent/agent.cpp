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

struct EventCounts {
  std::atomic<uint64_t> open{0}, data{0}, close{0}, exit{0}, exec{0}, malformed{0};
  std::atomic<uint64_t> bytes_observed{0}, bytes_copied{0}, transactions{0};
  std::atomic<uint64_t> open_connections{0};
};

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

    ProbeOptions options;
    options.choice = config_.syscall_probes;
    options.max_payload_bytes = config_.max_payload_bytes;
    options.pids = config_.pids;
    options.self_tgid = getpid();
    options.ringbuf_bytes = config_.ringbuf_mib << 20;
    auto probes = CaptureProbes::Load(options);
    if (!probes) return Fail(probes.error());
    probes_ = std::move(*probes);
    tls_ = std::make_unique<TlsDiscovery>(*probes_, table_.get(), getpid());
    tls_->ScanNode();

    ring_buffer* rb = ring_buffer__new(probes_->ringbuf_fd(), &Agent::HandleRecord, this, nullptr);
    if (!rb)
      return Fail(std::string("creating the ring buffer reader failed (") + std::strerror(errno) + ")");
    ready_.store(true, std::memory_order_release);
    std::fprintf(stderr,
                 "l7tap: tracing socket syscalls with the %s backend (%zu programs), /metrics on %s\n",
                 BackendName(probes_->backend()), probes_->programs_attached(), config_.listen.c_str());

    int timeout_ms = 200;
    while (!g_stop) {
      int n = ring_buffer__poll(rb, timeout_ms);
      if (n < 0 && n != -EINTR) {
        ring_buffer__free(rb);
        return Fail(std::string("reading the ring buffer failed (") + std::strerror(-n) + ")");
      }
      counts_.open_connections = tracker_.open_connections();
      int due_ms = tls_->RunDue(MonotonicNs());
      timeout_ms = due_ms < 0 || due_ms > 200 ? 200 : due_ms;
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
    } else if (auto* e = std::get_if<ProcessExec>(&event)) {
      counts_.exec++;
      tls_->OnExec(e->tgid, e->filename, e->ts_ns);
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

  std::vector<Sample> SelfSamples() const {
    std::vector<Sample> s;
    bool ready = ready_.load(std::memory_order_acquire);
    s.push_back(
        {"l7tap_ready", "1 once the probes are attached and events flow", false, {}, ready ? 1.0 : 0.0});
    if (!ready) return s;
    s.push_back({"l7tap_syscall_backend_info",
                 "Which syscall probe backend is in use",
                 false,
                 {{"backend", BackendName(probes_->backend())}},
                 1});
    s.push_back({"l7tap_probes_attached",
                 "Syscall and process BPF programs attached",
                 false,
                 {},
                 double(probes_->programs_attached())});

    KernelCounters k = probes_->ReadCounters();
    const char* lost = "Events lost before reaching the agent, by reason";
    s.push_back({"l7tap_events_lost_total",
                 lost,
                 true,
                 {{"reason", "ringbuf_full"}},
                 double(k[L7TAP_CNT_RINGBUF_FULL])});
    s.push_back(
        {"l7tap_events_lost_total", lost, true, {{"reason", "malformed"}}, double(counts_.malformed)});
    s.push_back({"l7tap_events_lost_total",
                 lost,
                 true,
                 {{"reason", "tls_no_connection"}},
                 double(k[L7TAP_CNT_TLS_NO_CONN])});
    s.push_back({"l7tap_tls_fd_mismatch_total",
                 "TLS calls that made syscalls on two different fds",
                 true,
                 {},
                 double(k[L7TAP_CNT_TLS_FD_MISMATCH])});
    for (Sample& t : tls_->Samples()) s.push_back(std::move(t));
    s.push_back({"l7tap_payload_truncated_events_total",
                 "Data events whose payload exceeded --max-payload-bytes",
                 true,
                 {},
                 double(k[L7TAP_CNT_TRUNCATED_EVENTS])});
    s.push_back({"l7tap_payload_truncated_bytes_total",
                 "Bytes counted by length but not copied (over the cap)",
                 true,
                 {},
                 double(k[L7TAP_CNT_TRUNCATED_BYTES])});
    s.push_back({"l7tap_payload_copy_failures_total",
                 "Payload reads from process memory that faulted",
                 true,
                 {},
                 double(k[L7TAP_CNT_COPY_FAILED])});
    s.push_back({"l7tap_payload_segment_limit_total",
                 "Calls with more iovec segments or messages than the kernel copies (" +
                     std::to_string(L7TAP_MAX_IOV) + ")",
                 true,
                 {},
                 double(k[L7TAP_CNT_IOV_LIMIT])});
    s.push_back({"l7tap_connections_untracked_total",
                 "Connections not followed, by reason",
                 true,
                 {{"reason", "table_full"}},
                 double(k[L7TAP_CNT_CONN_TABLE_FULL])});

    const char* events = "Events received from the kernel, by kind";
    s.push_back({"l7tap_events_total", events, true, {{"kind", "open"}}, double(counts_.open)});
    s.push_back({"l7tap_events_total", events, true, {{"kind", "data"}}, double(counts_.data)});
    s.push_back({"l7tap_events_total", events, true, {{"kind", "close"}}, double(counts_.close)});
    s.push_back({"l7tap_events_total", events, true, {{"kind", "process_exit"}}, double(counts_.exit)});
    s.push_back({"l7tap_events_total", events, true, {{"kind", "process_exec"}}, double(counts_.exec)});
    const char* bytes = "Payload bytes moved by traced syscalls (observed) and copied to the agent (copied)";
    s.push_back(
        {"l7tap_payload_bytes_total", bytes, true, {{"what", "observed"}}, double(counts_.bytes_observed)});
    s.push_back(
        {"l7tap_payload_bytes_total", bytes, true, {{"what", "copied"}}, double(counts_.bytes_copied)});
    s.push_back({"l7tap_transactions_total",
                 "Transactions recorded, by protocol",
                 true,
                 {{"protocol", "http"}},
                 double(counts_.transactions)});
    s.push_back(
        {"l7tap_connections_open", "Connections followed now", false, {}, double(counts_.open_connections)});

    const TrackerStats& t = tracker_.stats();
    s.push_back({"l7tap_connections_total",
                 "Connections followed since start",
                 true,
                 {},
                 double(t.connections_opened)});
    s.push_back({"l7tap_connections_not_http_total",
                 "TCP connections whose bytes are not HTTP/1 (ignored)",
                 true,
                 {},
                 double(t.connections_not_http)});
    s.push_back({"l7tap_connections_upgraded_total",
                 "Connections switched to another protocol (101)",
                 true,
                 {},
                 double(t.connections_upgraded)});
    s.push_back({"l7tap_connections_without_open_total",
                 "Connections first seen by their data (open not seen)",
                 true,
                 {},
                 double(t.connections_without_open)});
    s.push_back(
        {"l7tap_stream_gaps_total", "Holes in a connection's byte stream", true, {}, double(t.stream_gaps)});
    s.push_back({"l7tap_stream_gap_bytes_total",
                 "Bytes missing in stream holes",
                 true,
                 {},
                 double(t.stream_gap_bytes)});
    s.push_back({"l7tap_stream_overlap_bytes_total",
                 "Bytes seen twice and dropped",
                 true,
                 {},
                 double(t.stream_overlap_bytes)});
    s.push_back({"l7tap_stale_events_total",
                 "Events of a connection already replaced on its fd",
                 true,
                 {},
                 double(t.stale_events)});
    s.push_back({"l7tap_http_parse_errors_total",
                 "Connections where HTTP/1 parsing failed",
                 true,
                 {},
                 double(t.http_parse_errors)});
    s.push_back({"l7tap_http_desyncs_total",
                 "Stream holes that broke HTTP/1 framing (parsing resumed later)",
                 true,
                 {},
                 double(t.http_desyncs)});
    const char* unmatched = "HTTP messages that did not become a transaction, by reason";
    s.push_back({"l7tap_http_unmatched_total",
                 unmatched,
                 true,
                 {{"reason", "response_without_request"}},
                 double(t.http_unmatched_responses)});
    s.push_back({"l7tap_http_unmatched_total",
                 unmatched,
                 true,
                 {{"reason", "request_unanswered"}},
                 double(t.http_unanswered_requests)});
    s.push_back({"l7tap_http_unmatched_total",
                 unmatched,
                 true,
                 {{"reason", "message_incomplete"}},
                 double(t.http_incomplete_messages)});
    return s;
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
