#pragma once
// What the Go TLS probes need from one Go executable: its Go version and, for crypto/tls.(*Conn).Read and
// (*Conn).Write, the entry and every RET as file offsets (uprobe offsets). Addresses come from .symtab when
// present, else from the pclntab (stripped builds); PIE builds are handled the same way (file offsets). With
// them, the struct offsets from a *crypto/tls.Conn to its socket fd: from the binary's DWARF, else from the
// built-in table by Go version (go_fd_offsets_table.h).
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_buildinfo.h"

namespace l7tap::symbolizer {

inline constexpr const char* kGoTlsFunctions[] = {"crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"};

struct GoTlsFunction {
  std::string name;
  std::string source;            // "symtab" or "pclntab"
  uint64_t address = 0;          // entry, virtual address in the file's own address space
  uint64_t end = 0;              // exclusive
  uint64_t offset = 0;           // file offset of the entry
  uint64_t body_offset = 0;      // file offset past the stack-growth check (FindGoStackCheckEnd), or
                                 // the entry when there is none: reached once per call
  bool body_emulated = false;    // the kernel emulates the instruction there
  std::string body_instruction;  // "push rbp"
  // The cheapest point at or after body_offset that every call reaches once with RAX, RBX, RCX and R14 (the
  // probes' inputs) unchanged: the first emulated instruction on the straight line, else body_offset itself.
  uint64_t probe_offset = 0;
  bool probe_emulated = false;
  std::string probe_instruction;
  std::vector<uint64_t> return_offsets;  // file offset of each RET, ascending
};

// Byte offsets that lead from a *crypto/tls.Conn to its socket's fd number:
//   tls.Conn.conn (net.Conn interface: itab word, then data word = *net.TCPConn)
//   -> net.TCPConn's embedded net.conn.fd (*net.netFD) -> netFD.pfd (internal/poll.FD) -> FD.Sysfd (int).
struct GoFdOffsets {
  uint64_t tls_conn_conn = 0;  // offset of crypto/tls.Conn.conn
  uint64_t net_conn_fd = 0;    // offset of net.conn.fd (net.TCPConn embeds net.conn at offset 0)
  uint64_t net_fd_pfd = 0;     // offset of net.netFD.pfd
  uint64_t poll_fd_sysfd = 0;  // offset of internal/poll.FD.Sysfd
  // "dwarf", or the built-in table entry used: "table go1.N", or "table go1.N (nearest older than go1.M)"
  // for a Go 1.M newer than every entry.
  std::string source;
};

struct GoBinary {
  GoBuildInfo build;
  std::vector<GoTlsFunction> functions;  // those of kGoTlsFunctions present, in that order
  GoFdOffsets fd_offsets;                // set when `functions` is not empty
};

// The probes read Go's register ABI (arguments in registers), which amd64 Go has since 1.17.
inline constexpr int kGoRegisterAbiMinor = 17;

// True for Go 1.x older than 1.17: InspectGoBinary refuses it with "<path>: Go <version> is older than 1.17
// (register ABI needed)". Lets a caller count that reason apart from the other errors.
bool IsGoTooOld(const GoBuildInfo& build);

// Errors: not a Go binary; Go older than 1.17 (IsGoTooOld); not x86-64; no pclntab and no .symtab entry; a
// function whose RETs cannot be found; no fd offsets (no usable DWARF and no built-in table entry for its
// version, or DWARF showing a layout the offsets do not fit). A Go binary without crypto/tls gives an empty
// `functions` (and no fd offsets).
// kDwarfFirst reads fd_offsets from DWARF when the binary has it, else from the built-in table; kTableFirst
// takes the table's entry when there is one (DWARF is not read: decompressing it costs tens of ms, too slow
// to attach a just-exec'd binary before its first request) and DWARF otherwise.
enum class GoOffsetsOrder { kDwarfFirst, kTableFirst };
Result<GoBinary> InspectGoBinary(const ElfFile& elf, GoOffsetsOrder order = GoOffsetsOrder::kDwarfFirst);

}  // namespace l7tap::symbolizer
