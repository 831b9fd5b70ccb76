#include "agent/top_command.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/log_capture.h"
#include "agent/monotonic_clock.h"
#include "agent/record_sink.h"
#include "agent/top_aggregator.h"
#include "agent/top_screen.h"
#include "agent/top_view.h"

namespace l7tap::agent {
namespace {

constexpr uint64_t kSecondNs = 1'000'000'000;
// Frames are drawn once a second, this far into it: records of the second just ended (the agent reads the
// ring every --event-batch-ms) are in by then.
constexpr uint64_t kDrawOffsetNs = 100'000'000;

class TopSink : public RecordSink {
 public:
  TopSink(TopScreen& screen, const LogCapture& log, TopLimits limits)
      : screen_(screen), log_(log), aggregator_(limits, MonotonicNs()) {
    Draw(MonotonicNs());
  }

  void Start(const SinkContext& context) override {
    context_ = context;
    const uint64_t now = MonotonicNs();
    aggregator_ = TopAggregator(aggregator_.limits(), now);  // the window counts from when events flow
    tracing_ = true;
    Draw(now);
  }

  void OnTransaction(const TransactionRecord& r) override {
    aggregator_.Add(r, r.http.grpc ? std::string() : context_.route(r.http.target));
  }

  void OnDns(const DnsRecord& r) override { aggregator_.Add(r); }

  bool Tick(uint64_t now_ns) override {
    bool dirty = false;
    for (int key; (key = screen_.Key()) != -1;) {
      if (key == 'q' || key == 'Q') return false;
      if (auto sort = TopSortForKey(key)) sort_ = *sort, dirty = true;
    }
    const uint64_t second = now_ns / kSecondNs;
    if (second != drawn_second_ && now_ns % kSecondNs >= kDrawOffsetNs) {
      loss_ = TopLossFrom(context_.self_metrics());
      drawn_second_ = second;
      dirty = true;
    }
    if (dirty) Draw(now_ns);
    return true;
  }

 private:
  void Draw(uint64_t now_ns) {
    TopViewState s;
    s.sort = sort_;
    s.tracing = tracing_;
    s.window_s = aggregator_.limits().window_s;
    s.max_rows = aggregator_.limits().max_rows;
    s.rows = aggregator_.rows();
    s.stats = aggregator_.stats();
    s.loss = loss_;
    s.last_log = log_.last_line();
    screen_.Draw(RenderTop(aggregator_.Rows(now_ns), s, screen_.width(), screen_.height()));
  }

  TopScreen& screen_;
  const LogCapture& log_;
  TopAggregator aggregator_;
  SinkContext context_;
  TopSort sort_ = TopSort::kRate;
  TopLoss loss_;
  bool tracing_ = false;
  uint64_t drawn_second_ = 0;
};

}  // namespace

int RunTopCommand(int argc, char** argv) {
  auto config = ParseArgs(argc, argv);
  if (!config) {
    Log(LogLevel::kError, config.error());
    return 2;
  }
  if (config->help) {
    std::printf(
        "usage: l7tap top [flags]\n\n"
        "Traces as the agent does (the same flags, e.g. --pid PID) and shows, refreshed every second, per\n"
        "service and route: totals, request rate, error ratio and p50/p99 latency over the last 10 seconds;\n"
        "DNS per service, server and question; and the agent's loss counters. Keys: r rate, e errors, p "
        "p99,\n"
        "n name, t total (sort), q quit. /metrics is served only with --listen.\n\n%s",
        HelpText().c_str());
    return 0;
  }
  if (config->print) {
    Log(LogLevel::kError, "--print is not for top (run the agent with --print instead)");
    return 2;
  }
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    Log(LogLevel::kError, "top needs a terminal (for programs: l7tap --print --format json)");
    return 2;
  }
  SetLog(config->log_level, config->log_format);
  if (!config->listen_set) config->listen.clear();  // a node agent may hold the default port
  LogCapture log;
  if (auto started = log.Start(); !started) {
    Log(LogLevel::kError, started.error());
    return 1;
  }
  int code;
  {
    TopScreen screen;
    TopSink sink(screen, log, TopLimits{});
    code = RunAgent(*config, &sink);
  }  // the terminal is given back before the log is written to it
  log.Stop();
  return code;
}

}  // namespace l7tap::agent
