#include "agent/process_selector.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "agent/container_id.h"
#include "agent/monotonic_clock.h"
#include "agent/process_alive.h"
#include "probes/events.h"

namespace l7tap::agent {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// /proc/PID/exe's target ("" for kernel threads and processes gone), without " (deleted)".
std::string ExePath(uint32_t tgid) {
  char buf[4096];
  const std::string link = "/proc/" + std::to_string(tgid) + "/exe";
  const ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string path(buf, size_t(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

// The parent pid from /proc/PID/stat (after the command name's closing parenthesis); 0 if unreadable.
uint32_t ParentPid(uint32_t tgid) {
  const std::string stat = ReadText("/proc/" + std::to_string(tgid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  uint32_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

std::vector<uint32_t> ListProcesses() {
  std::vector<uint32_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const unsigned long pid = std::strtoul(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && pid > 0 && pid <= UINT32_MAX) out.push_back(uint32_t(pid));
  }
  closedir(d);
  return out;
}

bool Contains(const std::vector<uint32_t>& v, uint32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

Result<CgroupRef> ResolveCgroup(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) return Error{path + ": " + std::strerror(errno)};
  if (fs.f_type != CGROUP2_SUPER_MAGIC) return Error{path + ": not a cgroup v2 directory"};
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Error{path + ": not a directory"};
  CgroupRef ref;
  ref.id = st.st_ino;
  // Its level: parents up to the mount's root (where ".." leaves the cgroup2 file system or is itself).
  std::string dir = path;
  for (int depth = 0; depth < 64; ++depth) {
    const std::string parent = dir + "/..";
    struct stat here {
    }, up{};
    struct statfs upfs {};
    if (stat(dir.c_str(), &here) != 0 || stat(parent.c_str(), &up) != 0 || statfs(parent.c_str(), &upfs) != 0)
      return Error{path + ": cannot walk up to the cgroup root (" + std::strerror(errno) + ")"};
    if (upfs.f_type != CGROUP2_SUPER_MAGIC || up.st_dev != here.st_dev || up.st_ino == here.st_ino)
      return ref;
    ++ref.level;
    dir = parent;
  }
  return Error{path + ": nested too deep"};
}

ProcessSelector::ProcessSelector(SelectionRules rules, int verdicts_fd, TableRegistry& tables)
    : rules_(std::move(rules)),
      fd_(verdicts_fd),
      table_(
          tables.Add("kernel_proc_verdicts", L7TAP_MAX_VERDICTS, {Eviction::kFull, Eviction::kProcessGone})),
      untraced_table_(tables.Add("exec_untraced", kMaxUntraced, {Eviction::kLeastRecent})) {}

uint8_t ProcessSelector::Lookup(uint32_t tgid) const {
  uint8_t bits = 0;
  if (bpf_map_lookup_elem(fd_, &tgid, &bits) != 0) return 0;
  return bits;
}

void ProcessSelector::Store(uint32_t tgid, uint8_t bits) {
  if (bits == 0) {
    bpf_map_delete_elem(fd_, &tgid);
    return;
  }
  if (bpf_map_update_elem(fd_, &tgid, &bits, BPF_ANY) != 0) table_.Evicted(Eviction::kFull);
}

bool ProcessSelector::MayTrace(uint8_t bits) const {
  if (bits & L7TAP_SEL_SKIP) return false;
  // A --cgroup may select it in the kernel whatever user space knows.
  return !rules_.selects_processes() || (bits & L7TAP_SEL_TRACE) || !rules_.cgroups.empty();
}

size_t ProcessSelector::ScanAll() {
  size_t decided = 0;
  if (!rules_.filters_processes()) return 0;
  for (int pass = 0; pass < 2; ++pass) {
    decided = 0;
    const std::vector<uint32_t> procs = ListProcesses();
    std::unordered_map<uint32_t, uint32_t> parent;
    if (!rules_.pid_trees.empty())
      for (uint32_t p : procs) parent[p] = ParentPid(p);
    // Whether p is in a --pid-tree: walks up its parents (bounded: a pid reused mid-scan could make a loop).
    auto in_tree = [&](uint32_t p) {
      for (int up = 0; up < 4096 && p > 0; ++up) {
        if (Contains(rules_.pid_trees, p)) return true;
        auto it = parent.find(p);
        if (it == parent.end()) return false;
        p = it->second;
      }
      return false;
    };
    for (uint32_t p : procs) {
      uint8_t bits = 0;
      if (Contains(rules_.pids, p)) bits |= L7TAP_SEL_PID;
      if (Contains(rules_.exclude_pids, p)) bits |= L7TAP_SEL_EXCLUDED_PID;
      if (!rules_.pid_trees.empty() && in_tree(p)) bits |= L7TAP_SEL_TREE;
      if (rules_.decides_at_exec())
        bits |= ExecVerdict(rules_, ExePath(p),
                            ContainerIdFromCgroup(ReadText("/proc/" + std::to_string(p) + "/cgroup")));
      // What the fork tracepoint gave a child since (a tree's new member) stays.
      if (pass == 1) bits |= Lookup(p) & L7TAP_SEL_TREE;
      Store(p, bits);
      if (bits) ++decided;
    }
  }
  return decided;
}

bool ProcessSelector::OnExec(uint32_t tgid, uint64_t now_ns) {
  if (!rules_.filters_processes()) return true;
  uint8_t bits = Lookup(tgid);
  if (!rules_.decides_at_exec()) return MayTrace(bits);
  bits &= L7TAP_SEL_KEPT_AT_EXEC;
  bits |= ExecVerdict(rules_, ExePath(tgid),
                      ContainerIdFromCgroup(ReadText("/proc/" + std::to_string(tgid) + "/cgroup")));
  // Gone already: nothing to write (a verdict written now would outlive it until the sweep).
  const bool alive = ProcessAlive(tgid);
  if (alive) Store(tgid, bits);
  const bool may_trace = alive && MayTrace(bits);
  while (!untraced_order_.empty() && (untraced_order_.front().second + kUntracedKeepNs < now_ns ||
                                      untraced_order_.size() >= kMaxUntraced)) {
    auto [old, at] = untraced_order_.front();
    if (at + kUntracedKeepNs >= now_ns) untraced_table_.Evicted(Eviction::kLeastRecent);
    untraced_order_.pop_front();
    if (auto it = untraced_at_.find(old); it != untraced_at_.end() && it->second == at)
      untraced_at_.erase(it);
  }
  if (may_trace) {
    untraced_at_.erase(tgid);
  } else {
    // Taken after the write: what the kernel sent before it is older.
    const uint64_t at = MonotonicNs();
    untraced_at_[tgid] = at;
    untraced_order_.emplace_back(tgid, at);
  }
  untraced_table_.set_entries(untraced_at_.size());
  return may_trace;
}

void ProcessSelector::Sweep(uint64_t kernel_refused) {
  table_.Evicted(Eviction::kFull, kernel_refused - refused_seen_);
  refused_seen_ = kernel_refused;
  std::vector<uint32_t> gone;
  size_t entries = 0;
  uint32_t key = 0, next = 0;
  bool first = true;
  while (bpf_map_get_next_key(fd_, first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    if (ProcessAlive(key))
      ++entries;
    else
      gone.push_back(key);
  }
  for (uint32_t tgid : gone)
    if (bpf_map_delete_elem(fd_, &tgid) == 0) table_.Evicted(Eviction::kProcessGone);
  table_.set_entries(entries);
}

}  // namespace l7tap::agent
