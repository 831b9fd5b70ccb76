#include "agent/discovery_worker.h"

#include <malloc.h>
#include <time.h>

#include <chrono>

#include "agent/monotonic_clock.h"
#include "agent/process_holds.h"
#include "agent/tls_discovery.h"

namespace l7tap::agent {
namespace {

constexpr uint64_t kSweepNs = 10'000'000'000;  // processes gone, files deleted

}  // namespace

DiscoveryWorker::DiscoveryWorker(TlsDiscovery& tls, ProcessHolds* holds, TableRegistry& tables)
    : tls_(tls), holds_(holds), queue_table_(tables.Add("discovery_queue", kMaxQueued, {Eviction::kFull})) {}

DiscoveryWorker::~DiscoveryWorker() { Stop(); }

void DiscoveryWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void DiscoveryWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void DiscoveryWorker::PostExec(uint32_t tgid, std::string filename, uint64_t ts_ns) {
  Post({Kind::kExec, tgid, ts_ns, std::move(filename)});
}
void DiscoveryWorker::PostExit(uint32_t tgid) { Post({Kind::kExit, tgid, 0, {}}); }
void DiscoveryWorker::PostHold(uint32_t tgid, uint64_t ts_ns) { Post({Kind::kHold, tgid, ts_ns, {}}); }

void DiscoveryWorker::Post(Request r) {
  {
    std::lock_guard lock(mu_);
    // A held process must not wait behind a full queue: it is let in anyway (holds are bounded by the
    // kernel's held table).
    if (queue_.size() >= kMaxQueued && r.kind != Kind::kHold) {
      queue_table_.Evicted(Eviction::kFull);
      return;
    }
    queue_.push_back(std::move(r));
    queue_table_.set_entries(queue_.size());
  }
  cv_.notify_one();
}

void DiscoveryWorker::Run() {
  uint64_t next_sweep = MonotonicNs() + kSweepNs, next_trim = 0;
  bool worked = false;
  int wait_ms = 200;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    // A bounded batch, then the rescans that are due: an exec storm does not starve them.
    for (int n = 0; n < 64 && !queue_.empty(); ++n) {
      Request r = std::move(queue_.front());
      queue_.pop_front();
      queue_table_.set_entries(queue_.size());
      lock.unlock();
      worked = true;
      switch (r.kind) {
        case Kind::kExec:
          tls_.OnExec(r.tgid, r.filename, r.ts_ns);
          break;
        case Kind::kExit:
          tls_.OnExit(r.tgid);
          break;
        case Kind::kHold:
          tls_.OnHold(r.tgid, r.ts_ns, MonotonicNs());
          break;
      }
      lock.lock();
      if (stop_) return;
    }
    const bool idle = queue_.empty();
    lock.unlock();
    const uint64_t now = MonotonicNs();
    const int due_ms = tls_.RunDue(now);
    // Parsing a binary allocates megabytes for a moment, in this thread's own malloc arena: hand them back
    // once the work is done, at most once a second.
    if (worked && idle && now >= next_trim) {
      malloc_trim(0);
      worked = false;
      next_trim = now + 1'000'000'000;
    }
    if (now >= next_sweep) {
      tls_.Sweep(now);
      if (holds_) holds_->Sweep();
      next_sweep = now + kSweepNs;
    }
    wait_ms = due_ms < 0 || due_ms > 200 ? 200 : due_ms;
    lock.lock();
  }
}

}  // namespace l7tap::agent
