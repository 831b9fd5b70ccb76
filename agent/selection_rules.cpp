#include "agent/selection_rules.h"

#include <fnmatch.h>

#include <algorithm>

#include "probes/events.h"

namespace l7tap::agent {
namespace {

bool Hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<bool> CheckIds(const char* flag, const std::vector<std::string>& ids) {
  for (const std::string& id : ids)
    if (id.size() < 4 || id.size() > 64 || !Hex(id))
      return Error{std::string(flag) + " " + id +
                   ": expected a container id, 4 to 64 lowercase hex digits (a prefix of the full id)"};
  return true;
}

template <typename T>
Result<bool> CheckCount(const char* flag, const std::vector<T>& v, size_t max) {
  if (v.size() > max) return Error{std::string(flag) + ": at most " + std::to_string(max) + " values"};
  return true;
}

}  // namespace

Result<bool> ValidateSelection(const SelectionRules& r) {
  for (auto check :
       {CheckCount("--pid", r.pids, L7TAP_MAX_PIDS), CheckCount("--pid-tree", r.pid_trees, L7TAP_MAX_PIDS),
        CheckCount("--exclude-pid", r.exclude_pids, L7TAP_MAX_PIDS),
        CheckCount("--cgroup", r.cgroups, L7TAP_MAX_CGROUPS),
        CheckCount("--exclude-cgroup", r.exclude_cgroups, L7TAP_MAX_CGROUPS),
        CheckCount("--exe", r.exes, 256), CheckCount("--exclude-exe", r.exclude_exes, 256),
        CheckCount("--container-id", r.container_ids, 256),
        CheckCount("--exclude-container-id", r.exclude_container_ids, 256),
        CheckIds("--container-id", r.container_ids),
        CheckIds("--exclude-container-id", r.exclude_container_ids)})
    if (!check) return check;
  if (r.ports.size() + r.exclude_ports.size() > L7TAP_MAX_PORTS)
    return Error{"--port and --exclude-port: at most " + std::to_string(L7TAP_MAX_PORTS) + " values in all"};
  for (uint16_t p : r.ports)
    if (std::find(r.exclude_ports.begin(), r.exclude_ports.end(), p) != r.exclude_ports.end())
      return Error{"--port " + std::to_string(p) + " is also given to --exclude-port"};
  for (const std::string& g : r.exes)
    if (g.empty()) return Error{"--exe: expected a glob, e.g. nginx or /usr/sbin/*"};
  for (const std::string& g : r.exclude_exes)
    if (g.empty()) return Error{"--exclude-exe: expected a glob, e.g. nginx or /usr/sbin/*"};
  return true;
}

bool ExeMatches(std::string_view glob, std::string_view exe_path) {
  const std::string g(glob);
  if (glob.find('/') != std::string_view::npos)
    return fnmatch(g.c_str(), std::string(exe_path).c_str(), FNM_PATHNAME) == 0;
  const size_t slash = exe_path.rfind('/');
  const std::string base(slash == std::string_view::npos ? exe_path : exe_path.substr(slash + 1));
  return fnmatch(g.c_str(), base.c_str(), 0) == 0;
}

bool ContainerIdMatches(std::string_view wanted, std::string_view container_id) {
  return !wanted.empty() && !container_id.empty() && container_id.starts_with(wanted);
}

uint8_t ExecVerdict(const SelectionRules& r, std::string_view exe_path, std::string_view container_id) {
  auto any_exe = [&](const std::vector<std::string>& globs) {
    return !exe_path.empty() && std::any_of(globs.begin(), globs.end(),
                                            [&](const std::string& g) { return ExeMatches(g, exe_path); });
  };
  auto any_container = [&](const std::vector<std::string>& ids) {
    return std::any_of(ids.begin(), ids.end(),
                       [&](const std::string& id) { return ContainerIdMatches(id, container_id); });
  };
  uint8_t bits = 0;
  if (any_exe(r.exes) || any_container(r.container_ids)) bits |= L7TAP_SEL_MATCH;
  if (any_exe(r.exclude_exes) || any_container(r.exclude_container_ids)) bits |= L7TAP_SEL_EXCLUDED;
  return bits;
}

}  // namespace l7tap::agent
