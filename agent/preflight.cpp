#include "agent/preflight.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string_view>

#include "agent/capture_probes.h"
#include "agent/required_capabilities.h"

namespace l7tap::agent {
namespace {

using State = PreflightItem::State;

PreflightItem Ok(std::string what) { return {State::kOk, "ok: " + std::move(what)}; }
PreflightItem Missing(std::string what) { return {State::kMissing, "missing " + std::move(what)}; }
PreflightItem Skipped(std::string what) { return {State::kSkipped, "skipped: " + std::move(what)}; }

bool Has(uint64_t effective, int cap) { return cap >= 0 && cap < 64 && (effective >> cap) & 1; }

std::string KernelRelease() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "?";
}

std::string Kernel() { return "kernel " + KernelRelease(); }

// libbpf's probes return 1 (supported), 0 (not) or a negative error (could not tell).
std::string ProbeError(int r) { return std::strerror(r < 0 ? -r : r); }

PreflightItem Feature(int probe, const std::string& what, const std::string& since) {
  if (probe == 1) return Ok(what);
  if (probe == 0) return Missing(what + ": " + Kernel() + " lacks it (" + since + ")");
  return Missing(what + ": probing it failed (" + ProbeError(probe) + ")");
}

PreflightItem Optional(int probe, const std::string& what, const std::string& without) {
  if (probe == 1) return Ok(what);
  return Ok(what + " absent on " + Kernel() + " (optional: " + without + ")");
}

bool CanOpen(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

PreflightItem Btf() {
  const char* path = "/sys/kernel/btf/vmlinux";
  if (!std::filesystem::exists(path))
    return Missing(
        "kernel BTF: " + Kernel() +
        " has no /sys/kernel/btf/vmlinux; l7tap needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
  if (!CanOpen(path))
    return Missing(std::string("kernel BTF: cannot read /sys/kernel/btf/vmlinux (") + std::strerror(errno) +
                   "); Kubernetes: mount the host's /sys/kernel/btf read-only");
  return Ok("kernel BTF (/sys/kernel/btf/vmlinux)");
}

// Tracepoints are found by their id in tracefs (uprobes and kprobes need no tracefs: their perf PMUs).
PreflightItem Tracefs(uint64_t effective) {
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    const std::string events = std::string(dir) + "/events";
    std::error_code ec;
    if (!std::filesystem::exists(events, ec)) {
      if (ec.value() == EACCES)
        return Missing("tracefs access: " + std::string(dir) +
                       " cannot be searched (permission denied): grant CAP_DAC_READ_SEARCH");
      continue;
    }
    const std::string id = events + "/sched/sched_process_exit/id";
    if (!CanOpen(id))
      return Missing("tracefs access: cannot read " + id + " (" + std::strerror(errno) +
                     "): grant CAP_DAC_READ_SEARCH (tracefs is root's)");
    return Ok("tracefs (" + std::string(dir) + ")");
  }
  if (Has(effective, kCapSysAdmin))
    return Ok("tracefs is not mounted: l7tap mounts it on /sys/kernel/tracing");
  return Missing(
      "tracefs: it is not mounted on /sys/kernel/tracing and mounting it needs CAP_SYS_ADMIN; mount it "
      "(mount -t tracefs tracefs /sys/kernel/tracing; Kubernetes: a hostPath volume of /sys/kernel/tracing)");
}

PreflightItem Uprobes() {
  if (std::filesystem::exists("/sys/bus/event_source/devices/uprobe/type")) return Ok("uprobe perf PMU");
  return Missing(
      "uprobes: " + Kernel() +
      " has no uprobe perf PMU (/sys/bus/event_source/devices/uprobe; CONFIG_UPROBE_EVENTS, 4.17+)");
}

// libbpf charges nothing to RLIMIT_MEMLOCK where the kernel accounts BPF memory to the memory cgroup (5.11+,
// probed as libbpf does: by the bpf_ktime_get_coarse_ns helper of the same release); before, it raises the
// limit to infinity, which needs CAP_SYS_RESOURCE unless the limit already is.
PreflightItem Memlock(uint64_t effective) {
  if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_coarse_ns, nullptr) == 1)
    return Ok("BPF memory is charged to the memory cgroup (5.11+): RLIMIT_MEMLOCK does not apply");
  rlimit r{};
  if (getrlimit(RLIMIT_MEMLOCK, &r) == 0 && r.rlim_cur == RLIM_INFINITY)
    return Ok("RLIMIT_MEMLOCK unlimited");
  if (Has(effective, 24)) return Ok("RLIMIT_MEMLOCK: raised by libbpf (CAP_SYS_RESOURCE held)");
  return Missing(
      "RLIMIT_MEMLOCK: " + Kernel() +
      " charges BPF maps to it and it is limited; raise it (systemd: LimitMEMLOCK=infinity, shell: "
      "ulimit -l unlimited) or grant CAP_SYS_RESOURCE");
}

std::vector<PreflightItem> Features(const Config& config, uint64_t effective) {
  std::vector<PreflightItem> items;
  const int bpf = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr);
  if (bpf != 1) {
    items.push_back(Missing(
        "bpf(): loading a tracepoint program fails (" +
        (bpf == 0 ? std::string("unsupported") : ProbeError(bpf)) +
        ") although the capabilities are held: a seccomp filter, an LSM or a user namespace refuses it, or " +
        Kernel() + " lacks CONFIG_BPF_SYSCALL"));
    return items;
  }
  items.push_back(Ok("bpf() loads tracing programs"));
  items.push_back(
      Feature(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr), "BPF ring buffers", "5.8+"));
  items.push_back(Feature(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr),
                          "BPF task storage maps", "5.11+"));
  items.push_back(
      Feature(libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, nullptr),
              "bpf_get_current_task_btf", "5.11+"));
  items.push_back(Feature(libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_task_pt_regs, nullptr),
                          "bpf_task_pt_regs", "5.15+"));
  items.push_back(Feature(libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, nullptr),
                          "BPF attach cookies (bpf_get_attach_cookie)", "5.15+"));
  if (config.tls_probes && config.hold_new_processes)
    items.push_back(Feature(libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_send_signal, nullptr),
                            "bpf_send_signal (--hold-new-processes)", "5.3+"));
  items.push_back(Optional(libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, nullptr),
                           "bpf_loop (5.17+)", "iovec copies then cover the first segments only"));
  // Without multi-uprobe links each uprobe is a perf event of the uprobe PMU, which wants CAP_SYS_ADMIN.
  if (config.tls_probes) {
    if (KernelHasUprobeMulti())
      items.push_back(Ok("multi-uprobe links (6.6+)"));
    else if (Has(effective, kCapSysAdmin))
      items.push_back(
          Ok("multi-uprobe links absent on " + Kernel() + ": single uprobes (CAP_SYS_ADMIN held)"));
    else
      items.push_back(
          Missing("CAP_SYS_ADMIN: " + Kernel() +
                  " lacks multi-uprobe links (6.6+), and attaching single uprobes through the perf "
                  "uprobe PMU needs CAP_SYS_ADMIN; grant it, or run with --tls-probes off"));
  }
  return items;
}

std::string GrantHint(const RequiredCapability& c) {
  const std::string bare = std::string(c.name).substr(4);  // Kubernetes spells it without "CAP_"
  std::string lower = bare;
  for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return std::string("grant it (systemd: AmbientCapabilities=") + c.name +
         " and CapabilityBoundingSet=" + c.name + ", Kubernetes: securityContext.capabilities.add: [" + bare +
         "], setpriv: --ambient-caps=+" + lower + ")";
}

}  // namespace

uint64_t EffectiveCapabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("CapEff:")) continue;
    return std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return 0;
}

std::vector<PreflightItem> CheckCapabilities(const Config& config, uint64_t effective) {
  std::vector<PreflightItem> items;
  for (const RequiredCapability& c : kRequiredCapabilities) {
    if (!CapabilityNeeded(c, config)) continue;
    if (Has(effective, c.number)) {
      items.push_back(Ok(c.name));
    } else if (Has(effective, c.also_granted_by)) {
      items.push_back(Ok(std::string(c.name) + " (granted by CAP_SYS_ADMIN)"));
    } else {
      items.push_back(Missing(std::string(c.name) + ": " + c.why + "; " + GrantHint(c)));
    }
  }
  return items;
}

std::vector<PreflightItem> RunPreflight(const Config& config) {
  const uint64_t effective = EffectiveCapabilities();
  std::vector<PreflightItem> items = CheckCapabilities(config, effective);
  items.push_back(Btf());
  items.push_back(Uprobes());
  items.push_back(Tracefs(effective));
  // Without both, every BPF probe fails with EPERM: that says nothing about the kernel.
  const auto& bpf = kRequiredCapabilities[0];
  const auto& perfmon = kRequiredCapabilities[1];
  const bool can_probe = (Has(effective, bpf.number) || Has(effective, kCapSysAdmin)) &&
                         (Has(effective, perfmon.number) || Has(effective, kCapSysAdmin));
  if (!can_probe) {
    items.push_back(Skipped("BPF features not probed (they need CAP_BPF and CAP_PERFMON)"));
    return items;
  }
  items.push_back(Memlock(effective));
  for (PreflightItem& f : Features(config, effective)) items.push_back(std::move(f));
  return items;
}

bool AllPassed(const std::vector<PreflightItem>& items) {
  for (const PreflightItem& i : items)
    if (i.state != State::kOk) return false;
  return true;
}

int RunCheckCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool names_only = false;
  std::vector<std::string> words = {"l7tap"};
  for (const std::string& a : args) {
    if (a == "--capabilities")
      names_only = true;
    else
      words.push_back(a);
  }
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  auto config = ParseArgs(int(argv.size()), argv.data());
  if (!config) {
    err << "l7tap check: " << config.error() << "\n";
    return 2;
  }
  if (config->help) {
    out << "usage: l7tap check [--capabilities] [agent flags]\n"
           "  checks the privileges and kernel features l7tap needs with these flags, one line each;\n"
           "  exit status 0 only when all pass. --capabilities: just the capabilities' names\n";
    return 0;
  }
  if (names_only) {
    for (const RequiredCapability& c : kRequiredCapabilities)
      if (CapabilityNeeded(c, *config)) out << c.name << "\n";
    return 0;
  }
  const auto items = RunPreflight(*config);
  for (const PreflightItem& i : items) out << i.line << "\n";
  return AllPassed(items) ? 0 : 1;
}

}  // namespace l7tap::agent
