#include "agent/process_holds.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>
#include <sys/sysmacros.h>

#include <charconv>
#include <cstdio>

#include "agent/process_alive.h"

namespace l7tap::agent {

KernelFileKey KernelKeyFromStat(dev_t st_dev, ino_t st_ino) {
  return {(uint64_t(major(st_dev)) << 20) | minor(st_dev), uint64_t(st_ino)};
}

std::optional<KernelFileKey> KernelKeyFromMapsLine(std::string_view line) {
  // Fields: address, perms, offset, MAJ:MIN (hex), inode (decimal), path.
  std::string_view rest = line;
  std::string_view fields[5];
  for (auto& f : fields) {
    while (rest.starts_with(' ')) rest.remove_prefix(1);
    const size_t end = rest.find(' ');
    if (end == std::string_view::npos) return std::nullopt;
    f = rest.substr(0, end);
    rest.remove_prefix(end);
  }
  const std::string_view dev = fields[3];
  const size_t colon = dev.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  uint64_t maj = 0, min = 0, ino = 0;
  auto parse = [](std::string_view s, uint64_t& out, int base) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc() && p == s.data() + s.size();
  };
  if (!parse(dev.substr(0, colon), maj, 16) || !parse(dev.substr(colon + 1), min, 16) ||
      !parse(fields[4], ino, 10) || ino == 0)
    return std::nullopt;
  return KernelFileKey{(maj << 20) | min, ino};
}

size_t ResumeHeld(int held_fd, int ack_fd, uint64_t cutoff_ns) {
  uint32_t tgids[256];
  size_t n = 0;
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (n < 256 && bpf_map_get_next_key(held_fd, prev, &next) == 0) {
    uint64_t since = 0;
    if (bpf_map_lookup_elem(held_fd, &next, &since) == 0 && since < cutoff_ns) tgids[n++] = next;
    key = next;
    prev = &key;
  }
  const uint64_t cleared = UINT64_MAX;
  size_t resumed = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ack_fd >= 0) bpf_map_update_elem(ack_fd, &tgids[i], &cleared, BPF_ANY);
    if (bpf_map_delete_elem(held_fd, &tgids[i]) == 0) {
      kill(pid_t(tgids[i]), SIGCONT);
      ++resumed;
    }
  }
  return resumed;
}

ProcessHolds::ProcessHolds(HoldMaps maps, TableRegistry& tables, size_t max_known)
    : maps_(maps),
      max_known_(max_known),
      known_table_(tables.Add("kernel_known_files", max_known, {Eviction::kLeastRecent})),
      procs_table_(tables.Add("kernel_proc_files", L7TAP_MAX_PROCS, {Eviction::kFull})),
      held_table_(tables.Add("kernel_held", L7TAP_MAX_HELD, {})) {}

namespace {
size_t CountKeys(int fd) {
  size_t n = 0;
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0 && n < (1u << 24)) {
    ++n;
    key = next;
    prev = &key;
  }
  return n;
}
}  // namespace

void ProcessHolds::CountTables(uint64_t proc_table_full) {
  procs_table_.set_entries(CountKeys(maps_.proc_files));
  held_table_.set_entries(CountKeys(maps_.held));
  procs_table_.Evicted(Eviction::kFull, proc_table_full - proc_table_full_seen_);
  proc_table_full_seen_ = proc_table_full;
}

std::optional<ProcessHolds::Pending> ProcessHolds::Begin(uint32_t tgid) const {
  l7tap_proc_files p{};
  if (bpf_map_lookup_elem(maps_.proc_files, &tgid, &p) != 0) return std::nullopt;
  Pending out;
  out.seq = p.seq;
  for (uint32_t i = 0; i < p.nkeys && i < L7TAP_PROC_KEYS; ++i)
    out.recorded.push_back({p.keys[i].dev, p.keys[i].ino});
  return out;
}

void ProcessHolds::Clear(uint32_t tgid, const Pending& before, const std::vector<KernelFileKey>& mapped) {
  for (const KernelFileKey& k : before.recorded) Learn(k);
  for (const KernelFileKey& k : mapped) Learn(k);
  const uint64_t seq = before.seq;
  if (bpf_map_update_elem(maps_.proc_ack, &tgid, &seq, BPF_ANY) == 0) acked_.insert(tgid);
}

void ProcessHolds::Learn(const KernelFileKey& key) {
  if (known_.contains(key)) return;
  if (known_.size() >= max_known_) {
    const KernelFileKey oldest = known_order_.front();
    known_order_.pop_front();
    known_.erase(oldest);
    const l7tap_file_key k{oldest.dev, oldest.ino};
    bpf_map_delete_elem(maps_.known_files, &k);
    known_table_.Evicted(Eviction::kLeastRecent);  // a process mapping it is cleared once more
  }
  const l7tap_file_key k{key.dev, key.ino};
  const uint8_t one = 1;
  if (bpf_map_update_elem(maps_.known_files, &k, &one, BPF_ANY) != 0) return;
  known_.insert(key);
  known_order_.push_back(key);
  known_table_.set_entries(known_.size());
}

void ProcessHolds::Forget(const KernelFileKey& key) {
  if (known_.erase(key) == 0) return;
  std::erase(known_order_, key);
  const l7tap_file_key k{key.dev, key.ino};
  bpf_map_delete_elem(maps_.known_files, &k);
  known_table_.set_entries(known_.size());
}

bool ProcessHolds::Release(uint32_t tgid, uint64_t held_since_ns, uint64_t now_ns) {
  // Whoever deletes the entry resumes the process: the watchdog may have at the deadline (it counts those),
  // or the process ended while held (the probes count those).
  if (bpf_map_delete_elem(maps_.held, &tgid) != 0) return false;
  if (kill(pid_t(tgid), SIGCONT) != 0 && errno != ESRCH) {  // ESRCH: it is gone, nothing to resume
    const int err = errno;
    if (refused_.fetch_add(1, std::memory_order_relaxed) == 0 && on_refused_) on_refused_(tgid, err);
    return false;
  }
  released_.fetch_add(1, std::memory_order_relaxed);
  hold_duration_.Observe(now_ns > held_since_ns ? double(now_ns - held_since_ns) / 1e9 : 0);
  return true;
}

size_t ProcessHolds::ReleaseAll() {
  size_t n = 0;
  for (size_t got; (got = ResumeHeld(maps_.held, -1, UINT64_MAX)) > 0;) n += got;
  released_at_exit_.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void ProcessHolds::Sweep() {
  for (auto it = acked_.begin(); it != acked_.end();) {
    if (ProcessAlive(*it)) {
      ++it;
      continue;
    }
    const uint32_t tgid = *it;
    bpf_map_delete_elem(maps_.proc_ack, &tgid);
    it = acked_.erase(it);
  }
}

std::vector<Sample> ProcessHolds::Samples() const {
  std::vector<Sample> s;
  const char* help =
      "Processes stopped at their first TLS bytes until their files were inspected, by how they were "
      "resumed (released: attached in time; deadline: by the watchdog at --hold-deadline-ms; exited: ended "
      "while held; shutdown: at the agent's exit or its watchdog's loss; resume_refused: SIGCONT was "
      "refused, the "
      "process stays stopped)";
  s.push_back({"l7tap_process_holds_total",
               help,
               true,
               {{"outcome", "released"}},
               double(released_.load(std::memory_order_relaxed))});
  s.push_back({"l7tap_process_holds_total",
               help,
               true,
               {{"outcome", "deadline"}},
               deadline_ ? double(deadline_->load(std::memory_order_relaxed)) : 0.0});
  s.push_back({"l7tap_process_holds_total",
               help,
               true,
               {{"outcome", "exited"}},
               double(exited_.load(std::memory_order_relaxed))});
  s.push_back({"l7tap_process_holds_total",
               help,
               true,
               {{"outcome", "resume_refused"}},
               double(refused_.load(std::memory_order_relaxed))});
  s.push_back({"l7tap_process_holds_total",
               help,
               true,
               {{"outcome", "shutdown"}},
               double(released_at_exit_.load(std::memory_order_relaxed))});
  s.push_back(hold_duration_.ToSample("l7tap_process_hold_duration_seconds",
                                      "How long processes released by the agent were held", {}));
  return s;
}

}  // namespace l7tap::agent
