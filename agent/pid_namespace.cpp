#include "agent/pid_namespace.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace l7tap::agent {
namespace {

// include/linux/proc_ns.h: the initial PID namespace's inode number, fixed since Linux 3.8.
constexpr ino_t kProcPidInitIno = 0xEFFFFFFCU;

uint32_t ProcSelf() {
  char buf[32] = {};
  const ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
  uint32_t pid = 0;
  if (n > 0) std::from_chars(buf, buf + n, pid);
  return pid;
}

// r0 = bpf_get_current_pid_tgid() >> 32; return r0. The helper numbers tasks in the initial namespace.
Result<uint32_t> KernelTgid() {
  const bpf_insn insns[] = {
      {.code = BPF_JMP | BPF_CALL,
       .dst_reg = 0,
       .src_reg = 0,
       .off = 0,
       .imm = BPF_FUNC_get_current_pid_tgid},
      {.code = BPF_ALU64 | BPF_RSH | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 32},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "l7tap_pid", "GPL", insns,
                               sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd < 0) return Error{std::string("loading the pid probe failed (") + std::strerror(errno) + ")"};
  LIBBPF_OPTS(bpf_test_run_opts, run);  // runs on this CPU, in this task
  const int err = bpf_prog_test_run_opts(fd, &run);
  const int saved = errno;
  close(fd);
  if (err) return Error{std::string("running the pid probe failed (") + std::strerror(saved) + ")"};
  return uint32_t(run.retval);
}

}  // namespace

std::vector<uint32_t> ParseNsPids(std::string_view status) {
  std::vector<uint32_t> out;
  for (size_t pos = 0; pos < status.size();) {
    size_t eol = status.find('\n', pos);
    if (eol == std::string_view::npos) eol = status.size();
    std::string_view line = status.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.starts_with("NSpid:")) continue;
    line.remove_prefix(6);
    while (!line.empty()) {
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      uint32_t pid = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
      if (ec != std::errc()) return {};
      out.push_back(pid);
      line.remove_prefix(size_t(p - line.data()));
    }
    break;
  }
  return out;
}

Result<PidView> ReadPidView() {
  auto tgid = KernelTgid();
  if (!tgid) return Error{tgid.error()};
  PidView v;
  v.getpid = uint32_t(getpid());
  v.kernel_tgid = *tgid;
  v.proc_self = ProcSelf();
  return v;
}

bool NsPidsSuggestChild() {
  std::ifstream in("/proc/self/status");
  std::stringstream text;
  text << in.rdbuf();
  if (ParseNsPids(text.str()).size() > 1) return true;
  struct stat st {};
  return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != kProcPidInitIno;
}

std::string PidNamespaceError(const PidView& v) {
  return "running in a PID namespace of its own (pid " + std::to_string(v.getpid) + " here, " +
         std::to_string(v.kernel_tgid) +
         " on the host): the probes report host pids that this /proc does not show; run l7tap in the host "
         "PID namespace (Kubernetes: hostPID: true; docker/podman: --pid=host; or as a systemd service), or "
         "pass --allow-pid-namespace to run degraded";
}

std::string PidNamespaceDegraded(const PidView& v) {
  std::string s = "--allow-pid-namespace: running in a PID namespace of its own (pid " +
                  std::to_string(v.getpid) + " here, " + std::to_string(v.kernel_tgid) +
                  " on the host); reported pids are the host's. ";
  if (v.proc_matches_kernel())
    return s + "/proc here numbers processes as the host does: nothing else is degraded";
  return s +
         "/proc here does not show them, so degraded: container_id is empty, executables with their own TLS "
         "(Go, static OpenSSL) are found only among this namespace's processes, and connections of processes "
         "that exit unseen end at their idle timeout instead of at once";
}

}  // namespace l7tap::agent
