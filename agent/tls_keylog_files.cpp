#include "agent/tls_keylog_files.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/log.h"

namespace l7tap::agent {
namespace {

// A line longer than any NSS key-log line (label + 64 + 96 hex digits) is not one: dropped unread.
constexpr size_t kMaxLine = 512;

}  // namespace

TlsKeyLogFiles::TlsKeyLogFiles(std::vector<std::string> paths, SecretSink sink) : sink_(std::move(sink)) {
  for (std::string& p : paths) files_.push_back(File{std::move(p)});
  for (File& f : files_) Open(f, /*at_start=*/true);
}

TlsKeyLogFiles::~TlsKeyLogFiles() {
  for (File& f : files_)
    if (f.fd >= 0) close(f.fd);
}

void TlsKeyLogFiles::Open(File& f, bool at_start) {
  int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (!f.missing_logged) {
      Logf(LogLevel::kWarn, "--tls-keylog %s: cannot open (%s); read once it appears", f.path.c_str(),
           std::strerror(errno));
      f.missing_logged = true;
    }
    return;
  }
  struct stat st {};
  fstat(fd, &st);
  f.fd = fd;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  // A file that appears later is new: read whole. One there at start: its recent end only.
  f.offset = at_start && !f.missing_logged && st.st_size > kTailOnOpen ? st.st_size - kTailOnOpen : 0;
  f.partial.clear();
  if (f.offset > 0) f.partial = std::string(kMaxLine + 1, 'x');  // skip the line cut by the offset
}

void TlsKeyLogFiles::Poll() {
  for (File& f : files_) {
    if (f.fd < 0) {
      Open(f, /*at_start=*/false);
      if (f.fd < 0) continue;
    }
    struct stat now {};
    // Replaced (rotated, rewritten) or truncated: start over on what the path names now.
    const bool replaced = stat(f.path.c_str(), &now) == 0 && (now.st_dev != f.dev || now.st_ino != f.ino);
    struct stat open_st {};
    const bool truncated = fstat(f.fd, &open_st) == 0 && open_st.st_size < f.offset;
    if (replaced || truncated) {
      ReadNew(f);  // what the old one still had
      close(f.fd);
      f.fd = -1;
      stats_.reopened++;
      Open(f, /*at_start=*/false);
      if (f.fd < 0) continue;
    }
    ReadNew(f);
  }
}

void TlsKeyLogFiles::ReadNew(File& f) {
  char buf[16384];
  for (;;) {
    ssize_t n = pread(f.fd, buf, sizeof(buf), f.offset);
    if (n <= 0) break;
    f.offset += n;
    std::string_view chunk(buf, size_t(n));
    while (!chunk.empty()) {
      const size_t nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        if (f.partial.size() <= kMaxLine) f.partial.append(chunk.substr(0, kMaxLine + 1 - f.partial.size()));
        break;
      }
      if (f.partial.empty()) {
        Line(chunk.substr(0, nl));
      } else {
        if (f.partial.size() <= kMaxLine) f.partial.append(chunk.substr(0, std::min(nl, kMaxLine + 1)));
        if (f.partial.size() <= kMaxLine) Line(f.partial);
        f.partial.clear();
      }
      chunk.remove_prefix(nl + 1);
    }
  }
  OPENSSL_cleanse(buf, sizeof(buf));  // key material in hex
}

void TlsKeyLogFiles::Line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty() || line.front() == '#') return;
  auto secret = protocols::ParseKeyLogLine(line);
  if (!secret) {
    stats_.malformed++;
    return;
  }
  stats_.lines++;
  sink_(std::move(*secret));
}

}  // namespace l7tap::agent
