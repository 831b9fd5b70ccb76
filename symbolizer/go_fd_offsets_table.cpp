#include "symbolizer/go_fd_offsets_table.h"

#include <cstdint>
#include <string>

namespace l7tap::symbolizer {
namespace {

struct Entry {
  int minor;  // Go 1.minor
  uint64_t tls_conn_conn;
  uint64_t net_conn_fd;
  uint64_t net_fd_pfd;
  uint64_t poll_fd_sysfd;
};

// Ascending by minor (go_offsets_gen writes them so).
constexpr Entry kTable[] = {
#include "symbolizer/go_fd_offsets_table.inc"
};

std::string GoName(int major, int minor) {
  return "go" + std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace

Result<GoFdOffsets> GoFdOffsetsFromTable(int major, int minor) {
  if (major <= 0) return Error{"the Go version is unknown, so the built-in table does not apply"};
  if (major == 1 && minor < kGoRegisterAbiMinor) {
    return Error{GoName(major, minor) + " is older than 1." + std::to_string(kGoRegisterAbiMinor) +
                 " (register ABI needed)"};
  }
  const Entry* chosen = nullptr;
  for (const Entry& entry : kTable) {
    if (major == 1 && entry.minor > minor) break;
    chosen = &entry;
  }
  if (chosen == nullptr) {
    return Error{"the built-in table has no entry for " + GoName(major, minor) + " (it starts at go1." +
                 std::to_string(kTable[0].minor) + ")"};
  }
  GoFdOffsets offsets;
  offsets.tls_conn_conn = chosen->tls_conn_conn;
  offsets.net_conn_fd = chosen->net_conn_fd;
  offsets.net_fd_pfd = chosen->net_fd_pfd;
  offsets.poll_fd_sysfd = chosen->poll_fd_sysfd;
  offsets.source = "table " + GoName(1, chosen->minor);
  if (major != 1 || chosen->minor != minor)
    offsets.source += " (nearest older than " + GoName(major, minor) + ")";
  return offsets;
}

std::vector<int> GoFdOffsetsTableVersions() {
  std::vector<int> versions;
  for (const Entry& entry : kTable) versions.push_back(entry.minor);
  return versions;
}

}  // namespace l7tap::symbolizer
