#pragma once
// Where the HTTP endpoint listens (--listen): a TCP address (":9464" every address, IPv6 and IPv4 where the
// node has IPv6; "0.0.0.0:9464", "127.0.0.1:9464", "[::1]:9464", "[::]:9464") or a unix socket
// ("unix:/run/l7tap/metrics.sock"). The agent opens the socket itself, so that a failure names its cause.
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace l7tap::agent {

struct ListenAddress {
  enum class Kind { kAnyAddress, kIpv4, kIpv6, kUnix };
  Kind kind = Kind::kAnyAddress;
  std::string text;  // as given, for messages
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  uint16_t port = 0;
  std::string path;  // kUnix
};

// Parses the forms above; the error says which form is expected.
Result<ListenAddress> ParseListenAddress(std::string_view text);

// A socket the listening is done on; the unix socket's file is removed when it closes.
class ListenSocket {
 public:
  // Binds and listens. kAnyAddress: one IPv6 socket taking IPv4 too, or IPv4 alone on a node without IPv6.
  // Unix: a stale socket file (nothing listening) is replaced, the file gets mode 0660.
  static Result<ListenSocket> Open(const ListenAddress& address);
  ListenSocket(ListenSocket&& o) noexcept
      : fd_(o.fd_), path_(std::move(o.path_)), description_(std::move(o.description_)) {
    o.fd_ = -1;
    o.path_.clear();
  }
  ListenSocket& operator=(ListenSocket&&) = delete;
  ~ListenSocket();

  int fd() const { return fd_; }
  // Hands the descriptor over (to the HTTP daemon, which closes it); the unix socket's file is still removed
  // at destruction.
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // What it is bound to: "127.0.0.1:9464", "[::]:9464 (IPv6 and IPv4)", "unix:/path".
  const std::string& description() const { return description_; }

 private:
  ListenSocket(int fd, std::string path, std::string description)
      : fd_(fd), path_(std::move(path)), description_(std::move(description)) {}
  int fd_ = -1;
  std::string path_;  // unix socket file, removed at destruction
  std::string description_;
};

}  // namespace l7tap::agent
