#pragma once
// Real TLS byte streams for the tests: an OpenSSL (libssl) client and server talking in memory (memory BIOs,
// no sockets), with the NSS key-log lines both sides' key-log callbacks gave. What a side hands to its
// transport during one call (a handshake step, one SSL_write) is one chunk, in the order written.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace l7tap::protocols::testing {

struct TlsChunk {
  bool from_client;
  std::string bytes;
};

struct TlsWireOptions {
  int version = 0x0304;                                     // the one version both sides allow (TLS 1.3/1.2)
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256";      // TLS 1.3 suites
  std::string cipher_list = "ECDHE-RSA-AES128-GCM-SHA256";  // TLS 1.2 suites
  std::string client_groups;                                // "" keeps OpenSSL's
  std::string server_groups;
  bool shutdown = true;  // both sides send close_notify at the end
};

// What happens after the handshake, in order.
struct TlsStep {
  enum class Kind : uint8_t { kWrite, kKeyUpdate };
  Kind kind = Kind::kWrite;
  bool from_client = true;
  std::string data;              // kWrite: written, then read by the peer
  size_t write_size = 16384;     // kWrite: bytes per SSL_write call
  bool update_requested = true;  // kKeyUpdate: the peer is asked to update its keys too
};

TlsStep Write(bool from_client, std::string data, size_t write_size = 16384);
TlsStep KeyUpdate(bool from_client, bool update_requested);

// A session to resume (the client's, after a run).
using TlsSession = std::shared_ptr<void>;

struct TlsWireRun {
  std::vector<TlsChunk> chunks;
  std::vector<std::string> client_keylog;  // NSS key log lines, as the callback gave them
  std::vector<std::string> server_keylog;
  std::string client_sent;  // application bytes the client wrote (and the server read), in order
  std::string server_sent;
  bool resumed = false;
  std::string cipher;  // OpenSSL's name of the suite negotiated
  TlsSession session;  // the client's, to resume with
};

// Both sides' contexts (one server certificate and key, made in memory), kept over runs so that sessions
// resume.
class TlsWire {
 public:
  explicit TlsWire(const TlsWireOptions& options = {});
  ~TlsWire();
  TlsWire(const TlsWire&) = delete;
  TlsWire& operator=(const TlsWire&) = delete;

  // One connection: the handshake (resuming `resume` when given), then `steps`. Throws when OpenSSL fails or
  // a side read something else than the other wrote.
  TlsWireRun Run(const std::vector<TlsStep>& steps, const TlsSession& resume = nullptr);

 private:
  struct Contexts;
  std::unique_ptr<Contexts> contexts_;
  TlsWireOptions options_;
};

// The records of a byte stream, each its own chunk (5-byte header and body), for re-chunking.
std::vector<std::string> SplitRecords(const std::string& stream);

}  // namespace l7tap::protocols::testing
