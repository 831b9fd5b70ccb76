// go_offsets_gen: writes go_fd_offsets_table.inc, the built-in GoFdOffsets table, from the DWARF of reference
// Go builds (amd64 binaries using crypto/tls over TCP, with DWARF: the fixtures' go1.N-default-server).
//
//   go_offsets_gen [-o FILE] BINARY...
//
// One entry per Go minor version, ascending; two references of one minor version must agree. Output goes to
// standard output, or to FILE, which is written only when every reference was read.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_dwarf_offsets.h"

namespace {

using l7tap::Error;
using l7tap::Result;
using l7tap::symbolizer::ElfFile;
using l7tap::symbolizer::GoFdOffsets;

struct Reference {
  std::string version;  // "go1.22.12"
  std::string name;     // the file's name without its directory
  GoFdOffsets offsets;
};

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

bool SameOffsets(const GoFdOffsets& a, const GoFdOffsets& b) {
  return a.tls_conn_conn == b.tls_conn_conn && a.net_conn_fd == b.net_conn_fd &&
         a.net_fd_pfd == b.net_fd_pfd && a.poll_fd_sysfd == b.poll_fd_sysfd;
}

// The reference's Go minor version and offsets; errors name the file.
Result<std::pair<int, Reference>> Read(const std::string& path) {
  auto elf = ElfFile::Open(path);
  if (!elf) return Error{elf.error()};
  if (!(*elf)->is_x86_64()) return Error{path + ": not x86-64; the table is for amd64"};
  auto build = l7tap::symbolizer::ReadGoBuildInfo(**elf);
  if (!build) return Error{build.error()};
  if (build->major != 1) return Error{path + ": Go version " + build->version + " is not a Go 1.x release"};
  auto offsets = l7tap::symbolizer::ReadGoFdOffsetsFromDwarf(**elf);
  if (!offsets) return Error{offsets.error()};
  if (!*offsets) {
    return Error{path + ": no DWARF describing crypto/tls.Conn, net.conn, net.netFD and internal/poll.FD " +
                 "(a reference must use crypto/tls over TCP and be built without -ldflags=-w)"};
  }
  const size_t slash = path.rfind('/');
  return std::pair{
      build->minor,
      Reference{build->version, slash == std::string::npos ? path : path.substr(slash + 1), **offsets}};
}

std::string Table(const std::map<int, std::vector<Reference>>& references) {
  std::ostringstream out;
  out << "// Generated from the DWARF of reference Go builds by go_offsets_gen "
         "(symbolizer/go_offsets_gen.cpp); do\n"
         "// not edit. Regenerate after building the Go fixtures (fixtures/go) with every Go toolchain at "
         "hand:\n"
         "//   cmake --build build --target go_offsets_gen go_fixtures\n"
         "//   build/symbolizer/go_offsets_gen -o symbolizer/go_fd_offsets_table.inc "
         "build/fixtures/go/go1.*-default-server\n"
         "// Entries (amd64): {Go 1.minor, crypto/tls.Conn.conn, net.conn.fd, net.netFD.pfd, "
         "internal/poll.FD.Sysfd}.\n";
  for (const auto& [minor, builds] : references) {
    const GoFdOffsets& offsets = builds.front().offsets;
    out << "{" << minor << ", " << Hex(offsets.tls_conn_conn) << ", " << Hex(offsets.net_conn_fd) << ", "
        << Hex(offsets.net_fd_pfd) << ", " << Hex(offsets.poll_fd_sysfd) << "},  //";
    for (const Reference& reference : builds)
      out << " " << reference.version << " (" << reference.name << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string output;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-o" && i + 1 < argc) {
      output = argv[++i];
    } else if (arg == "-h" || arg == "--help" || (!arg.empty() && arg[0] == '-')) {
      std::cerr
          << "usage: go_offsets_gen [-o FILE] BINARY...\n"
             "  prints the built-in Go fd offsets table (go_fd_offsets_table.inc) read from the DWARF of\n"
             "  the reference Go binaries given, one per Go minor version\n";
      return arg == "-h" || arg == "--help" ? 0 : 2;
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.empty()) {
    std::cerr << "go_offsets_gen: no reference binary given (try -h)\n";
    return 2;
  }

  std::map<int, std::vector<Reference>> references;
  for (const std::string& path : paths) {
    auto read = Read(path);
    if (!read) {
      std::cerr << "go_offsets_gen: " << read.error() << "\n";
      return 1;
    }
    auto& [minor, reference] = *read;
    auto& same_minor = references[minor];
    if (!same_minor.empty() && !SameOffsets(same_minor.front().offsets, reference.offsets)) {
      std::cerr << "go_offsets_gen: " << path << " (" << reference.version << ") disagrees with "
                << same_minor.front().name << " (" << same_minor.front().version
                << ") on the offsets of one Go minor version\n";
      return 1;
    }
    same_minor.push_back(std::move(reference));
  }

  const std::string table = Table(references);
  if (output.empty()) {
    std::cout << table;
    return std::cout.flush() ? 0 : 1;
  }
  const std::string temporary = output + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!(file << table) || !file.flush()) {
      std::cerr << "go_offsets_gen: cannot write " << temporary << "\n";
      return 1;
    }
  }
  if (std::rename(temporary.c_str(), output.c_str()) != 0) {
    std::cerr << "go_offsets_gen: cannot rename " << temporary << " to " << output << "\n";
    return 1;
  }
  return 0;
}
