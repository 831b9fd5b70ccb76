#pragma once
// NSS key-log files (SSLKEYLOGFILE, node --tls-keylog) read as the programs writing them append: the secrets
// of TLS libraries l7tap has no hook in. Lines go to the secret store only; nothing is logged.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "protocols/tls_secret.h"

namespace l7tap::agent {

struct KeyLogFileStats {
  uint64_t lines = 0;      // secrets read
  uint64_t malformed = 0;  // lines that are no NSS key-log line (comments and blank lines excepted)
  uint64_t reopened = 0;   // the file was replaced or truncated: read again from its start
};

class TlsKeyLogFiles {
 public:
  using SecretSink = std::function<void(protocols::TlsSecret&&)>;
  // At start, a file's last kTailOnOpen bytes are read (secrets of handshakes made just before); files that
  // do not exist yet are waited for (named once in the log).
  TlsKeyLogFiles(std::vector<std::string> paths, SecretSink sink);
  ~TlsKeyLogFiles();
  TlsKeyLogFiles(const TlsKeyLogFiles&) = delete;
  TlsKeyLogFiles& operator=(const TlsKeyLogFiles&) = delete;

  // Reads what was appended since the last call.
  void Poll();
  KeyLogFileStats stats() const { return stats_; }

  static constexpr off_t kTailOnOpen = 1 << 20;

 private:
  struct File {
    std::string path;
    int fd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t offset = 0;
    std::string partial;  // a line not yet ended
    bool missing_logged = false;
  };
  void Open(File& f, bool at_start);
  void ReadNew(File& f);
  void Line(std::string_view line);

  std::vector<File> files_;
  SecretSink sink_;
  KeyLogFileStats stats_;
};

}  // namespace l7tap::agent
