#pragma once
// Which file a uprobe would really sit on. Uprobes attach to an inode; for a file seen through overlayfs
// (a container's root), the kernel resolves the overlay file to the layer's own inode (d_real_inode), and a
// process mapping it maps that inode. Two containers of one image see one lower file through two overlay
// mounts: stat() gives each mount's own st_dev, and /proc/PID/maps and map_files show the overlay's device
// too (measured on 6.18), so a (st_dev, st_ino) key attaches twice and doubles every event. This key is the
// real inode where that can be proven, and something never shared across mounts where it cannot: two
// different real files never get the same key (a skipped attach would miss a process); the same real file
// may, where it cannot be proven, get two (a double attach, as without this key).
#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"

namespace l7tap::agent {

struct FileKey {
  enum class Kind : uint8_t {
    kPlain,          // not overlayfs: its own st_dev and st_ino
    kOverlayLower,   // an overlay file not copied up: its lower layer's st_dev and st_ino (proven)
    kOverlayUnique,  // any other overlay file: the overlay mount's st_dev and st_ino, ctime, mtime, size
  };
  Kind kind = Kind::kPlain;
  uint64_t dev = 0, ino = 0;
  int64_t ctime_ns = 0, mtime_ns = 0, size = 0;  // kOverlayUnique only (a copy-up in one mount keeps st_ino)
  auto operator<=>(const FileKey&) const = default;  // a std::map key, as TlsDiscovery keeps files
  std::string ToString() const;
};

struct FileKeyHash {
  size_t operator()(const FileKey& k) const;
};

struct FileIdentity {
  FileKey key;
  // kOverlayLower: the lower file itself, open (owned; closed by the destructor): attach the uprobes through
  // RealPath() so they land on the inode the key names even if the file is copied up meanwhile.
  int real_fd = -1;
  std::string unproven;  // kOverlayUnique: why the lower file could not be proven the real one
  FileIdentity() = default;
  FileIdentity(FileIdentity&& o) noexcept;
  FileIdentity& operator=(FileIdentity&& o) noexcept;
  ~FileIdentity();
  std::string RealPath() const;  // "/proc/self/fd/N", or "" when real_fd is not set
};

// Use (a file about to get uprobes): open it as today (/proc/PID/root/PATH or /proc/PID/map_files/RANGE),
// call IdentifyFile(fd, PID), key the traced-files table by `key` instead of (st_dev, st_ino), and when
// `real_fd` is set attach through RealPath() and keep the FileIdentity (it owns real_fd) as long as the
// probes stay; a file whose key is already traced needs no attach. Costs a few syscalls for overlay files,
// one fstatfs otherwise. The identity of the file open as `fd`. `pid`: a process whose mount namespace holds
// the fd's mount (the fd was opened through /proc/PID/root or /proc/PID/map_files); 0: the agent's own.
// Errors: fstat failed.
Result<FileIdentity> IdentifyFile(int fd, pid_t pid = 0);

}  // namespace l7tap::agent
