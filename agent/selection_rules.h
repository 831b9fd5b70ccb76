#pragma once
// What is traced (--pid, --pid-tree, --exe, --container-id, --cgroup, --port and their --exclude-* forms):
// the rules as given, and the pure decisions on them. A process is traced when no process selector is given
// or one of them selects it, and no exclusion matches it; ports then filter its connections.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace l7tap::agent {

struct SelectionRules {
  std::vector<uint32_t> pids, pid_trees, exclude_pids;
  std::vector<std::string> exes, exclude_exes;                    // fnmatch(3) globs
  std::vector<std::string> container_ids, exclude_container_ids;  // full ids or prefixes (lowercase hex)
  std::vector<std::string> cgroups, exclude_cgroups;              // cgroup v2 directories
  std::vector<uint16_t> ports, exclude_ports;

  // A process selector was given: processes none of them selects are not traced.
  bool selects_processes() const {
    return !pids.empty() || !pid_trees.empty() || !exes.empty() || !container_ids.empty() || !cgroups.empty();
  }
  // Processes need a verdict at all (some selector or exclusion of processes).
  bool filters_processes() const {
    return selects_processes() || !exclude_pids.empty() || !exclude_exes.empty() ||
           !exclude_container_ids.empty() || !exclude_cgroups.empty();
  }
  // Rules decided in user space at each exec (the executable, the container).
  bool decides_at_exec() const {
    return !exes.empty() || !exclude_exes.empty() || !container_ids.empty() || !exclude_container_ids.empty();
  }
};

// Bounds and formats (each list within its kernel table, container ids hex); the first problem found.
Result<bool> ValidateSelection(const SelectionRules& r);

// A --exe glob against an executable's path (/proc/PID/exe): a glob with a '/' matches the whole path
// (fnmatch with FNM_PATHNAME: '*' stays within a component), one without matches the basename.
bool ExeMatches(std::string_view glob, std::string_view exe_path);

// A --container-id value (the full 64-hex id or a prefix of it, such as docker's 12-character short id)
// against a process's container id ("" for none: never matches).
bool ContainerIdMatches(std::string_view wanted, std::string_view container_id);

// The verdict bits (L7TAP_SEL_MATCH, L7TAP_SEL_EXCLUDED) the exec-time rules give a process running
// `exe_path` in container `container_id`.
uint8_t ExecVerdict(const SelectionRules& r, std::string_view exe_path, std::string_view container_id);

}  // namespace l7tap::agent
