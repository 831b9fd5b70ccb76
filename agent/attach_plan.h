#pragma once
// What the loader attaches to one file, in plain terms: uprobes (program, file offset, attach cookie) and,
// for Go binaries, the struct offsets their probes read. The planner (attach_planner.h) makes plans from what
// the symbolizer found; CaptureProbes::Attach takes nothing else.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace l7tap::agent {

// The BPF programs a uprobe can run (probes/tls.bpf.h, go_tls.bpf.h).
enum class UprobeProgram : uint8_t {
  kSslReadEnter,
  kSslReadExEnter,
  kSslWriteEnter,
  kSslWriteExEnter,
  kSslDataExit,  // uretprobe of the four above
  kSslHandshakeEnter,
  kSslHandshakeExit,  // uretprobe
  kGoTls,             // every Go crypto/tls probe: the cookie says which (L7TAP_GO_PROBE_*)
  kKeyLogNss,
  kKeyLogSsl,
  kKeyLogGo,
};

struct UprobeSpec {
  UprobeProgram program;
  uint64_t offset = 0;  // file offset
  uint64_t cookie = 0;  // Go probes: without the slot bits, which the loader adds
  bool retprobe = false;
  std::string what;  // for errors: "SSL_read", "crypto/tls.(*Conn).Read RET"
};

struct GoOffsetsPlan {
  uint32_t tls_conn_conn = 0, net_conn_fd = 0, sysfd = 0;
};

struct AttachPlan {
  std::vector<UprobeSpec> probes;
  std::optional<GoOffsetsPlan> go_offsets;  // a Go binary: a slot of its own, its number in each cookie
};

}  // namespace l7tap::agent
