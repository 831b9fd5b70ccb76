#include "protocols/http1_parser.h"

#include <algorithm>
#include <cctype>

namespace l7tap::protocols {

Http1Parser::Http1Parser(Kind kind) : kind_(kind) {
  field_.reserve(kMaxToken);
  upgrade_.reserve(kMaxToken);
  Init();
}

const llhttp_settings_t& Http1Parser::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &OnMessageBegin;
    s.on_url = &OnUrl;
    s.on_header_field = &OnHeaderField;
    s.on_header_value = &OnHeaderValue;
    s.on_header_value_complete = &OnHeaderValueComplete;
    s.on_headers_complete = &OnHeadersComplete;
    s.on_chunk_header = &OnChunkHeader;
    s.on_chunk_complete = &OnChunkComplete;
    s.on_message_complete = &OnMessageComplete;
    return s;
  }();
  return settings;
}

void Http1Parser::Init() {
  llhttp_init(&parser_, kind_ == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &Settings());
  parser_.data = this;
  // We observe rather than enforce: keep parsing what peers send after "Connection: close".
  llhttp_set_lenient_keep_alive(&parser_, 1);
  pending_ = Http1Event::kDone;
  in_message_ = false;
  body_ = Body::kNone;
  in_chunk_data_ = false;
  upgrade_paused_ = false;
  failed_ = false;
  url_.clear();
  field_.clear();
  upgrade_.clear();
  error_ = "";
  llhttp_error_ = HPE_OK;
}

void Http1Parser::Reset() { Init(); }

Http1Step Http1Parser::Execute(std::string_view data) {
  if (failed_) return {Http1Event::kError, 0};
  if (upgrade_paused_) return {Http1Event::kUpgrade, 0};
  static constexpr char kNothing = 0;
  const char* begin = data.empty() ? &kNothing : data.data();
  pending_ = Http1Event::kDone;
  const llhttp_errno_t err = llhttp_execute(&parser_, begin, data.size());
  if (err == HPE_OK) return {Http1Event::kDone, data.size()};
  const char* pos = llhttp_get_error_pos(&parser_);
  const size_t consumed = pos >= begin ? std::min<size_t>(pos - begin, data.size()) : 0;
  switch (err) {
    case HPE_PAUSED:  // one of our callbacks stopped to report an event
      llhttp_resume(&parser_);
      return {pending_, consumed};
    case HPE_PAUSED_UPGRADE:
      upgrade_paused_ = true;
      return {Http1Event::kUpgrade, consumed};
    default:
      failed_ = true;
      llhttp_error_ = err;
      error_ = llhttp_get_error_reason(&parser_);
      return {Http1Event::kError, consumed};
  }
}

bool Http1Parser::CanSkip(uint64_t n) const {
  if (n == 0) return true;
  if (failed_ || upgrade_paused_) return false;
  switch (body_) {
    case Body::kLength:  // content_length counts down the body bytes still expected
      return parser_.content_length >= n;
    case Body::kChunked:  // inside chunk data content_length counts down the chunk; elsewhere it is framing
      return in_chunk_data_ && parser_.content_length >= n;
    case Body::kUntilEof:
      return true;
    case Body::kNone:
      break;
  }
  return false;
}

uint64_t Http1Parser::LengthBodyRemaining() const {
  return !failed_ && !upgrade_paused_ && body_ == Body::kLength ? parser_.content_length : 0;
}

std::string Http1Parser::error() const {
  if (llhttp_error_ == HPE_OK) return error_;
  return std::string(llhttp_errno_name(llhttp_error_)) + ": " + (error_ ? error_ : "");
}

Http1Event Http1Parser::Skip(uint64_t n) {
  if (!CanSkip(n)) {
    failed_ = true;
    error_ = "cannot skip bytes outside a known-length body";
    return Http1Event::kError;
  }
  // Content is irrelevant inside a body; zeros keep llhttp's framing state exact.
  static constexpr char kZeros[16384] = {};
  while (n > 0) {
    const Http1Step step = Execute({kZeros, static_cast<size_t>(std::min<uint64_t>(n, sizeof(kZeros)))});
    n -= step.consumed;
    if (step.event == Http1Event::kDone) continue;
    if (step.event == Http1Event::kError || n == 0) return step.event;
    failed_ = true;  // CanSkip promised the body outlasts the skip
    error_ = "skipped bytes ran past the body";
    return Http1Event::kError;
  }
  return Http1Event::kDone;
}

Http1Event Http1Parser::Finish() {
  if (failed_) return Http1Event::kError;
  if (upgrade_paused_ || !in_message_) return Http1Event::kDone;
  pending_ = Http1Event::kDone;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_PAUSED) return pending_;  // on_message_complete ran: a read-until-close body ended
  if (err == HPE_OK && !in_message_) return Http1Event::kDone;
  failed_ = true;
  error_ = err == HPE_OK ? "message cut by end of stream" : llhttp_get_error_reason(&parser_);
  llhttp_error_ = err;
  return Http1Event::kError;
}

void Http1Parser::ResumeAfterUpgrade() {
  if (!upgrade_paused_) return;
  llhttp_resume_after_upgrade(&parser_);
  upgrade_paused_ = false;
}

std::string_view Http1Parser::method() const {
  if (kind_ != Kind::kRequest) return {};
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

// llhttp reads bodies of 1xx/204/304 if they carry Content-Length; RFC 9112 6.3 says they have none.
// Returns llhttp's on_headers_complete code: 0 = as framed, 1 = no body, 2 = no body and stop (tunnel).
int Http1Parser::DecideResponseFraming() const {
  const int status = parser_.status_code;
  if (status == 101) return 2;
  if (status < 200 || status == 204 || status == 304) return 1;
  if (answering_ == Answering::kHead) return 1;
  if (answering_ == Answering::kConnect && status < 300) return 2;
  return 0;
}

// Mirrors llhttp__after_headers_complete (llhttp 8.1 http.c) so CanSkip knows what kind of body follows.
Http1Parser::Body Http1Parser::BodyAfterHeaders(int decision) const {
  if (decision != 0) return Body::kNone;
  const bool chunked = (parser_.flags & F_CHUNKED) != 0;
  const bool has_body = chunked || parser_.content_length > 0;
  const bool connect = kind_ == Kind::kRequest && parser_.method == HTTP_CONNECT;
  if (parser_.upgrade && (connect || !has_body)) return Body::kNone;
  if (chunked) return Body::kChunked;
  if (parser_.flags & F_TRANSFER_ENCODING) return kind_ == Kind::kRequest ? Body::kNone : Body::kUntilEof;
  if (parser_.flags & F_CONTENT_LENGTH) return parser_.content_length > 0 ? Body::kLength : Body::kNone;
  return llhttp_message_needs_eof(&parser_) ? Body::kUntilEof : Body::kNone;
}

// Callbacks run inside llhttp: they only record state and return codes (HPE_PAUSED hands an event back
// to Execute). Nothing here may throw.

int Http1Parser::OnMessageBegin(llhttp_t* p) noexcept {
  Http1Parser& self = Self(p);
  self.in_message_ = true;
  self.body_ = Body::kNone;
  self.in_chunk_data_ = false;
  self.url_.clear();
  self.field_.clear();
  self.upgrade_.clear();
  self.pending_ = Http1Event::kMessageBegin;
  return HPE_PAUSED;
}

int Http1Parser::OnUrl(llhttp_t* p, const char* at, size_t len) noexcept {
  std::string& url = Self(p).url_;
  try {
    url.append(at, std::min(len, kMaxUrl - std::min(kMaxUrl, url.size())));
  } catch (...) {  // allocation failure: report as a callback error instead of unwinding through C
    return -1;
  }
  return 0;
}

// Only the Upgrade header's value is kept (lowercased, its first kMaxToken bytes): it says what a 101
// switches to. Names and values come in pieces when they cross chunks; fixed-size buffers, so nothing here
// allocates.
int Http1Parser::OnHeaderField(llhttp_t* p, const char* at, size_t len) noexcept {
  Http1Parser& self = Self(p);
  for (size_t i = 0; i < len && self.field_.size() < kMaxToken; ++i)
    self.field_.push_back(char(std::tolower(static_cast<unsigned char>(at[i]))));
  if (self.field_.size() == kMaxToken) self.field_.assign("-");  // longer than any name we keep
  return 0;
}

int Http1Parser::OnHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept {
  Http1Parser& self = Self(p);
  if (self.field_ != "upgrade") return 0;
  for (size_t i = 0; i < len && self.upgrade_.size() < kMaxToken; ++i)
    self.upgrade_.push_back(char(std::tolower(static_cast<unsigned char>(at[i]))));
  return 0;
}

int Http1Parser::OnHeaderValueComplete(llhttp_t* p) noexcept {
  Self(p).field_.clear();
  return 0;
}

int Http1Parser::OnHeadersComplete(llhttp_t* p) noexcept {
  Http1Parser& self = Self(p);
  const int decision = self.kind_ == Kind::kResponse ? self.DecideResponseFraming() : 0;
  self.body_ = self.BodyAfterHeaders(decision);
  if (self.kind_ == Kind::kResponse) return decision;
  self.pending_ = Http1Event::kHeadersComplete;
  return HPE_PAUSED;
}

int Http1Parser::OnChunkHeader(llhttp_t* p) noexcept {
  Self(p).in_chunk_data_ = p->content_length > 0;
  return 0;
}

int Http1Parser::OnChunkComplete(llhttp_t* p) noexcept {
  Self(p).in_chunk_data_ = false;
  return 0;
}

int Http1Parser::OnMessageComplete(llhttp_t* p) noexcept {
  Http1Parser& self = Self(p);
  self.in_message_ = false;
  self.body_ = Body::kNone;
  self.in_chunk_data_ = false;
  if (p->upgrade) return 0;  // llhttp itself stops with HPE_PAUSED_UPGRADE right after this message
  self.pending_ = Http1Event::kMessageComplete;
  return HPE_PAUSED;
}

}  // namespace l7tap::protocols
