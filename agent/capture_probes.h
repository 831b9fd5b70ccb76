#pragma once
// Loads and attaches the socket syscall probes (probes/syscalls.bpf.c) with one of two backends.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "agent/config.h"
#include "common/result.h"
#include "probes/events.h"

struct syscalls;  // bpftool skeleton

namespace l7tap::agent {

enum class SyscallBackend { kTracepoint, kKprobe };
const char* BackendName(SyscallBackend b);

// True when the kernel can attach kprobes (the kprobe perf PMU exists).
bool KernelHasKprobes();

struct ProbeOptions {
  SyscallBackendChoice choice = SyscallBackendChoice::kAuto;
  uint32_t max_payload_bytes = L7TAP_DEFAULT_PAYLOAD;
  std::vector<uint32_t> pids;
  uint32_t self_tgid = 0;
  uint32_t ringbuf_bytes = 8u << 20;
  bool attach = true;  // false: load only (verifier check), attach nothing
};

using KernelCounters = std::array<uint64_t, L7TAP_CNT__MAX>;

class SyscallProbes {
 public:
  static Result<std::unique_ptr<SyscallProbes>> Load(const ProbeOptions& options);
  ~SyscallProbes();
  SyscallProbes(const SyscallProbes&) = delete;
  SyscallProbes& operator=(const SyscallProbes&) = delete;

  SyscallBackend backend() const { return backend_; }
  int ringbuf_fd() const;
  size_t programs_loaded() const { return programs_loaded_; }
  // Sum over CPUs of the kernel-side counters (enum l7tap_counter).
  KernelCounters ReadCounters() const;
  // Drops the kernel's record of a connection whose process is gone.
  void ForgetConnection(uint32_t tgid, int32_t fd);
  // Stops sending the payload of this connection generation (user space ignores it from now on).
  void MuteConnection(uint32_t tgid, int32_t fd, uint64_t generation);

 private:
  SyscallProbes(::syscalls* skel, SyscallBackend backend) : skel_(skel), backend_(backend) {}
  ::syscalls* skel_;
  SyscallBackend backend_;
  size_t programs_loaded_ = 0;
  int ncpus_ = 1;
};

// Routes libbpf's own diagnostics to stderr only when verbose (errors are reported by l7tap itself).
void SetLibbpfVerbose(bool verbose);

}  // namespace l7tap::agent
