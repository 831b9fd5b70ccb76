#pragma once
// Real HTTP/2 byte streams for the tests: an nghttp2 client and server talking in memory. Every buffer a side
// hands to its transport is one chunk, in the order it was written.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace l7tap::protocols::testing {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct H2Exchange {
  // Request.
  std::string method = "GET";
  std::string path = "/";
  HeaderList request_headers;  // beyond the pseudo-headers
  std::string request_body;
  // What the server does with it.
  int status = 200;
  HeaderList response_headers;
  std::string response_body;
  HeaderList trailers;         // sent after the body (gRPC: grpc-status)
  bool trailers_only = false;  // one HEADERS with END_STREAM: :status plus `trailers`
  bool reset = false;          // RST_STREAM (CANCEL) instead of a response, once the request is read
  int informational = 0;       // a 1xx before the final response (e.g. 103)
};

struct H2Options {
  uint32_t header_table_size = 4096;  // both sides announce it (SETTINGS_HEADER_TABLE_SIZE)
  size_t padding = 0;                 // bytes of padding on every padded-capable frame the server sends
  uint32_t max_frame_size = 16384;    // both sides announce it
  bool goaway_after = false;  // the server sends GOAWAY (last stream = 1) right after stream 1's request
};

struct WireChunk {
  bool from_client;
  std::string bytes;
};

// Runs `exchanges` over one connection, all requests submitted at once (concurrent streams: stream i + 1 is
// exchanges[i / 2]). Returns the chunks both sides wrote, in order.
std::vector<WireChunk> RunH2(const std::vector<H2Exchange>& exchanges, const H2Options& options = {});

// The bytes of several runs over one connection: `rounds` batches, each submitted after the previous one
// completed (sequential streams reuse the HPACK dynamic table).
std::vector<WireChunk> RunH2Rounds(const std::vector<std::vector<H2Exchange>>& rounds,
                                   const H2Options& options = {});

// An HTTP/1.1 request upgraded to h2c (RFC 7540 §3.2): the request text, the server's 101 with its first
// frames and stream 1's response in the same chunk, then HTTP/2 on, with `more` exchanges after stream 1.
std::vector<WireChunk> RunH2cUpgrade(const H2Exchange& first, const std::vector<H2Exchange>& more,
                                     const H2Options& options = {});

}  // namespace l7tap::protocols::testing
