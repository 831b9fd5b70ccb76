#include "agent/syscall_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "syscalls.skel.h"

namespace l7tap::agent {
namespace {

bool g_libbpf_verbose = false;

int PrintLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  (void)level;
  if (!g_libbpf_verbose) return 0;
  return vfprintf(stderr, fmt, args);
}

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

std::string LoadFailure(int err) {
  if (err == -EPERM || err == -EACCES)
    return "loading BPF programs was refused (" + Errno(err) +
           "): run l7tap as root or with CAP_BPF and CAP_PERFMON";
  return "loading BPF programs failed (" + Errno(err) + "); rerun with --verbose for the verifier log";
}

// Tracepoints and kprobes are found through tracefs; a node may not have it mounted (minimal images).
Result<Ok> EnsureTracefs() {
  if (std::filesystem::exists("/sys/kernel/tracing/events") ||
      std::filesystem::exists("/sys/kernel/debug/tracing/events"))
    return Ok{};
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return Error{"tracefs is not mounted and mounting it on /sys/kernel/tracing failed (" + Errno(errno) +
                 "): run 'mount -t tracefs tracefs /sys/kernel/tracing' as root, then start l7tap again"};
  return Ok{};
}

}  // namespace

const char* BackendName(SyscallBackend b) { return b == SyscallBackend::kKprobe ? "kprobe" : "tracepoint"; }

bool KernelHasKprobes() { return std::filesystem::exists("/sys/bus/event_source/devices/kprobe/type"); }

void SetLibbpfVerbose(bool verbose) {
  g_libbpf_verbose = verbose;
  libbpf_set_print(PrintLibbpf);
}

Result<std::unique_ptr<SyscallProbes>> SyscallProbes::Load(const ProbeOptions& o) {
  if (!std::filesystem::exists("/sys/kernel/btf/vmlinux"))
    return Error{
        "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): l7tap needs a kernel built "
        "with CONFIG_DEBUG_INFO_BTF=y"};
  SyscallBackend backend = SyscallBackend::kTracepoint;
  switch (o.choice) {
    case SyscallBackendChoice::kAuto:
      backend = KernelHasKprobes() ? SyscallBackend::kKprobe : SyscallBackend::kTracepoint;
      break;
    case SyscallBackendChoice::kTracepoint:
      backend = SyscallBackend::kTracepoint;
      break;
    case SyscallBackendChoice::kKprobe:
      backend = SyscallBackend::kKprobe;
      if (o.attach && !KernelHasKprobes())
        return Error{
            "--syscall-probes=kprobe: this kernel cannot attach kprobes "
            "(/sys/bus/event_source/devices/kprobe is missing, CONFIG_KPROBES is off); use "
            "--syscall-probes=tracepoint or auto"};
      break;
  }

  ::syscalls* skel = syscalls__open();
  if (!skel) return Error{"opening the BPF object failed (" + Errno(errno) + ")"};
  std::unique_ptr<SyscallProbes> probes(new SyscallProbes(skel, backend));

  skel->rodata->self_tgid = o.self_tgid;
  skel->rodata->max_payload = o.max_payload_bytes;
  skel->rodata->filter_pids = !o.pids.empty();
  bpf_map__set_max_entries(skel->maps.events, o.ringbuf_bytes);
  probes->ncpus_ = libbpf_num_possible_cpus();
  if (probes->ncpus_ <= 0) return Error{"cannot count possible CPUs (" + Errno(probes->ncpus_) + ")"};
  bpf_map__set_max_entries(skel->maps.scratch_map, probes->ncpus_);

  // Both backends live in one object; only the chosen one is loaded.
  const char* drop = backend == SyscallBackend::kKprobe ? "tp_" : "ks_";
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string_view name = bpf_program__name(prog);
    if (name.starts_with(drop))
      bpf_program__set_autoload(prog, false);
    else
      probes->programs_loaded_++;
  }

  if (int err = syscalls__load(skel); err) return Error{LoadFailure(err)};

  for (uint32_t pid : o.pids) {
    uint8_t one = 1;
    bpf_map__update_elem(skel->maps.pid_filter, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
  }
  if (!o.attach) return probes;

  if (auto tracefs = EnsureTracefs(); !tracefs) return Error{tracefs.error()};

  if (int err = syscalls__attach(skel); err) {
    return Error{std::string("attaching the ") + BackendName(backend) + " syscall probes failed (" +
                 Errno(err) + "); rerun with --verbose for details" +
                 (backend == SyscallBackend::kKprobe ? ", or use --syscall-probes=tracepoint" : "")};
  }
  return probes;
}

SyscallProbes::~SyscallProbes() { syscalls__destroy(skel_); }

int SyscallProbes::ringbuf_fd() const { return bpf_map__fd(skel_->maps.events); }

KernelCounters SyscallProbes::ReadCounters() const {
  KernelCounters out{};
  std::vector<uint64_t> per_cpu(ncpus_);
  for (uint32_t i = 0; i < out.size(); ++i) {
    if (bpf_map__lookup_elem(skel_->maps.counters, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0)
      continue;
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

void SyscallProbes::ForgetConnection(uint32_t tgid, int32_t fd) {
  uint64_t key = (uint64_t(tgid) << 32) | uint32_t(fd);
  bpf_map__delete_elem(skel_->maps.conns, &key, sizeof(key), 0);
  bpf_map__delete_elem(skel_->maps.muted, &key, sizeof(key), 0);
}

void SyscallProbes::MuteConnection(uint32_t tgid, int32_t fd, uint64_t generation) {
  uint64_t key = (uint64_t(tgid) << 32) | uint32_t(fd);
  bpf_map__update_elem(skel_->maps.muted, &key, sizeof(key), &generation, sizeof(generation), BPF_ANY);
}

}  // namespace l7tap::agent
