#include "agent/file_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace l7tap::agent {
namespace {

constexpr long kOverlayMagic = 0x794c7630;  // OVERLAYFS_SUPER_MAGIC
#ifndef AT_HANDLE_FID
constexpr int AT_HANDLE_FID =
    0x200;  // 6.5+: a handle to identify, not to open (overlayfs without nfs_export)
#endif
constexpr int kMaxHandle = 128;  // MAX_HANDLE_SZ
// fs/overlayfs/overlayfs.h: the handle overlayfs encodes, the real layer's own handle inside.
constexpr int kOvlFileIdV0 = 0xfb, kOvlFileIdV1 = 0xf8;
constexpr uint8_t kOvlFhMagic = 0xfb, kOvlFhFlagPathUpper = 1 << 2;
constexpr size_t kOvlFbHeader = 5 + 16;  // version, magic, len, flags, type, uuid

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// struct file_handle ends in a flexible array: room for the largest handle behind it.
struct HandleBuffer {
  alignas(file_handle) unsigned char bytes[sizeof(file_handle) + kMaxHandle] = {};
  file_handle* get() { return reinterpret_cast<file_handle*>(bytes); }
};

struct RawHandle {
  int type = 0;
  std::vector<uint8_t> bytes;
};

// The real layer's handle inside an overlay handle, and whether that layer is the upper one.
struct OvlHandle {
  RawHandle real;
  bool upper = false;
};

std::optional<RawHandle> HandleOf(int fd, int flags, int* mount_id) {
  HandleBuffer buf;
  file_handle* h = buf.get();
  h->handle_bytes = kMaxHandle;
  int mnt = 0;
  if (name_to_handle_at(fd, "", h, &mnt, AT_EMPTY_PATH | flags) != 0) return std::nullopt;
  if (mount_id) *mount_id = mnt;
  return RawHandle{h->handle_type, std::vector<uint8_t>(h->f_handle, h->f_handle + h->handle_bytes)};
}

std::optional<OvlHandle> OverlayHandleOf(int fd, int* mount_id) {
  auto h = HandleOf(fd, AT_HANDLE_FID, mount_id);
  if (!h) return std::nullopt;
  size_t at = h->type == kOvlFileIdV1 ? 3 : h->type == kOvlFileIdV0 ? 0 : SIZE_MAX;
  if (at == SIZE_MAX || h->bytes.size() < at + kOvlFbHeader) return std::nullopt;
  const uint8_t* fb = h->bytes.data() + at;
  const size_t len = fb[2];
  if (fb[1] != kOvlFhMagic || len < kOvlFbHeader || at + len > h->bytes.size()) return std::nullopt;
  OvlHandle o;
  o.upper = fb[3] & kOvlFhFlagPathUpper;
  o.real.type = fb[4];
  o.real.bytes.assign(fb + kOvlFbHeader, fb + len);
  return o;
}

// mountinfo escapes space, tab, newline, backslash (and overlayfs ':' and ',' in layer paths) as \ooo.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && s.size() - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out.push_back(char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct OverlayMount {
  std::string root, mount_point, upperdir;
  std::vector<std::string> lowerdirs;
};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t pos = 0;;) {
    const size_t next = s.find(sep, pos);
    out.push_back(s.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) return out;
    pos = next + 1;
  }
}

std::optional<OverlayMount> FindMount(const std::string& mountinfo, int mount_id) {
  std::ifstream in(mountinfo);
  const std::string id = std::to_string(mount_id) + " ";
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(id)) continue;
    const auto fields = Split(line, ' ');
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (fields.size() < 5 || dash + 3 >= fields.size() || fields[dash + 1] != "overlay") return std::nullopt;
    OverlayMount m;
    m.root = Unescape(fields[3]);
    m.mount_point = Unescape(fields[4]);
    for (std::string_view opt : Split(fields[dash + 3], ',')) {
      if (opt.starts_with("upperdir=")) m.upperdir = Unescape(opt.substr(9));
      if (opt.starts_with("lowerdir=")) {
        for (std::string_view dir : Split(opt.substr(9), ':'))  // "::" before data-only layers
          if (!dir.empty()) m.lowerdirs.push_back(Unescape(dir));
      }
    }
    return m;
  }
  return std::nullopt;
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string ReadLink(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n > 0 && size_t(n) < sizeof(buf) ? std::string(buf, size_t(n)) : std::string();
}

// overlayfs's own xattrs (trusted.overlay.*, or user.overlay.* with userxattr) that change what a path means.
bool HasOverlayXattr(int fd, std::initializer_list<const char*> names) {
  const std::string path = FdPath(fd);
  for (const char* prefix : {"trusted.overlay.", "user.overlay."})
    for (const char* name : names) {
      const std::string x = std::string(prefix) + name;
      if (getxattr(path.c_str(), x.c_str(), nullptr, 0) >= 0 || errno == ERANGE) return true;
    }
  return false;
}

int64_t Ns(const timespec& t) { return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

// "" when `relative` (a path inside the layers) is not in the upper layer and nothing on the way there
// (whiteout, opaque or redirected directory) could hide a copy elsewhere; else why not.
std::string NotInUpper(int upper, std::string_view relative) {
  Fd dir(fcntl(upper, F_DUPFD_CLOEXEC, 0));
  const auto parts = Split(relative, '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string part(parts[i]);
    if (part.empty() || part == "." || part == "..") return "an unusual path in the lower layer";
    Fd next(openat(dir.get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) return errno == ENOENT ? "" : "the upper layer could not be read";
    if (i + 1 == parts.size()) return "copied up (or replaced) in the upper layer";
    struct stat st {};
    if (fstat(next.get(), &st) != 0 || !S_ISDIR(st.st_mode))
      return "a whiteout on its path in the upper layer";
    if (HasOverlayXattr(next.get(), {"opaque", "redirect"}))
      return "an opaque or redirected directory on its path in the upper layer";
    dir.reset(next.release());
  }
  return "";
}

}  // namespace

std::string FileKey::ToString() const {
  const char* kinds[] = {"plain", "overlay-lower", "overlay-unique"};
  std::string s = std::string(kinds[int(kind)]) + ":" + std::to_string(dev) + ":" + std::to_string(ino);
  if (kind == Kind::kOverlayUnique)
    s += ":" + std::to_string(ctime_ns) + ":" + std::to_string(mtime_ns) + ":" + std::to_string(size);
  return s;
}

size_t FileKeyHash::operator()(const FileKey& k) const {
  size_t h = std::hash<uint64_t>()(k.dev) * 31 + std::hash<uint64_t>()(k.ino);
  h = h * 31 + size_t(k.kind);
  return h * 31 + std::hash<int64_t>()(k.ctime_ns);
}

FileIdentity::FileIdentity(FileIdentity&& o) noexcept
    : key(o.key), real_fd(std::exchange(o.real_fd, -1)), unproven(std::move(o.unproven)) {}
FileIdentity& FileIdentity::operator=(FileIdentity&& o) noexcept {
  if (this != &o) {
    if (real_fd >= 0) close(real_fd);
    key = o.key;
    real_fd = std::exchange(o.real_fd, -1);
    unproven = std::move(o.unproven);
  }
  return *this;
}
FileIdentity::~FileIdentity() {
  if (real_fd >= 0) close(real_fd);
}
std::string FileIdentity::RealPath() const { return real_fd >= 0 ? FdPath(real_fd) : std::string(); }

Result<FileIdentity> IdentifyFile(int fd, pid_t pid) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Error{std::string("fstat failed (") + std::strerror(errno) + ")"};
  FileIdentity out;
  out.key.dev = st.st_dev;
  out.key.ino = st.st_ino;
  struct statfs sfs {};
  if (fstatfs(fd, &sfs) != 0 || sfs.f_type != kOverlayMagic) return out;
  out.key.kind = FileKey::Kind::kOverlayUnique;
  out.key.ctime_ns = Ns(st.st_ctim);
  out.key.mtime_ns = Ns(st.st_mtim);
  out.key.size = st.st_size;
  auto unproven = [&out](std::string why) -> Result<FileIdentity> {
    out.unproven = std::move(why);
    return std::move(out);
  };
  if (!S_ISREG(st.st_mode)) return unproven("not a regular file");

  // 1. The overlay's handle names the lower file it came from (its origin), even after a copy-up.
  int mount_id = 0;
  auto handle = OverlayHandleOf(fd, &mount_id);
  if (!handle) return unproven("overlayfs gave no file handle (kernel before 6.6?)");
  if (handle->upper) return unproven("a file of the upper layer");

  // 2. The mount's layers, as the process that holds it sees them.
  const std::string proc = pid > 0 ? "/proc/" + std::to_string(pid) : "/proc/self";
  auto mount = FindMount(proc + "/mountinfo", mount_id);
  if (!mount) return unproven("its mount is not in " + proc + "/mountinfo");
  if (mount->root != "/") return unproven("a bind mount of part of an overlay");
  if (mount->lowerdirs.empty()) return unproven("no lower layer in the mount options");

  // 3. The upper directory named there is this mount's: the overlay encodes its root by the upper root.
  Fd upper;
  if (!mount->upperdir.empty()) {
    upper.reset(open(mount->upperdir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    Fd root(open((proc + "/root" + mount->mount_point).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (upper.get() < 0 || root.get() < 0) return unproven("its upper layer or root could not be opened");
    auto root_handle = OverlayHandleOf(root.get(), nullptr);
    auto upper_handle = HandleOf(upper.get(), 0, nullptr);
    if (!root_handle || !upper_handle || !root_handle->upper ||
        root_handle->real.type != upper_handle->type || root_handle->real.bytes != upper_handle->bytes)
      return unproven("the upperdir path does not lead to this mount's upper layer");
  }

  // 4. The origin, opened by its handle on a lower layer's filesystem.
  Fd real;
  std::string relative;
  for (const std::string& dir : mount->lowerdirs) {
    Fd layer(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));  // open_by_handle_at refuses O_PATH
    if (layer.get() < 0) continue;
    if (handle->real.bytes.size() > kMaxHandle) break;
    HandleBuffer buf;
    file_handle* h = buf.get();
    h->handle_bytes = unsigned(handle->real.bytes.size());
    h->handle_type = handle->real.type;
    std::memcpy(h->f_handle, handle->real.bytes.data(), handle->real.bytes.size());
    Fd candidate(open_by_handle_at(layer.get(), h, O_RDONLY | O_CLOEXEC));
    if (candidate.get() < 0) continue;
    // Its path, which must lie inside this layer: that is where the overlay found it.
    const std::string path = ReadLink(FdPath(candidate.get()));
    char* resolved = realpath(dir.c_str(), nullptr);
    const std::string prefix = resolved ? std::string(resolved) + "/" : std::string();
    std::free(resolved);
    if (prefix.size() > 1 && path.starts_with(prefix) && !path.ends_with(" (deleted)")) {
      relative = path.substr(prefix.size());
      real.reset(candidate.release());
      break;
    }
  }
  if (real.get() < 0) return unproven("its origin is in no lower layer this process's mountinfo names");
  struct stat rs {};
  if (fstat(real.get(), &rs) != 0 || !S_ISREG(rs.st_mode)) return unproven("its origin could not be read");
  // Overlayfs on one filesystem reports the origin's inode number: anything else is a different layout.
  if (rs.st_ino != st.st_ino)
    return unproven("overlayfs reports another inode number (xino, or layers apart)");
  // Another name of the same inode could be the one the overlay shows: its upper path is unknown.
  if (rs.st_nlink != 1) return unproven("its origin has hard links");
  // A metacopy's data lies in another layer: the uprobe would sit there.
  if (HasOverlayXattr(real.get(), {"metacopy", "redirect"})) return unproven("its origin is a metacopy");

  // 5. Not copied up: the upper layer has nothing at its path.
  if (upper.get() >= 0)
    if (std::string why = NotInUpper(upper.get(), relative); !why.empty()) return unproven(why);

  out.key =
      FileKey{.kind = FileKey::Kind::kOverlayLower, .dev = uint64_t(rs.st_dev), .ino = uint64_t(rs.st_ino)};
  out.real_fd = real.release();
  out.unproven.clear();
  return out;
}

}  // namespace l7tap::agent
