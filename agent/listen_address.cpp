#include "agent/listen_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace l7tap::agent {
namespace {

constexpr std::string_view kForms = "expected :PORT, ADDR:PORT ([ADDR]:PORT for IPv6) or unix:/PATH";

Error Bad(std::string_view text, std::string_view why) {
  return Error{"--listen " + std::string(text) + ": " + std::string(why) +
               " (e.g. --listen :9464, --listen 127.0.0.1:9464, --listen [::1]:9464, --listen "
               "unix:/run/l7tap/metrics.sock)"};
}

bool ParsePort(std::string_view s, uint16_t& port) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
  port = uint16_t(v);
  return true;
}

std::string Errno(int e) { return std::strerror(e); }

// What a failed bind means for the user, and what to do.
std::string BindAdvice(int e) {
  switch (e) {
    case EADDRINUSE:
      return "address already in use: stop what listens there or choose another port with --listen";
    case EACCES:
      return "permission denied: ports below 1024 need CAP_NET_BIND_SERVICE; choose another with --listen";
    case EADDRNOTAVAIL:
      return "no interface of this node has that address: choose one of its addresses with --listen";
    default:
      return Errno(e) + ": choose another address with --listen";
  }
}

std::string Describe(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof(host));
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
}

Result<ListenSocket> Fail(int fd, const std::string& text, const std::string& message) {
  if (fd >= 0) close(fd);
  return Error{"--listen " + text + ": " + message};
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  ListenAddress a;
  a.text = std::string(text);
  if (text.starts_with("unix:")) {
    a.kind = ListenAddress::Kind::kUnix;
    a.path = std::string(text.substr(5));
    if (!a.path.starts_with("/")) return Bad(text, "a unix socket needs an absolute path");
    if (a.path.size() >= sizeof(sockaddr_un::sun_path))
      return Bad(text, "the socket path is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                           " bytes");
    if (a.path.back() == '/') return Bad(text, "the socket path names a directory");
    return a;
  }
  std::string_view host, port;
  if (text.starts_with("[")) {
    const size_t close = text.find("]:");
    if (close == std::string_view::npos) return Bad(text, kForms);
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &in6.sin6_addr) != 1)
      return Bad(text, "\"" + std::string(host) + "\" is not an IPv6 address");
    a.kind = IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr) ? ListenAddress::Kind::kAnyAddress
                                                     : ListenAddress::Kind::kIpv6;
    if (!ParsePort(port, a.port)) return Bad(text, "expected a port from 0 to 65535 after ']:'");
    in6.sin6_port = htons(a.port);
    std::memcpy(&a.addr, &in6, sizeof(in6));
    a.addr_len = sizeof(in6);
    return a;
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Bad(text, kForms);
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (!ParsePort(port, a.port)) return Bad(text, "expected a port from 0 to 65535 after ':'");
  if (host.empty()) {
    a.kind = ListenAddress::Kind::kAnyAddress;
    return a;
  }
  if (host.find(':') != std::string_view::npos) return Bad(text, "IPv6 addresses go in brackets");
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(a.port);
  if (inet_pton(AF_INET, std::string(host).c_str(), &in.sin_addr) != 1)
    return Bad(text, "\"" + std::string(host) + "\" is not an IP address (host names are not resolved)");
  a.kind = ListenAddress::Kind::kIpv4;
  std::memcpy(&a.addr, &in, sizeof(in));
  a.addr_len = sizeof(in);
  return a;
}

Result<ListenSocket> ListenSocket::Open(const ListenAddress& address) {
  constexpr int kBacklog = 64;
  const std::string& text = address.text;
  if (address.kind == ListenAddress::Kind::kUnix) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, address.path.data(), address.path.size());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Fail(-1, text, "socket: " + Errno(errno));
    struct stat st {};
    if (lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return Fail(fd, text, address.path + " exists and is not a socket: remove it or choose another path");
      // A socket file is stale when nothing accepts on it (a previous agent killed): it is replaced.
      const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&un), sizeof(un)) == 0;
      if (probe >= 0) close(probe);
      if (live)
        return Fail(fd, text,
                    "another process listens on " + address.path + ": stop it or choose another path");
      if (unlink(address.path.c_str()) != 0)
        return Fail(fd, text, "cannot remove the stale socket " + address.path + ": " + Errno(errno));
    }
    // The directory, where it is the only one missing (/run/l7tap under systemd without RuntimeDirectory=).
    const std::string dir = address.path.substr(0, address.path.rfind('/'));
    if (!dir.empty() && mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return Fail(fd, text, "cannot create the directory " + dir + ": " + Errno(errno));
    if (bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)) != 0)
      return Fail(fd, text, "bind: " + Errno(errno) + ": choose another path with --listen unix:/PATH");
    // Before listen(): nobody can connect in between, so the mode holds from the first connection.
    if (chmod(address.path.c_str(), 0660) != 0 || listen(fd, kBacklog) != 0) {
      const int e = errno;
      unlink(address.path.c_str());
      return Fail(fd, text, Errno(e));
    }
    return ListenSocket(fd, address.path, "unix:" + address.path);
  }

  const bool any = address.kind == ListenAddress::Kind::kAnyAddress;
  sockaddr_storage ss = address.addr;
  socklen_t len = address.addr_len;
  int fd = -1;
  bool dual = false;
  if (any) {
    // One IPv6 socket that takes IPv4 too (what MHD_USE_DUAL_STACK does); IPv4 alone where IPv6 is off.
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
      sockaddr_in6 in6{};
      in6.sin6_family = AF_INET6;
      in6.sin6_addr = in6addr_any;
      in6.sin6_port = htons(address.port);
      const int off = 0, on = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
          bind(fd, reinterpret_cast<sockaddr*>(&in6), sizeof(in6)) == 0) {
        dual = true;
      } else if (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) {
        return Fail(fd, text, BindAdvice(errno));
      } else {
        close(fd);
        fd = -1;
      }
    }
    if (!dual) {
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_addr.s_addr = htonl(INADDR_ANY);
      in.sin_port = htons(address.port);
      std::memcpy(&ss, &in, sizeof(in));
      len = sizeof(in);
    }
  }
  if (!dual) {
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Fail(-1, text, "socket: " + Errno(errno));
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return Fail(fd, text, BindAdvice(errno));
  }
  if (listen(fd, kBacklog) != 0) return Fail(fd, text, Errno(errno));
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  std::string description = Describe(bound);
  if (dual) description += " (IPv6 and IPv4)";
  return ListenSocket(fd, "", std::move(description));
}

ListenSocket::~ListenSocket() {
  if (fd_ >= 0) close(fd_);
  if (!path_.empty()) unlink(path_.c_str());
}

}  // namespace l7tap::agent
