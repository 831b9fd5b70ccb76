// Writes the seed corpus of tls_decryptor_fuzzer.cpp (tests/fuzz/corpus/tls_decryptor/) from real TLS
// connections between libssl's client and server in memory (tests/protocols/tls_wire.h): every suite l7tap
// decrypts, KeyUpdate, HelloRetryRequest and resumption, as each side saw them, whole, cut small, with
// uncopied tails, gaps, secrets late or paired by trial, and seen mid-way. make_corpus.py runs it.
// Usage: make_tls_corpus DIR
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/protocols/tls_wire.h"

namespace {

using l7tap::protocols::testing::KeyUpdate;
using l7tap::protocols::testing::TlsChunk;
using l7tap::protocols::testing::TlsStep;
using l7tap::protocols::testing::TlsWire;
using l7tap::protocols::testing::TlsWireOptions;
using l7tap::protocols::testing::TlsWireRun;
using l7tap::protocols::testing::Write;

constexpr uint8_t kEgress = 0, kIngress = 8;  // direction bit of an op, as the client saw it

// One record of fuzz_records.h: op, 16-bit little-endian value, payload.
std::string Op(uint8_t op, const std::string& payload = "", int value = -1) {
  const uint16_t v = uint16_t(value < 0 ? payload.size() : size_t(value));
  return std::string{char(op), char(v & 0xff), char(v >> 8)} + payload;
}

std::string KeyLog(const TlsWireRun& run) {
  std::string out;
  for (const std::string& line : run.client_keylog) out += Op(4, line);
  return out;
}

// The chunks from `first` on as data ops of at most `piece` bytes (a 16-bit value holds a chunk's length), as
// the client (egress: its writes) or server saw them; `tail_over`: from chunk `tail_from` on, bytes past it
// in each piece become an uncopied tail (of 2^10 bytes: the fuzz format's lengths are powers of two) instead;
// `gap_every`: every n-th chunk is a gap of its length.
std::string Data(const TlsWireRun& run, bool as_client, size_t piece = 60000, size_t first = 0,
                 size_t tail_over = 0, size_t gap_every = 0, size_t tail_from = 0) {
  std::string out;
  for (size_t i = first; i < run.chunks.size(); ++i) {
    const TlsChunk& c = run.chunks[i];
    const uint8_t dir = c.from_client == as_client ? kEgress : kIngress;
    if (gap_every && i % gap_every == gap_every - 1) {
      out += Op(2 | dir, "", int(std::min<size_t>(c.bytes.size(), 65535)));
      continue;
    }
    for (size_t at = 0; at < c.bytes.size(); at += piece) {
      const std::string p = c.bytes.substr(at, piece);
      if (tail_over && i >= tail_from && p.size() > tail_over) {
        out += Op(1 | dir | (10 << 4), p.substr(0, tail_over));
      } else {
        out += Op(dir, p);
      }
    }
  }
  return out;
}

void WriteSeed(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::vector<TlsStep> Exchange() {
  return {Write(true, "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\n\r\n"),
          Write(false, "HTTP/1.1 200 OK\r\nContent-Length: 1200\r\n\r\n" + std::string(1200, 'b')),
          Write(true, "POST /up HTTP/1.1\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'u'), 1024),
          Write(false, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  struct Suite {
    const char* name;
    int version;
    const char* suites;
    const char* ciphers;
  } suites[] = {
      {"tls13_aes128", 0x0304, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"tls13_aes256", 0x0304, "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"tls13_chacha", 0x0304, "TLS_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"tls12_aes128", 0x0303, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"tls12_aes256", 0x0303, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"tls12_chacha", 0x0303, "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
  };
  for (const Suite& s : suites) {
    TlsWireOptions o;
    o.version = s.version;
    o.ciphersuites = s.suites;
    o.cipher_list = s.ciphers;
    TlsWire wire(o);
    const TlsWireRun run = wire.Run(Exchange());
    const std::string name = s.name;
    const std::string keys = KeyLog(run);
    // Config: role (% 3: unknown, client, server); bit 2: secrets without client random.
    WriteSeed(dir, name + "-client", std::string(1, 1) + keys + Data(run, true));
    WriteSeed(dir, name + "-server", std::string(1, 2) + keys + Data(run, false));
    WriteSeed(dir, name + "-unknown-role", std::string(1, 0) + keys + Data(run, false));
    WriteSeed(dir, name + "-secrets-late", std::string(1, 1) + Data(run, true) + keys + Op(5, "", 1));
    WriteSeed(dir, name + "-trial", std::string(1, 1 | 4) + keys + Data(run, true));
    if (s.version == 0x0304 && name == "tls13_aes128") {
      WriteSeed(dir, name + "-7-byte-chunks", std::string(1, 1) + keys + Data(run, true, 7));
      WriteSeed(dir, name + "-uncopied-tails", std::string(1, 1) + keys + Data(run, true, 60000, 0, 1000));
      WriteSeed(dir, name + "-gaps", std::string(1, 1) + keys + Data(run, true, 60000, 0, 0, 4));
      WriteSeed(dir, name + "-midway", std::string(1, 1) + keys + Data(run, true, 60000, 5));
      WriteSeed(dir, name + "-no-secrets", std::string(1, 1) + Data(run, true) + Op(5, "", 3000));
    }
    if (s.version == 0x0303 && name == "tls12_aes128") {
      WriteSeed(dir, name + "-uncopied-tails", std::string(1, 2) + keys + Data(run, false, 60000, 0, 500));
      WriteSeed(dir, name + "-gaps", std::string(1, 2) + keys + Data(run, false, 60000, 0, 0, 3));
      WriteSeed(dir, name + "-uncopied-tails-after-handshake",
                std::string(1, 2) + keys + Data(run, false, 60000, 0, 300, 0, 4));
    }
    // Resumption: a second connection with the first one's session.
    const TlsWireRun resumed = wire.Run(Exchange(), run.session);
    WriteSeed(dir, name + "-resumed", std::string(1, 1) + KeyLog(resumed) + Data(resumed, true));
  }
  {
    TlsWire wire;
    const TlsWireRun run =
        wire.Run({Write(true, "ping"), KeyUpdate(true, true), Write(true, "after update"),
                  Write(false, std::string(2000, 'r')), KeyUpdate(false, false), Write(false, "pong")});
    WriteSeed(dir, "tls13-key-update", std::string(1, 1) + KeyLog(run) + Data(run, true));
  }
  {
    TlsWireOptions o;
    o.client_groups = "X25519:P-256";
    o.server_groups = "P-256";
    TlsWire wire(o);
    const TlsWireRun run = wire.Run(Exchange());
    WriteSeed(dir, "tls13-hello-retry", std::string(1, 2) + KeyLog(run) + Data(run, false));
  }
  return 0;
}
