#pragma once
// Loads the capture object (probes/capture.bpf.c): attaches its socket syscall probes with one of two
// backends, and TLS library uprobes per file on request.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/config.h"
#include "common/result.h"
#include "probes/events.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/probe_placement.h"

struct capture;  // bpftool skeleton
struct bpf_link;

namespace l7tap::agent {

enum class SyscallBackend { kTracepoint, kKprobe, kOff };  // kOff: no syscall probes (benchmarks)

const char* BackendName(SyscallBackend b);

// True when the kernel can attach kprobes (the kprobe perf PMU exists).
bool KernelHasKprobes();

struct ProbeOptions {
  SyscallBackendChoice choice = SyscallBackendChoice::kAuto;
  uint32_t max_payload_bytes = L7TAP_DEFAULT_PAYLOAD;
  std::vector<uint32_t> pids;
  uint32_t self_tgid = 0;
  uint32_t ringbuf_bytes = 8u << 20;
  uint64_t wakeup_bytes = 0;               // wake the reader once this much waits; 0: on every event
  std::vector<uint16_t> dns_ports = {53};  // UDP/TCP ports whose traffic is DNS
  bool attach = true;                      // false: load only (verifier check), attach nothing
};

using KernelCounters = std::array<uint64_t, L7TAP_CNT__MAX>;

class CaptureProbes {
 public:
  static Result<std::unique_ptr<CaptureProbes>> Load(const ProbeOptions& options);
  ~CaptureProbes();
  CaptureProbes(const CaptureProbes&) = delete;
  CaptureProbes& operator=(const CaptureProbes&) = delete;

  SyscallBackend backend() const { return backend_; }
  int ringbuf_fd() const;
  // Syscall and process programs attached at load.
  size_t programs_attached() const { return programs_attached_; }
  // Uprobes attached to TLS libraries and Go binaries so far.
  size_t tls_probes_attached() const { return tls_links_.size() + (go_multi_ ? go_probes_ : 0); }
  // Sum over CPUs of the kernel-side counters (enum l7tap_counter).
  KernelCounters ReadCounters() const;
  // Drops the kernel's record of a connection whose process is gone.
  void ForgetConnection(uint32_t tgid, int32_t fd);
  // Stops sending the payload of this connection generation from one source (user space ignores it).
  void MuteConnection(uint32_t tgid, int32_t fd, uint64_t generation, bool tls);
  // Attaches the TLS uprobes to one file, given the file offsets of its functions (SSL_read, SSL_write,
  // SSL_read_ex, SSL_write_ex, SSL_do_handshake; missing ones are skipped). Returns probes attached. Errors
  // call the file `name` (default: `path`).
  // kTlsReadWorker / kTlsWriteWorker: OpenSSL's internal worker that both SSL_read and SSL_read_ex (or the
  // write pair) call, probed instead of them when probe placement found it. `single_step`: functions whose
  // attach instruction the kernel single-steps (counted apart).
  Result<size_t> AttachTls(const std::string& path, const std::map<std::string, uint64_t>& offsets,
                           const std::string& name = {}, const std::set<std::string>& single_step = {});
  // Attaches the Go crypto/tls uprobes to one Go executable: crypto/tls.(*Conn).Write past its stack check,
  // (*Conn).Read there and at every RET (where `placement` says), with the binary's struct offsets
  // (*tls.Conn -> fd) in a slot of their own.
  // On error none stay attached.
  struct GoAttachment {
    size_t probes = 0;
    uint32_t slot = 0;  // for SetGoOffsets
  };
  Result<GoAttachment> AttachGo(const std::string& path, const symbolizer::GoBinary& binary,
                                ProbePlacement placement, const std::string& name = {});
  // Replaces the struct offsets the probes of one attached Go executable use.
  Result<Ok> SetGoOffsets(uint32_t slot, const symbolizer::GoFdOffsets& offsets);

 private:
  CaptureProbes(::capture* skel, SyscallBackend backend) : skel_(skel), backend_(backend) {}
  ::capture* skel_;
  SyscallBackend backend_;
  size_t programs_attached_ = 0;
  int ncpus_ = 1;
  std::vector<struct bpf_link*> tls_links_;
  uint32_t go_slots_used_ = 0;
  bool go_multi_ = false;  // Go probes in one multi-uprobe link per binary (kernel 6.6+), else a link each
  size_t go_probes_ = 0;
  std::vector<int> go_link_fds_;  // multi-uprobe links
};

// Routes libbpf's own diagnostics to stderr only when verbose (errors are reported by l7tap itself).
void SetLibbpfVerbose(bool verbose);

}  // namespace l7tap::agent
