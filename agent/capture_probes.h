#pragma once
// Loads the capture object (probes/capture.bpf.c): attaches its socket syscall probes with one of two
// backends, and TLS library uprobes per file on request.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/attach_plan.h"
#include "agent/config.h"
#include "common/result.h"
#include "probes/events.h"

struct capture;  // bpftool skeleton
struct bpf_link;
struct bpf_program;

namespace l7tap::agent {

class LinkDetacher;

enum class SyscallBackend { kTracepoint, kKprobe, kOff };  // kOff: no syscall probes (benchmarks)

const char* BackendName(SyscallBackend b);

// True when the kernel can attach kprobes (the kprobe perf PMU exists).
bool KernelHasKprobes();
// Whether the kernel's BTF has this struct (a feature's, or a tracepoint's record).
bool KernelHasStruct(const char* name);
// Multi-uprobe links (6.6+): every uprobe of a file in one link, attachable without CAP_SYS_ADMIN.
bool KernelHasUprobeMulti();

struct ProbeOptions {
  SyscallBackendChoice choice = SyscallBackendChoice::kAuto;
  uint32_t max_payload_bytes = L7TAP_DEFAULT_PAYLOAD;
  // Selection in the kernel (probes/state.bpf.h): verdicts by process (user space writes them through
  // proc_verdicts_fd()), cgroups checked per event, ports judged per connection.
  struct Selection {
    bool filter_processes = false;  // a verdict is needed
    bool select_only = false;       // a process selector was given: what none selects is not traced
    bool at_exec = false;           // every exec is reported (user space decides again)
    std::vector<std::pair<uint64_t, uint32_t>> cgroups, exclude_cgroups;  // (id, level)
    std::vector<uint16_t> ports, exclude_ports;
  } selection;
  uint32_t self_tgid = 0;
  uint32_t ringbuf_bytes = 8u << 20;
  uint32_t max_connections = L7TAP_DEFAULT_MAX_CONNS;  // capacity of the conns and muted maps
  uint64_t wakeup_bytes = 0;               // wake the reader once this much waits; 0: on every event
  std::vector<uint16_t> dns_ports = {53};  // UDP/TCP ports whose traffic is DNS
  bool attach = true;                      // false: load only (verifier check), attach nothing
  // Keys mode (--tls-capture keys|auto): TLS ciphertext is sent record by record for the agent to decrypt;
  // application-data records past a call's first event copy tls_record_bytes (>= 5) each.
  bool tls_keys = false;
  uint32_t tls_record_bytes = L7TAP_MAX_PAYLOAD;
  // --hold-new-processes: note the files processes run and map, stop those not cleared at their first TLS
  // bytes (probes/holds.bpf.h).
  bool hold_new = false;
};

using KernelCounters = std::array<uint64_t, L7TAP_CNT__MAX>;

// What a file's TLS uprobes are, for detaching them later (AttachTls, AttachGo).
using AttachmentId = uint64_t;

class CaptureProbes {
 public:
  static Result<std::unique_ptr<CaptureProbes>> Load(const ProbeOptions& options);
  ~CaptureProbes();
  CaptureProbes(const CaptureProbes&) = delete;
  CaptureProbes& operator=(const CaptureProbes&) = delete;

  SyscallBackend backend() const { return backend_; }
  int ringbuf_fd() const;
  // The kernel tables the sweeper keeps (probes/events.h has their keys and values).
  int conns_fd() const;
  int muted_fd() const;
  int ssl_fds_fd() const;
  int go_calls_fd() const;
  // Holding new processes (probes/holds.bpf.h).
  int known_files_fd() const;
  int proc_files_fd() const;
  int proc_ack_fd() const;
  int held_fd() const;
  int proc_verdicts_fd() const;
  // Stops (or resumes) holding processes from now on; those held stay so until released.
  void SetHoldEnabled(bool enabled);
  uint32_t max_connections() const { return max_connections_; }
  // Syscall and process links attached at load (each one a program attached to its hook).
  size_t programs_attached() const { return programs_attached_; }
  // Uprobes attached to TLS libraries and Go binaries now.
  size_t tls_probes_attached() const { return tls_probes_.load(std::memory_order_relaxed); }
  // Go offset slots in use (of L7TAP_MAX_GO_BINARIES).
  size_t go_slots_used() const { return go_slots_used_.load(std::memory_order_relaxed); }
  // Sum over CPUs of the kernel-side counters (enum l7tap_counter).
  KernelCounters ReadCounters() const;
  // The kernel's own count of returns its kretprobes missed (all calls of the probed syscalls, followed or
  // not), where it reports one (kprobe backend, kernel 6.7+); nullopt elsewhere.
  std::optional<uint64_t> KretprobesMissed() const;
  // Drops the kernel's record of a connection (true if there was one): of that generation only, unless
  // `generation` is 0 (the process is gone: whatever is recorded for the fd).
  bool ForgetConnection(uint32_t tgid, int32_t fd, uint64_t generation = 0);
  // Stops sending the payload of this connection generation from one source (user space ignores it).
  // False when the muted table is full (the bytes keep coming; nothing is lost).
  bool MuteConnection(uint32_t tgid, int32_t fd, uint64_t generation, bool tls);
  struct Attached {
    AttachmentId id = 0;
    size_t probes = 0;
    uint32_t slot = 0;  // Go: for SetGoOffsets
  };
  // Attaches a plan's uprobes to one file (pid -1: every process that maps it, now and later); a Go plan gets
  // a go_offsets slot of its own, whose number the loader adds to each cookie. On error none stay attached;
  // errors call the file `name` (default: `path`).
  Result<Attached> Attach(const std::string& path, const AttachPlan& plan, const std::string& name = {});
  // Replaces the struct offsets the probes of one attached Go executable use.
  Result<Ok> SetGoOffsets(uint32_t slot, const GoOffsetsPlan& offsets);
  // Detaches one file's uprobes (and frees its Go slot) on the detaching thread: the caller never waits for
  // the kernel's grace periods, unless kMaxPendingDetaches links are waiting already.
  void Detach(AttachmentId id);
  // Returns once everything Detach was given is detached.
  void FinishDetaching();
  // Links given to Detach and not detached yet.
  size_t detaches_pending() const;
  // Detaches the caller waited for because kMaxPendingDetaches links were waiting.
  size_t detaches_ran_inline() const;
  static constexpr size_t kMaxPendingDetaches = 4096;

 private:
  struct Attachment {
    std::vector<struct bpf_link*> links;
    std::vector<int> multi_link_fds;  // one multi-uprobe link per program (kernel 6.6+)
    size_t probes = 0;
    std::optional<uint32_t> go_slot;
  };
  CaptureProbes(::capture* skel, SyscallBackend backend);
  AttachmentId Keep(Attachment a);
  bpf_program* Program(UprobeProgram p) const;
  ::capture* skel_;
  SyscallBackend backend_;
  size_t programs_attached_ = 0;
  uint32_t max_connections_ = L7TAP_DEFAULT_MAX_CONNS;
  int ncpus_ = 1;
  std::map<AttachmentId, Attachment> attachments_;
  AttachmentId next_id_ = 1;
  std::atomic<size_t> tls_probes_{0};    // read by the metrics thread
  std::mutex slots_mu_;                  // the detaching thread frees slots
  std::vector<uint32_t> free_go_slots_;  // detached binaries' slots, reused first
  std::atomic<uint32_t> go_slots_used_{0};
  uint32_t go_slots_ever_ = 0;
  // Uprobes in one multi-uprobe link per program and file (kernel 6.6+), else a perf-event link each: fewer
  // grace periods at detach, and no CAP_SYS_ADMIN (the perf uprobe PMU wants it; the bpf link does not).
  bool uprobe_multi_ = false;
  std::unique_ptr<LinkDetacher> detacher_;  // last: its jobs use the members above
};

// Routes libbpf's own diagnostics to stderr only when verbose (errors are reported by l7tap itself).
void SetLibbpfVerbose(bool verbose);

}  // namespace l7tap::agent
