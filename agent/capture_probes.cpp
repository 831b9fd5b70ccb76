#include "agent/capture_probes.h"

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

#include "capture.skel.h"

namespace l7tap::agent {
namespace {

bool g_libbpf_verbose = false;

int PrintLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  (void)level;
  if (!g_libbpf_verbose) return 0;
  return vfprintf(stderr, fmt, args);
}

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(v));
  return buf;
}

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

Result<std::unique_ptr<CaptureProbes>> CaptureProbes::Load(const ProbeOptions& o) {
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

  ::capture* skel = capture__open();
  if (!skel) return Error{"opening the BPF object failed (" + Errno(errno) + ")"};
  std::unique_ptr<CaptureProbes> probes(new CaptureProbes(skel, backend));

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
    else if (!name.starts_with("ssl_"))  // TLS uprobes are attached per file, later
      probes->programs_attached_++;
  }

  if (int err = capture__load(skel); err) return Error{LoadFailure(err)};

  for (uint32_t pid : o.pids) {
    uint8_t one = 1;
    bpf_map__update_elem(skel->maps.pid_filter, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
  }
  if (!o.attach) return probes;

  if (auto tracefs = EnsureTracefs(); !tracefs) return Error{tracefs.error()};

  if (int err = capture__attach(skel); err) {
    return Error{std::string("attaching the ") + BackendName(backend) + " syscall probes failed (" +
                 Errno(err) + "); rerun with --verbose for details" +
                 (backend == SyscallBackend::kKprobe ? ", or use --syscall-probes=tracepoint" : "")};
  }
  return probes;
}

CaptureProbes::~CaptureProbes() {
  for (bpf_link* l : tls_links_) bpf_link__destroy(l);
  capture__destroy(skel_);
}

int CaptureProbes::ringbuf_fd() const { return bpf_map__fd(skel_->maps.events); }

KernelCounters CaptureProbes::ReadCounters() const {
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

void CaptureProbes::ForgetConnection(uint32_t tgid, int32_t fd) {
  uint64_t key = (uint64_t(tgid) << 32) | uint32_t(fd);
  bpf_map__delete_elem(skel_->maps.conns, &key, sizeof(key), 0);
  bpf_map__delete_elem(skel_->maps.muted, &key, sizeof(key), 0);
}

void CaptureProbes::MuteConnection(uint32_t tgid, int32_t fd, uint64_t generation, bool tls) {
  uint64_t key = (uint64_t(tgid) << 32) | uint32_t(fd);
  struct {
    uint64_t generation;
    uint32_t source;
    uint32_t pad;
  } value = {generation, tls ? uint32_t(L7TAP_SRC_TLS) : uint32_t(L7TAP_SRC_SYSCALL), 0};
  bpf_map__update_elem(skel_->maps.muted, &key, sizeof(key), &value, sizeof(value), BPF_ANY);
}

Result<size_t> CaptureProbes::AttachTls(const std::string& path,
                                        const std::map<std::string, uint64_t>& offsets,
                                        const std::string& name) {
  struct Pair {
    const char* function;
    bpf_program* entry;
    bpf_program* exit;
  };
  const Pair pairs[] = {
      {"SSL_read", skel_->progs.ssl_read_enter, skel_->progs.ssl_data_exit},
      {"SSL_read_ex", skel_->progs.ssl_read_ex_enter, skel_->progs.ssl_data_exit},
      {"SSL_write", skel_->progs.ssl_write_enter, skel_->progs.ssl_data_exit},
      {"SSL_write_ex", skel_->progs.ssl_write_ex_enter, skel_->progs.ssl_data_exit},
      {"SSL_do_handshake", skel_->progs.ssl_handshake_enter, skel_->progs.ssl_handshake_exit},
  };
  std::vector<bpf_link*> links;
  for (const Pair& p : pairs) {
    auto it = offsets.find(p.function);
    if (it == offsets.end()) continue;
    for (bool ret : {false, true}) {
      // pid -1: every process that maps this file, now and later.
      bpf_link* link = bpf_program__attach_uprobe(ret ? p.exit : p.entry, ret, -1, path.c_str(), it->second);
      if (!link) {
        int err = errno;
        for (bpf_link* l : links) bpf_link__destroy(l);
        return Error{(name.empty() ? path : name) + ": attaching a uprobe to " + p.function + " at 0x" +
                     Hex(it->second) + " failed (" + Errno(err) + ")"};
      }
      links.push_back(link);
    }
  }
  tls_links_.insert(tls_links_.end(), links.begin(), links.end());
  return links.size();
}

}  // namespace l7tap::agent
