#include "agent/capture_probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include "agent/link_detacher.h"
#include "agent/log.h"
#include "capture.skel.h"

namespace l7tap::agent {
namespace {

bool g_libbpf_verbose = false;

int PrintLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (!g_libbpf_verbose) return 0;
  VLogf(level == LIBBPF_WARN ? LogLevel::kWarn : LogLevel::kInfo, fmt, args);
  return 0;
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
           "): l7tap needs CAP_BPF and CAP_PERFMON ('l7tap check' lists what is missing)";
  return "loading BPF programs failed (" + Errno(err) + "); rerun with --verbose for the verifier log";
}

// Tracepoints and kprobes are found through tracefs; a node may not have it mounted (minimal images).
Result<Ok> EnsureTracefs() {
  for (const char* events : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"}) {
    std::error_code ec;  // tracefs is root's (mode 0700): without CAP_DAC_READ_SEARCH it cannot be searched
    if (std::filesystem::exists(events, ec)) return Ok{};
    if (ec.value() == EACCES)
      return Error{std::string("cannot search ") + events + " (" + Errno(EACCES) +
                   "): grant CAP_DAC_READ_SEARCH"};
  }
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return Error{"tracefs is not mounted and mounting it on /sys/kernel/tracing failed (" + Errno(errno) +
                 "): run 'mount -t tracefs tracefs /sys/kernel/tracing' as root, then start l7tap again"};
  return Ok{};
}

// Multi-uprobe links (kernel 6.6+): one link for every probe of a binary, detached with one grace period
// instead of one per probe. libbpf 1.1 predates them, so the link is created with the bpf syscall itself.
constexpr uint32_t kTraceUprobeMulti = 48;  // BPF_TRACE_UPROBE_MULTI

constexpr uint32_t kUprobeMultiReturn = 1;  // BPF_F_UPROBE_MULTI_RETURN

Result<int> AttachUprobeMulti(int prog_fd, const std::string& path, const std::vector<uint64_t>& offsets,
                              const std::vector<uint64_t>& cookies, bool retprobe) {
  struct {  // union bpf_attr's link_create, uprobe_multi member (uapi 6.6+)
    uint32_t prog_fd, target_fd, attach_type, flags;
    uint64_t path, offsets, ref_ctr_offsets, cookies;
    uint32_t cnt, multi_flags, pid;
  } attr{};
  attr.prog_fd = uint32_t(prog_fd);
  attr.attach_type = kTraceUprobeMulti;
  attr.path = uint64_t(uintptr_t(path.c_str()));
  attr.offsets = uint64_t(uintptr_t(offsets.data()));
  attr.cookies = uint64_t(uintptr_t(cookies.data()));
  attr.cnt = uint32_t(offsets.size());
  attr.multi_flags = retprobe ? kUprobeMultiReturn : 0;
  const long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  if (fd < 0) return Error{Errno(errno)};
  return int(fd);
}

// The skeleton's programs that are attached, with their name and link slot (bpf_prog_skeleton entries are
// prog_skel_sz apart: the struct may grow in later libbpf).
template <typename F>
void ForEachAttached(::capture* skel, F visit) {
  const bpf_object_skeleton* s = skel->skeleton;
  for (int i = 0; i < s->prog_cnt; ++i) {
    auto* prog = reinterpret_cast<const bpf_prog_skeleton*>(reinterpret_cast<const char*>(s->progs) +
                                                            size_t(i) * size_t(s->prog_skel_sz));
    if (prog->link && *prog->link) visit(prog->name, *prog->link);
  }
}

}  // namespace

bool KernelHasStruct(const char* name) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  const bool has = btf__find_by_name_kind(vmlinux, name, BTF_KIND_STRUCT) > 0;
  btf__free(vmlinux);
  return has;
}

bool KernelHasUprobeMulti() { return KernelHasStruct("bpf_uprobe_multi_link"); }

const char* BackendName(SyscallBackend b) {
  return b == SyscallBackend::kKprobe ? "kprobe" : b == SyscallBackend::kOff ? "off" : "tracepoint";
}

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
    case SyscallBackendChoice::kOff:
      backend = SyscallBackend::kOff;
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

  const ProbeOptions::Selection& sel = o.selection;
  if (sel.cgroups.size() > L7TAP_MAX_CGROUPS || sel.exclude_cgroups.size() > L7TAP_MAX_CGROUPS)
    return Error{"--cgroup, --exclude-cgroup: at most " + std::to_string(L7TAP_MAX_CGROUPS) + " each"};
  if (sel.ports.size() + sel.exclude_ports.size() > L7TAP_MAX_PORTS)
    return Error{"--port, --exclude-port: at most " + std::to_string(L7TAP_MAX_PORTS) + " in all"};
  if ((!sel.cgroups.empty() || !sel.exclude_cgroups.empty()) &&
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_ancestor_cgroup_id, nullptr) !=
          1)
    return Error{"--cgroup, --exclude-cgroup: this kernel lacks bpf_get_current_ancestor_cgroup_id (5.7+)"};
  ::capture* skel = capture__open();
  if (!skel) return Error{"opening the BPF object failed (" + Errno(errno) + ")"};
  std::unique_ptr<CaptureProbes> probes(new CaptureProbes(skel, backend));
  probes->max_connections_ = o.max_connections;
  bpf_map__set_max_entries(skel->maps.conns, o.max_connections);
  bpf_map__set_max_entries(skel->maps.muted, o.max_connections);

  skel->rodata->self_tgid = o.self_tgid;
  skel->rodata->max_payload = o.max_payload_bytes;
  skel->rodata->wakeup_bytes = o.wakeup_bytes;
  skel->rodata->recover_at_exit = backend == SyscallBackend::kTracepoint;
  skel->rodata->select_procs = sel.filter_processes;
  skel->rodata->select_only = sel.select_only;
  skel->rodata->select_at_exec = sel.at_exec;
  skel->rodata->sel_cgroups = uint32_t(sel.cgroups.size());
  for (size_t i = 0; i < sel.cgroups.size(); ++i) {
    skel->rodata->sel_cgroup_id[i] = sel.cgroups[i].first;
    skel->rodata->sel_cgroup_level[i] = sel.cgroups[i].second;
  }
  skel->rodata->excl_cgroups = uint32_t(sel.exclude_cgroups.size());
  for (size_t i = 0; i < sel.exclude_cgroups.size(); ++i) {
    skel->rodata->excl_cgroup_id[i] = sel.exclude_cgroups[i].first;
    skel->rodata->excl_cgroup_level[i] = sel.exclude_cgroups[i].second;
  }
  skel->rodata->select_ports = !sel.ports.empty();
  skel->rodata->exclude_ports = !sel.exclude_ports.empty();
  skel->rodata->tls_keys = o.tls_keys;
  skel->rodata->hold_new = o.hold_new;
  if (o.tls_record_bytes < 5 || o.tls_record_bytes > L7TAP_MAX_PAYLOAD)
    return Error{"--tls-record-bytes " + std::to_string(o.tls_record_bytes) + ": must be 5 to " +
                 std::to_string(L7TAP_MAX_PAYLOAD) + " (a record header is 5 bytes)"};
  skel->rodata->tls_record_copy = o.tls_record_bytes;
  // bpf_loop (5.17+) lets iovec copies walk every segment; before it, the first L7TAP_MIN_IOV.
  skel->rodata->have_bpf_loop =
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, nullptr) == 1;
  bpf_map__set_max_entries(skel->maps.events, o.ringbuf_bytes);
  probes->ncpus_ = libbpf_num_possible_cpus();
  if (probes->ncpus_ <= 0) return Error{"cannot count possible CPUs (" + Errno(probes->ncpus_) + ")"};
  bpf_map__set_max_entries(skel->maps.scratch_map, probes->ncpus_);

  // Both backends live in one object; only the chosen one is loaded.
  const char* drop = backend == SyscallBackend::kKprobe ? "tp_" : "ks_";
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string_view name = bpf_program__name(prog);
    if (name.starts_with(drop) || (backend == SyscallBackend::kOff && name.starts_with("tp_")) ||
        (!o.hold_new && name.ends_with("_enter_mmap")) ||      // only holding needs executable mappings
        (!sel.filter_processes && name == "on_process_fork"))  // only selection follows forks
      bpf_program__set_autoload(prog, false);
  }

  probes->uprobe_multi_ = KernelHasUprobeMulti();
  if (probes->uprobe_multi_) {
    bpf_object__for_each_program(prog, skel->obj) {
      std::string_view section = bpf_program__section_name(prog);
      if (section == "uprobe" || section == "uretprobe")
        bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kTraceUprobeMulti));
    }
  }

  // Attached on its own below: a kernel without io_uring lacks it; one whose tracepoint has its older name
  // and record (before 5.19: io_uring_submit_sqe) cannot even load it.
  bpf_program__set_autoattach(skel->progs.io_uring_submit, false);
  if (!KernelHasStruct("trace_event_raw_io_uring_submit_req"))
    bpf_program__set_autoload(skel->progs.io_uring_submit, false);

  if (int err = capture__load(skel); err) return Error{LoadFailure(err)};

  const uint8_t one = 1;
  for (uint16_t port : o.dns_ports) {
    if (int err = bpf_map__update_elem(skel->maps.dns_ports, &port, sizeof(port), &one, sizeof(one), BPF_ANY))
      return Error{"storing DNS port " + std::to_string(port) + " failed (" + Errno(err) + ")"};
  }
  for (auto [ports, value] : {std::pair{&sel.ports, uint8_t(L7TAP_PORT_SELECTED)},
                              std::pair{&sel.exclude_ports, uint8_t(L7TAP_PORT_EXCLUDED)}})
    for (uint16_t port : *ports)
      if (int err =
              bpf_map__update_elem(skel->maps.sel_ports, &port, sizeof(port), &value, sizeof(value), BPF_ANY))
        return Error{"storing port " + std::to_string(port) + " failed (" + Errno(err) + ")"};
  if (!o.attach) return probes;

  if (auto tracefs = EnsureTracefs(); !tracefs) return Error{tracefs.error()};

  if (int err = capture__attach(skel); err) {
    return Error{std::string("attaching the ") + BackendName(backend) + " syscall probes failed (" +
                 Errno(err) + "); rerun with --verbose for details" +
                 (backend == SyscallBackend::kKprobe ? ", or use --syscall-probes=tracepoint" : "")};
  }
  if (bpf_program__autoload(skel->progs.io_uring_submit))  // optional: the link may be null
    skel->links.io_uring_submit = bpf_program__attach(skel->progs.io_uring_submit);
  // What is attached, counted by link: a program whose hook was skipped is not attached.
  ForEachAttached(skel, [&](const char*, bpf_link*&) { probes->programs_attached_++; });
  return probes;
}

CaptureProbes::CaptureProbes(::capture* skel, SyscallBackend backend)
    : skel_(skel), backend_(backend), detacher_(std::make_unique<LinkDetacher>(kMaxPendingDetaches)) {}

CaptureProbes::~CaptureProbes() {
  detacher_.reset();  // what is being detached first
  std::vector<int> link_fds;
  std::vector<bpf_link*> links;
  for (auto& [id, a] : attachments_) {
    link_fds.insert(link_fds.end(), a.multi_link_fds.begin(), a.multi_link_fds.end());
    links.insert(links.end(), a.links.begin(), a.links.end());
  }
  DetachInParallel(link_fds, [](int fd) { close(fd); });
  // The skeleton's own links (syscall and process tracepoints), taken out so capture__destroy skips them.
  // Kprobes stay one by one: each detach flips kernel static keys, and under qemu TCG (where the kprobe
  // backend is tested here) concurrent flips livelocked the guest's text patching.
  if (backend_ != SyscallBackend::kKprobe)
    ForEachAttached(skel_,
                    [&](const char*, bpf_link*& link) { links.push_back(std::exchange(link, nullptr)); });
  DetachInParallel(links, bpf_link__destroy);
  capture__destroy(skel_);
}

int CaptureProbes::ringbuf_fd() const { return bpf_map__fd(skel_->maps.events); }
int CaptureProbes::conns_fd() const { return bpf_map__fd(skel_->maps.conns); }
int CaptureProbes::muted_fd() const { return bpf_map__fd(skel_->maps.muted); }
int CaptureProbes::ssl_fds_fd() const { return bpf_map__fd(skel_->maps.ssl_fds); }
int CaptureProbes::go_calls_fd() const { return bpf_map__fd(skel_->maps.go_calls); }
int CaptureProbes::known_files_fd() const { return bpf_map__fd(skel_->maps.known_files); }
int CaptureProbes::proc_files_fd() const { return bpf_map__fd(skel_->maps.proc_files); }
int CaptureProbes::proc_ack_fd() const { return bpf_map__fd(skel_->maps.proc_ack); }
int CaptureProbes::held_fd() const { return bpf_map__fd(skel_->maps.held); }
int CaptureProbes::proc_verdicts_fd() const { return bpf_map__fd(skel_->maps.proc_verdicts); }
void CaptureProbes::SetHoldEnabled(bool enabled) {
  __atomic_store_n(&skel_->data->hold_enabled, enabled, __ATOMIC_RELEASE);
}

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

std::optional<uint64_t> CaptureProbes::KretprobesMissed() const {
  if (backend_ != SyscallBackend::kKprobe) return std::nullopt;
  // struct bpf_link_info's perf_event.kprobe member (uapi 6.7+; libbpf 1.1's headers predate it).
  struct {
    uint32_t type, id, prog_id, pad;
    uint32_t perf_event_type, pad2;
    uint64_t func_name;
    uint32_t name_len, offset;
    uint64_t addr, missed, cookie;
    uint8_t rest[64];
  } info;
  constexpr uint32_t kLinkTypePerfEvent = 7, kPerfEventKretprobe = 4;
  std::optional<uint64_t> total;
  ForEachAttached(skel_, [&](const char* name, bpf_link*& link) {
    if (!std::string_view(name).starts_with("ks_exit_")) return;
    std::memset(&info, 0, sizeof(info));
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) != 0) return;
    if (info.type != kLinkTypePerfEvent || info.perf_event_type != kPerfEventKretprobe) return;
    total = total.value_or(0) + info.missed;
  });
  return total;
}

bool CaptureProbes::ForgetConnection(uint32_t tgid, int32_t fd, uint64_t generation) {
  const uint64_t key = l7tap_conn_key(tgid, fd);
  if (generation != 0) {
    // A newer connection on the fd (its open still in the ring) stays.
    l7tap_conn_info info;
    if (bpf_map__lookup_elem(skel_->maps.conns, &key, sizeof(key), &info, sizeof(info), 0) != 0 ||
        info.generation != generation)
      return false;
  }
  bpf_map__delete_elem(skel_->maps.muted, &key, sizeof(key), 0);
  return bpf_map__delete_elem(skel_->maps.conns, &key, sizeof(key), 0) == 0;
}

bool CaptureProbes::MuteConnection(uint32_t tgid, int32_t fd, uint64_t generation, bool tls) {
  const uint64_t key = l7tap_conn_key(tgid, fd);
  const l7tap_mute value = {generation, tls ? uint32_t(L7TAP_SRC_TLS) : uint32_t(L7TAP_SRC_SYSCALL), 0};
  return bpf_map__update_elem(skel_->maps.muted, &key, sizeof(key), &value, sizeof(value), BPF_ANY) == 0;
}

AttachmentId CaptureProbes::Keep(Attachment a) {
  tls_probes_ += a.probes;
  const AttachmentId id = next_id_++;
  attachments_.emplace(id, std::move(a));
  return id;
}

void CaptureProbes::Detach(AttachmentId id) {
  auto it = attachments_.find(id);
  if (it == attachments_.end()) return;
  Attachment a = std::move(it->second);
  attachments_.erase(it);
  LinkDetacher::Job job;
  for (bpf_link* link : a.links) job.steps.emplace_back([link] { bpf_link__destroy(link); });
  for (int fd : a.multi_link_fds) job.steps.emplace_back([fd] { close(fd); });
  // Counted as attached, and the Go slot kept, until the links are gone: a probe still running on another
  // CPU reads its slot's offsets, which stay until the slot is reused.
  job.done = [this, probes = a.probes, slot = a.go_slot] {
    tls_probes_ -= probes;
    if (!slot) return;
    std::lock_guard lock(slots_mu_);
    free_go_slots_.push_back(*slot);
    --go_slots_used_;
  };
  detacher_->Post(std::move(job));
}

void CaptureProbes::FinishDetaching() { detacher_->Finish(); }

size_t CaptureProbes::detaches_pending() const { return detacher_->pending(); }

size_t CaptureProbes::detaches_ran_inline() const { return detacher_->ran_inline(); }

bpf_program* CaptureProbes::Program(UprobeProgram p) const {
  switch (p) {
    case UprobeProgram::kSslReadEnter:
      return skel_->progs.ssl_read_enter;
    case UprobeProgram::kSslReadExEnter:
      return skel_->progs.ssl_read_ex_enter;
    case UprobeProgram::kSslWriteEnter:
      return skel_->progs.ssl_write_enter;
    case UprobeProgram::kSslWriteExEnter:
      return skel_->progs.ssl_write_ex_enter;
    case UprobeProgram::kSslDataExit:
      return skel_->progs.ssl_data_exit;
    case UprobeProgram::kSslHandshakeEnter:
      return skel_->progs.ssl_handshake_enter;
    case UprobeProgram::kSslHandshakeExit:
      return skel_->progs.ssl_handshake_exit;
    case UprobeProgram::kGoTls:
      return skel_->progs.go_tls;
    case UprobeProgram::kKeyLogNss:
      return skel_->progs.keylog_nss;
    case UprobeProgram::kKeyLogSsl:
      return skel_->progs.keylog_ssl;
    case UprobeProgram::kKeyLogGo:
      return skel_->progs.go_keylog;
  }
  return nullptr;
}

Result<Ok> CaptureProbes::SetGoOffsets(uint32_t slot, const GoOffsetsPlan& o) {
  const l7tap_go_offsets value = {o.tls_conn_conn, o.net_conn_fd, o.sysfd, 1};
  if (int err = bpf_map__update_elem(skel_->maps.go_offsets, &slot, sizeof(slot), &value, sizeof(value), 0))
    return Error{"storing Go struct offsets failed (" + Errno(err) + ")"};
  return Ok{};
}

Result<CaptureProbes::Attached> CaptureProbes::Attach(const std::string& path, const AttachPlan& plan,
                                                      const std::string& name) {
  const std::string& who = name.empty() ? path : name;
  Attachment a;
  std::vector<uint64_t> cookies;
  for (const UprobeSpec& p : plan.probes) cookies.push_back(p.cookie);
  if (plan.go_offsets) {
    std::lock_guard lock(slots_mu_);
    if (free_go_slots_.empty() && go_slots_ever_ == L7TAP_MAX_GO_BINARIES)
      return Error{who + ": already tracing " + std::to_string(L7TAP_MAX_GO_BINARIES) +
                   " Go executables, the most l7tap holds offsets for"};
    uint32_t slot = go_slots_ever_;
    if (free_go_slots_.empty()) {
      ++go_slots_ever_;
    } else {
      slot = free_go_slots_.back();
      free_go_slots_.pop_back();
    }
    a.go_slot = slot;
    ++go_slots_used_;
  }
  // On error the slot goes back to the free ones.
  auto fail = [&](std::string message) -> Result<Attached> {
    if (a.go_slot) {
      std::lock_guard lock(slots_mu_);
      free_go_slots_.push_back(*a.go_slot);
      --go_slots_used_;
    }
    return Error{std::move(message)};
  };
  if (a.go_slot) {
    if (auto stored = SetGoOffsets(*a.go_slot, *plan.go_offsets); !stored)
      return fail(who + ": " + stored.error());
    for (uint64_t& c : cookies) c |= *a.go_slot;
  }
  if (uprobe_multi_) {
    // One multi-uprobe link per program (and direction) for the file, in the plan's order.
    std::vector<std::pair<UprobeProgram, bool>> groups;
    for (const UprobeSpec& p : plan.probes)
      if (std::find(groups.begin(), groups.end(), std::pair{p.program, p.retprobe}) == groups.end())
        groups.emplace_back(p.program, p.retprobe);
    for (const auto& [program, retprobe] : groups) {
      std::vector<uint64_t> offsets, group_cookies;
      for (size_t i = 0; i < plan.probes.size(); ++i) {
        if (plan.probes[i].program != program || plan.probes[i].retprobe != retprobe) continue;
        offsets.push_back(plan.probes[i].offset);
        group_cookies.push_back(cookies[i]);
      }
      auto fd = AttachUprobeMulti(bpf_program__fd(Program(program)), path, offsets, group_cookies, retprobe);
      if (!fd) {
        for (int f : a.multi_link_fds) close(f);
        return fail(who + ": attaching " + std::to_string(offsets.size()) +
                    (retprobe ? " uretprobes" : " uprobes") + " failed (" + fd.error() + ")");
      }
      a.multi_link_fds.push_back(*fd);
    }
  } else {
    for (size_t i = 0; i < plan.probes.size(); ++i) {
      const UprobeSpec& p = plan.probes[i];
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookies[i], .retprobe = p.retprobe);
      bpf_link* link = bpf_program__attach_uprobe_opts(Program(p.program), -1, path.c_str(), p.offset, &opts);
      if (!link) {
        int err = errno;
        for (bpf_link* l : a.links) bpf_link__destroy(l);
        return fail(who + ": attaching a " + (p.retprobe ? "uretprobe" : "uprobe") + " to " + p.what +
                    " at 0x" + Hex(p.offset) + " failed (" + Errno(err) + ")");
      }
      a.links.push_back(link);
    }
  }
  a.probes = plan.probes.size();
  const size_t n = a.probes;
  const uint32_t slot = a.go_slot.value_or(0);
  return Attached{Keep(std::move(a)), n, slot};
}

}  // namespace l7tap::agent
