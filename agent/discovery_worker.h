#pragma once
// The discovery thread: process execs, exits and holds, /proc scans, symbolization and attaching run here,
// off the thread that drains the ring buffer, so parsing a large new binary never delays events. The event
// thread posts requests into a bounded queue (what does not fit is counted, not waited for).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/sample.h"
#include "agent/table_stats.h"

namespace l7tap::agent {

class TlsDiscovery;
class ProcessHolds;

class DiscoveryWorker {
 public:
  static constexpr size_t kMaxQueued = 16384;
  // `holds` may be null (holding off).
  DiscoveryWorker(TlsDiscovery& tls, ProcessHolds* holds, TableRegistry& tables);
  ~DiscoveryWorker();  // stops the thread
  DiscoveryWorker(const DiscoveryWorker&) = delete;
  DiscoveryWorker& operator=(const DiscoveryWorker&) = delete;

  void Start();
  void Stop();
  void PostExec(uint32_t tgid, std::string filename, uint64_t ts_ns);
  void PostExit(uint32_t tgid);
  void PostHold(uint32_t tgid, uint64_t ts_ns);

 private:
  enum class Kind { kExec, kExit, kHold };
  struct Request {
    Kind kind;
    uint32_t tgid;
    uint64_t ts_ns;
    std::string filename;
  };
  void Post(Request r);
  void Run();

  TlsDiscovery& tls_;
  ProcessHolds* holds_;
  TableStats& queue_table_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace l7tap::agent
