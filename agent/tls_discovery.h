#pragma once
// Finds TLS libraries on the node and attaches the TLS uprobes to each file once: shared libssl mapped by any
// process (and the system's own, so processes started later are covered from their first call),
// executables that carry OpenSSL themselves (static builds, stripped ones through the address table), and Go
// executables (crypto/tls).
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/capture_probes.h"
#include "agent/file_identity.h"
#include "agent/latency_histogram.h"
#include "agent/process_holds.h"
#include "agent/sample.h"
#include "agent/symbolization_cache.h"
#include "agent/table_stats.h"

namespace l7tap::symbolizer {
class AddressTable;
class ElfFile;
}  // namespace l7tap::symbolizer

namespace l7tap::agent {

struct TlsDiscoveryLimits {
  size_t max_traced_files = 1024;      // files with uprobes; then the least recently run one is detached
  size_t max_inspected_files = 16384;  // files looked at and found without TLS, remembered to skip them
  size_t max_pending_rescans = 4096;   // rescans of processes after exec (their libraries map later)
};

// A file with TLS uprobes, as /debug lists it.
struct TracedFileInfo {
  std::string path;     // where it was found
  std::string kind;     // library, executable (OpenSSL linked in) or go
  std::string capture;  // keys (the key-log hook) or plaintext (read/write probes)
  std::string library, version;
};

// Keys wherever a file's key-log hook is found (auto), or only there (keys), or never (plaintext).
enum class TlsCaptureMode { kAuto, kKeys, kPlaintext };

class TlsDiscovery {
 public:
  TlsDiscovery(CaptureProbes& probes, const symbolizer::AddressTable* table, uint32_t self_tgid,
               TableRegistry& tables, ProbePlacement placement = ProbePlacement::kOptimized,
               TlsDiscoveryLimits limits = {}, TlsCaptureMode capture = TlsCaptureMode::kPlaintext);
  ~TlsDiscovery();
  TlsDiscovery(const TlsDiscovery&) = delete;
  TlsDiscovery& operator=(const TlsDiscovery&) = delete;

  // Processes are cleared for holding (ProcessHolds) whenever they are scanned. Before ScanNode.
  void SetHolds(ProcessHolds* holds) { holds_ = holds; }
  // At start: the system library directories and every running process.
  void ScanNode();
  // A process called exec(): its executable now, its mapped libraries shortly (the loader maps them after
  // exec returns).
  // `filename` (as given to execve) is used when the process is already gone.
  void OnExec(uint32_t tgid, const std::string& filename, uint64_t now_ns);
  // A process ended: the files it used may be detached once deleted.
  void OnExit(uint32_t tgid);
  // The probes hold a process: inspects what it runs and maps now, then resumes it. `held_ns`: when it
  // stopped.
  void OnHold(uint32_t tgid, uint64_t held_ns, uint64_t now_ns);
  // Runs the rescans that are due; returns the delay until the next one in ms (-1: none pending).
  int RunDue(uint64_t now_ns);
  // Forgets processes gone unseen; detaches files that were deleted or replaced and that no process known
  // to use them still runs; files in use count as run now.
  void Sweep(uint64_t now_ns);

  std::vector<Sample> Samples() const;
  // Snapshots for /debug, from any thread.
  std::vector<TracedFileInfo> TracedFiles() const;
  size_t processes_followed() const { return processes_followed_.load(std::memory_order_relaxed); }

 private:
  enum class Kind { kLibrary, kExecutable };
  struct Rescan {
    uint32_t tgid;
    uint64_t exec_ns;  // when it called exec (for l7tap_attach_duration_seconds)
  };
  struct Traced {
    AttachmentId id;
    std::string name;   // where it was found, to see whether it is still there
    std::string label;  // (library, version) for l7tap_tls_libraries_attached
    std::string version;
    bool keys;  // a key-log hook (keys mode), not plaintext probes
    uint64_t last_run_ns;
    std::set<uint32_t> users;  // processes seen running or mapping it
    int path_fd = -1;          // O_PATH: tells when the file is deleted, whatever mount namespace it is in
    std::shared_ptr<FileIdentity> identity;  // an overlay's lower file, held open while its probes stay
  };
  // `exec_ns`: when the process called exec, if this scan follows it (0: not measured). `learn_all`: every
  // file it maps is known from now on (at start).
  void ScanProcess(uint32_t tgid, bool executable, uint64_t now_ns, uint64_t exec_ns = 0,
                   bool learn_all = false);
  // False when the file could not be opened (gone, or no permission: counted).
  bool Consider(const std::string& path, Kind kind, uint32_t user, uint64_t now_ns,
                const std::string& shown_name = {});
  // Go executables: attaches the crypto/tls probes or counts why not. False: not a Go binary.
  bool ConsiderGo(const symbolizer::ElfFile& file, int fd, const std::string& path, const std::string& name,
                  const FileKey& key, uint32_t user, uint64_t now_ns);
  // Keys mode: attaches the file's key-log hook. True when attached, or when it is not and keys mode
  // allows nothing else (skipped and counted); false: go on with the plaintext probes.
  bool ConsiderKeyLog(const symbolizer::ElfFile& file, int fd, const std::string& path,
                      const std::string& name, const FileKey& key, bool go, const std::string& library,
                      const std::string& version, uint32_t user, uint64_t now_ns);
  void Keep(const FileKey& key, int fd, CaptureProbes::Attached attached, const std::string& name,
            const std::string& library, const std::string& version, uint32_t user, uint64_t now_ns,
            bool keys = false);
  void Inspected(const FileKey& key, uint64_t now_ns);
  std::string AfterExec() const;
  void Detach(std::map<FileKey, Traced>::iterator it, Eviction why);
  void Skip(const std::string& name, const std::string& reason, std::string why, bool log = true);

  CaptureProbes& probes_;
  const symbolizer::AddressTable* table_;
  uint32_t self_tgid_;
  ProbePlacement placement_;
  TlsDiscoveryLimits limits_;
  TlsCaptureMode capture_;
  std::map<FileKey, Traced> traced_;
  std::map<FileKey, uint64_t> inspected_;          // file -> last seen (no TLS in it)
  std::map<uint32_t, std::set<FileKey>> used_by_;  // process -> traced files it uses
  SymbolizationCache cache_;
  std::string content_key_;  // of the file being considered (empty: none)
  std::shared_ptr<FileIdentity>
      identity_;                         // of the file being considered, where it is an overlay's lower file
  std::multimap<uint64_t, Rescan> due_;  // when (monotonic ns) -> process to rescan
  ProcessHolds* holds_ = nullptr;
  // While a scan that follows an exec runs: its time, and what kind of file is being considered.
  uint64_t exec_ns_ = 0;
  const char* considering_ = "library";
  LatencyHistogram attach_go_, attach_executable_, attach_library_;
  TableStats& traced_table_;
  TableStats& inspected_table_;
  TableStats& rescans_table_;

  mutable std::mutex mu_;  // guards what Samples() reads from the metrics thread
  struct AttachedKey {
    std::string library, version;
    bool keys;
    auto operator<=>(const AttachedKey&) const = default;
  };
  std::map<AttachedKey, int> attached_;        // files
  std::map<std::string, uint64_t> errors_;     // reason -> files skipped
  std::map<FileKey, TracedFileInfo> files_;    // what traced_ holds, for TracedFiles()
  std::atomic<size_t> processes_followed_{0};  // processes using traced files (used_by_), as of RunDue
};

}  // namespace l7tap::agent
