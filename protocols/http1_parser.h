#pragma once
// A small pull-style wrapper around llhttp: Execute() runs until the next event and says how many bytes it
// consumed, so everything the caller does with an event (queueing, emitting, throwing) happens outside
// llhttp's C frames. The callbacks themselves never throw; they only record and return codes.
#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/transaction.h"

namespace l7tap::protocols {

enum class Http1Event : uint8_t {
  kDone,             // every byte given was consumed; nothing to report
  kMessageBegin,     // a message starts at the first unconsumed byte
  kHeadersComplete,  // requests only: method() and url() are final
  kMessageComplete,  // the message ended at the last consumed byte
  kUpgrade,          // message complete and the rest of the stream is another protocol; parsing is paused
  kError,            // invalid input; error() says why. The parser stays failed until Reset()
};

struct Http1Step {
  Http1Event event;
  size_t consumed;  // bytes of the input used before the event
};

class Http1Parser {
 public:
  enum class Kind : uint8_t { kRequest, kResponse };
  // What the request a response answers implies for the response's framing.
  enum class Answering : uint8_t {
    kOther,
    kHead,     // final response has no body whatever its headers say
    kConnect,  // a 2xx final response switches to a tunnel
  };

  explicit Http1Parser(Kind kind);
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Runs until an event or the end of `data`. Call again with the rest after any event but kError/kUpgrade.
  Http1Step Execute(std::string_view data);
  // Feeds `n` body bytes whose content is unknown. Only valid when CanSkip(n); returns kDone, or
  // kMessageComplete/kUpgrade when they were the message's last bytes.
  Http1Event Skip(uint64_t n);
  // True when the next `n` bytes are all body of the current message (known remaining length >= n, or a body
  // read until close), so their content does not matter.
  bool CanSkip(uint64_t n) const;
  // Body bytes still expected by a Content-Length message (0 for any other framing, or between messages).
  uint64_t LengthBodyRemaining() const;
  // End of stream: completes a read-until-close body (kMessageComplete); kDone if between messages;
  // kError if a message was cut.
  Http1Event Finish();
  // After kUpgrade on a request whose upgrade was refused: continue parsing HTTP.
  void ResumeAfterUpgrade();
  // Forgets the current message and any error (resynchronising after a gap).
  void Reset();

  // Responses: set before feeding a response's bytes (the session knows which request is answered).
  void set_answering(Answering a) { answering_ = a; }

  Kind kind() const { return kind_; }
  bool in_message() const { return in_message_; }
  // Valid from kHeadersComplete until the next kMessageBegin.
  std::string_view method() const;
  const std::string& url() const { return url_; }  // truncated to kMaxUrl
  // The message's Upgrade header value, lowercased ("h2c", "websocket"); empty without one.
  std::string_view upgrade() const { return upgrade_; }
  int status_code() const { return parser_.status_code; }
  // The message's HTTP version (valid from kHeadersComplete); 1.0 for HTTP/0.9 and 1.0.
  HttpVersion version() const {
    return parser_.http_major == 1 && parser_.http_minor >= 1 ? HttpVersion::k11 : HttpVersion::k10;
  }
  std::string error() const;

  static constexpr size_t kMaxUrl = 2048;
  static constexpr size_t kMaxToken = 16;

 private:
  enum class Body : uint8_t { kNone, kLength, kChunked, kUntilEof };

  static Http1Parser& Self(llhttp_t* p) { return *static_cast<Http1Parser*>(p->data); }
  static int OnMessageBegin(llhttp_t* p) noexcept;
  static int OnUrl(llhttp_t* p, const char* at, size_t len) noexcept;
  static int OnHeaderField(llhttp_t* p, const char* at, size_t len) noexcept;
  static int OnHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept;
  static int OnHeaderValueComplete(llhttp_t* p) noexcept;
  static int OnHeadersComplete(llhttp_t* p) noexcept;
  static int OnChunkHeader(llhttp_t* p) noexcept;
  static int OnChunkComplete(llhttp_t* p) noexcept;
  static int OnMessageComplete(llhttp_t* p) noexcept;
  static const llhttp_settings_t& Settings();

  void Init();
  int DecideResponseFraming() const;
  Body BodyAfterHeaders(int decision) const;

  Kind kind_;
  Answering answering_ = Answering::kOther;
  llhttp_t parser_;
  Http1Event pending_ = Http1Event::kDone;  // event recorded by the callback that paused llhttp
  bool in_message_ = false;
  Body body_ = Body::kNone;
  bool in_chunk_data_ = false;  // chunked: between on_chunk_header and on_chunk_complete
  bool upgrade_paused_ = false;
  bool failed_ = false;
  std::string url_;
  std::string field_;    // current header name, lowercased (kMaxToken at most; reserved, never reallocated)
  std::string upgrade_;  // Upgrade header value
  // Why the parser failed: a static text (llhttp's reason, or ours), and llhttp's error code if it was its.
  const char* error_ = "";
  llhttp_errno_t llhttp_error_ = HPE_OK;
};

}  // namespace l7tap::protocols
