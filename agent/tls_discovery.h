#pragma once
// Finds TLS libraries on the node and attaches the TLS uprobes to each file once: shared libssl mapped by any
// process (and the system's own, so processes started later are covered from their first call),
// executables that carry OpenSSL themselves (static builds, stripped ones through the address table), and Go
// executables (crypto/tls).
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/capture_probes.h"
#include "agent/metrics.h"

namespace l7tap::symbolizer {
class AddressTable;
class ElfFile;
}  // namespace l7tap::symbolizer

namespace l7tap::agent {

class TlsDiscovery {
 public:
  TlsDiscovery(CaptureProbes& probes, const symbolizer::AddressTable* table, uint32_t self_tgid,
               ProbePlacement placement = ProbePlacement::kOptimized);

  // At start: the system library directories and every running process.
  void ScanNode();
  // A process called exec(): its executable now, its mapped libraries shortly (the loader maps them after
  // exec returns).
  // `filename` (as given to execve) is used when the process is already gone.
  void OnExec(uint32_t tgid, const std::string& filename, uint64_t now_ns);
  // Runs the rescans that are due; returns the delay until the next one in ms (-1: none pending).
  int RunDue(uint64_t now_ns);

  std::vector<Sample> Samples() const;

 private:
  enum class Kind { kLibrary, kExecutable };
  void ScanProcess(uint32_t tgid, bool executable);
  void Consider(const std::string& path, Kind kind);
  // Go executables: attaches the crypto/tls probes or counts why not. False: not a Go binary.
  bool ConsiderGo(const symbolizer::ElfFile& file, const std::string& path, const std::string& name);
  void Skip(const std::string& name, const std::string& reason, std::string why);

  CaptureProbes& probes_;
  const symbolizer::AddressTable* table_;
  uint32_t self_tgid_;
  ProbePlacement placement_;
  std::set<std::pair<dev_t, ino_t>> seen_;
  std::multimap<uint64_t, uint32_t> due_;  // when (monotonic ns) -> process to rescan

  mutable std::mutex mu_;  // guards what Samples() reads from the metrics thread
  std::map<std::pair<std::string, std::string>, int> attached_;  // (library, version) -> files
  std::map<std::string, uint64_t> errors_;                       // reason -> files skipped
  size_t probes_attached_ = 0;
};

}  // namespace l7tap::agent
