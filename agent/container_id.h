#pragma once
// container_id: the container a process runs in, from its cgroup path (/proc/PID/cgroup). The id is the
// runtime's full 64-hex container id (docker, containerd/CRI, CRI-O, podman), the value `docker inspect`,
// `crictl ps` and a pod's status.containerStatuses[].containerID (after "containerd://") show; docker's
// 12-character short form is its prefix. Processes of host services (systemd slices) have "".
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "agent/table_stats.h"

namespace l7tap::agent {

// The container id in /proc/PID/cgroup text: the innermost path component (of the cgroup v2 "0::" line
// first, then the v1 lines) that ends in exactly 64 lowercase hex digits after a start, '-' or ':' (before an
// optional ".scope"): "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope",
// "libpod-<id>.scope", "/docker/<id>", "/kubepods/.../<id>". Container monitors ("libpod-conmon-<id>.scope",
// "crio-conmon-<id>.scope") are not in the container: "". "" when no component matches.
std::string ContainerIdFromCgroup(std::string_view proc_cgroup);

// The container id of each process, read from /proc/PID/cgroup once, at its first connection. Bounded:
// `capacity` processes, then the least recently asked one is forgotten (counted; read again if asked again);
// a process's entry goes at its exit, or at a sweep when it ended unseen.
class ContainerIds {
 public:
  using Reader = std::function<std::string(uint32_t tgid)>;  // /proc/PID/cgroup text, "" if unreadable
  explicit ContainerIds(TableRegistry& tables, size_t capacity = 65536, Reader reader = nullptr);

  const std::string& Of(uint32_t tgid);
  void OnExit(uint32_t tgid);
  // Forgets processes that are gone (`alive` says which still run).
  void Sweep(const std::function<bool(uint32_t tgid)>& alive);
  size_t size() const { return entries_.size(); }
  uint64_t reads() const { return reads_; }

 private:
  struct Entry {
    std::string id;
    std::list<uint32_t>::iterator lru;
  };
  void Erase(std::unordered_map<uint32_t, Entry>::iterator it);
  TableStats& table_;
  size_t capacity_;
  Reader reader_;
  std::unordered_map<uint32_t, Entry> entries_;
  std::list<uint32_t> lru_;  // most recently asked first
  uint64_t reads_ = 0;
};

}  // namespace l7tap::agent
