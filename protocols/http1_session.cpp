#include "protocols/http1_session.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "protocols/http1_parser.h"

namespace l7tap::protocols {
namespace {

enum class Carries : uint8_t { kNeedMore, kRequests, kResponses, kNeither };

constexpr std::string_view kResponseStart = "HTTP/1.";
constexpr size_t kMinMethod = 3;   // GET, PUT, ACL
constexpr size_t kMaxMethod = 20;  // longer tokens are not methods anyone sends
constexpr size_t kMaxHeldBytes = 64 * 1024;
constexpr size_t kMaxQueued = 64;  // outstanding requests; more means responses are not being seen

bool IsMethodChar(char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }

// What a stream that begins with `b` carries: a request line ("GET "), a status line ("HTTP/1."), neither,
// or too few bytes to tell. The h2c preface ("PRI * HTTP/2.0") is not HTTP/1.
Carries Classify(std::string_view b) {
  if (b.starts_with(kResponseStart)) return Carries::kResponses;
  if (kResponseStart.starts_with(b)) return Carries::kNeedMore;
  const size_t token = std::find_if_not(b.begin(), b.end(), IsMethodChar) - b.begin();
  if (token == b.size()) return token <= kMaxMethod ? Carries::kNeedMore : Carries::kNeither;
  const bool method =
      b[token] == ' ' && token >= kMinMethod && token <= kMaxMethod && b.substr(0, token) != "PRI";
  return method ? Carries::kRequests : Carries::kNeither;
}

struct Chunk {
  uint64_t ts_ns;
  std::string bytes;
  uint64_t uncopied;
};

// A request whose headers were parsed, waiting for its final response.
struct Pending {
  uint64_t id;
  uint64_t start_ns;
  std::string method;
  std::string target;
};

// A response that completed before any request was outstanding. With every request byte seen in order, it
// can only answer the next request: the two directions' events were reordered (a multi-threaded client's
// writer can reach its syscall exit after the reader has the answer), so it waits for that request.
struct EarlyResponse {
  int status;
  uint64_t begin_ns;
  uint64_t end_ns;
};

// One direction of the connection: requests or responses.
struct Side {
  explicit Side(Http1Parser::Kind kind) : parser(kind) {}
  Http1Parser parser;
  uint64_t ts_ns = 0;        // chunk being parsed (after a close: the last one)
  uint64_t begin_ts_ns = 0;  // chunk that carried the current message's first byte
  bool resync = false;       // after a gap: bytes are dropped until a chunk begins with a message start
  // Requests only: parsing stops after an Upgrade/CONNECT request until its response says whether the
  // protocol changes; bytes that arrive meanwhile wait here.
  bool paused = false;
  std::vector<Chunk> held;
  size_t held_bytes = 0;
  uint64_t current_id = 0;  // id of the request whose headers were parsed last
};

}  // namespace

// Gaps that a parser cannot skip (they hit headers or chunk framing) desynchronise one direction: its
// parser is reset and bytes are dropped until a chunk begins with a message start. Stitching then stays
// correct rather than complete:
//  - response side: whole responses may have been lost, so every queued request is dropped (counted
//    unanswered); requests parsed afterwards pair with the responses that follow them;
//  - request side: queued requests keep waiting (their responses are unaffected), but whole requests may
//    have been lost, and their responses must not pair with later requests. From then on a response only
//    pairs with a request that began no later than the response did (timestamps are syscall exits, so an
//    answer never precedes its request); otherwise it is counted unmatched. Limitation: with pipelining,
//    a lost request's answer can begin after a later request began and then pairs with it.
// At most kMaxQueued requests wait; beyond that the oldest is dropped (counted unanswered).
class Http1Session::Impl {
 public:
  Impl(Http1Session& session, Sink sink)
      : s_(session),
        sink_(std::move(sink)),
        egress_(session, Direction::kEgress),
        ingress_(session, Direction::kIngress) {}

  void OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied) {
    if (closed_ || (bytes.empty() && uncopied == 0)) return;
    if (s_.state_ == Http1State::kDetecting) {
      Detect(dir, ts_ns, bytes, uncopied);
    } else if (s_.state_ == Http1State::kHttp) {
      Feed(SideFor(dir), ts_ns, bytes, uncopied);
    }
  }

  void OnGap(Direction dir, uint64_t missing) {
    if (closed_ || missing == 0) return;
    if (s_.state_ == Http1State::kDetecting) {
      detecting_[Index(dir)].clear();  // the next bytes decide afresh
      return;
    }
    if (s_.state_ != Http1State::kHttp) return;
    Side& side = SideFor(dir);
    if (side.resync) return;
    if (side.paused || !side.parser.CanSkip(missing)) return Desync(side);
    // The body's last bytes may be in the gap: the message then ends at the last chunk seen.
    Handle(side, side.parser.Skip(missing));
  }

  void OnClose() {
    if (closed_) return;
    closed_ = true;
    if (s_.state_ != Http1State::kHttp) return;
    const Http1Event end = responses_.parser.Finish();  // completes read-until-close bodies
    if (end == Http1Event::kMessageComplete) {
      OnResponse(/*switched=*/false);
    } else if (end == Http1Event::kError) {
      ++s_.stats_.incomplete_messages;
    }
    if (requests_.parser.in_message()) ++s_.stats_.incomplete_messages;
    s_.stats_.unanswered_requests += queue_.size();
    queue_.clear();
    s_.stats_.unmatched_responses += early_.size();
    early_.clear();
  }

  StreamConsumer& consumer(Direction dir) { return dir == Direction::kEgress ? egress_ : ingress_; }

 private:
  class Adapter final : public StreamConsumer {
   public:
    Adapter(Http1Session& session, Direction dir) : session_(session), dir_(dir) {}
    void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override {
      session_.OnData(dir_, ts_ns, bytes, uncopied_tail);
    }
    void OnGap(uint64_t missing) override { session_.OnGap(dir_, missing); }

   private:
    Http1Session& session_;
    Direction dir_;
  };

  static size_t Index(Direction dir) { return dir == Direction::kEgress ? 0 : 1; }

  // Server: requests are read (ingress). Client: requests are written (egress).
  Side& SideFor(Direction dir) {
    const bool requests = (dir == Direction::kIngress) == (s_.role_ == Role::kServer);
    return requests ? requests_ : responses_;
  }

  // First bytes of the connection: HTTP/1 or not, and which side is which when the role is unknown.
  // Bytes too short to tell wait (a request line may arrive one byte at a time).
  void Detect(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied) {
    std::vector<Chunk>& waiting = detecting_[Index(dir)];
    std::string prefix;
    for (const Chunk& c : waiting) prefix += c.bytes;
    prefix += bytes;
    const Carries carries = Classify(prefix);
    if (carries == Carries::kNeedMore && uncopied == 0) {
      waiting.push_back({ts_ns, std::string(bytes), 0});
      return;
    }
    if (carries != Carries::kRequests && carries != Carries::kResponses) return NotHttp();
    const bool writes_requests = (dir == Direction::kEgress) == (carries == Carries::kRequests);
    const Role implied = writes_requests ? Role::kClient : Role::kServer;
    // A role known before any byte (connect/accept seen) means the capture began with the connection.
    from_start_ = s_.role_ != Role::kUnknown;
    if (s_.role_ == Role::kUnknown) s_.role_ = implied;
    if (s_.role_ != implied) return NotHttp();  // e.g. a server that reads status lines
    s_.state_ = Http1State::kHttp;

    const Direction other = dir == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
    std::vector<Chunk> replay = std::move(detecting_[Index(other)]);
    std::vector<Chunk> own = std::move(waiting);
    detecting_ = {};
    for (Chunk& c : replay) Feed(SideFor(other), c.ts_ns, c.bytes, c.uncopied);
    for (Chunk& c : own) Feed(SideFor(dir), c.ts_ns, c.bytes, c.uncopied);
    Feed(SideFor(dir), ts_ns, bytes, uncopied);
  }

  void Feed(Side& side, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied) {
    if (s_.state_ != Http1State::kHttp) return;
    if (side.resync) {
      const Carries start = &side == &requests_ ? Carries::kRequests : Carries::kResponses;
      if (Classify(bytes) != start) return;
      side.resync = false;
      side.parser.Reset();
    }
    side.ts_ns = ts_ns;
    for (;;) {
      if (side.paused) return Hold(side, ts_ns, bytes, uncopied);
      if (&side == &responses_) responses_.parser.set_answering(AnsweringFront());
      const Http1Step step = side.parser.Execute(bytes);
      bytes.remove_prefix(step.consumed);
      if (step.event == Http1Event::kDone) break;
      Handle(side, step.event);
      if (s_.state_ != Http1State::kHttp) return;
    }
    if (uncopied == 0) return;
    if (!side.parser.CanSkip(uncopied)) return Desync(side);
    Handle(side, side.parser.Skip(uncopied));
  }

  void Handle(Side& side, Http1Event event) {
    const bool requests = &side == &requests_;
    switch (event) {
      case Http1Event::kDone:
        break;
      case Http1Event::kMessageBegin:
        side.begin_ts_ns = side.ts_ns;
        break;
      case Http1Event::kHeadersComplete:  // reported for requests only
        if (queue_.size() == kMaxQueued) {
          queue_.pop_front();
          ++s_.stats_.unanswered_requests;
        }
        side.current_id = ++last_id_;
        queue_.push_back({last_id_, side.begin_ts_ns, std::string(side.parser.method()), side.parser.url()});
        if (!early_.empty()) PairEarly();
        break;
      case Http1Event::kMessageComplete:
        if (!requests) OnResponse(/*switched=*/false);
        break;
      case Http1Event::kUpgrade:
        if (requests) return OnUpgradeRequest();
        OnResponse(/*switched=*/true);
        break;
      case Http1Event::kError:
        ++s_.stats_.parse_errors;
        NotHttp();
        break;
    }
  }

  // The response parser must know what it answers: HEAD responses have no body, a 2xx to CONNECT is a tunnel.
  Http1Parser::Answering AnsweringFront() const {
    if (queue_.empty()) return Http1Parser::Answering::kOther;
    const std::string& m = queue_.front().method;
    if (m == "HEAD") return Http1Parser::Answering::kHead;
    if (m == "CONNECT") return Http1Parser::Answering::kConnect;
    return Http1Parser::Answering::kOther;
  }

  // `switched`: 101, or 2xx to CONNECT — the rest of the connection is another protocol.
  void OnResponse(bool switched) {
    const int status = responses_.parser.status_code();
    if (status < 200 && !switched) return;  // 1xx interim responses (100 Continue) answer nothing yet
    const bool pairs =
        !queue_.empty() && (!requests_lost_ || queue_.front().start_ns <= responses_.begin_ts_ns);
    // Reordered, not from before the capture: a request was seen already, or the capture began with the
    // connection.
    // Clients only: their writer and reader are often separate threads (a server answers what it has read).
    const bool reordered = s_.role_ == Role::kClient && (last_id_ > 0 || from_start_) && !requests_lost_;
    if (!pairs && queue_.empty() && !switched && reordered && early_.size() < kMaxQueued) {
      early_.push_back({status, responses_.begin_ts_ns, responses_.ts_ns});
    } else if (!pairs) {
      ++s_.stats_.unmatched_responses;
    } else {
      Pending request = std::move(queue_.front());
      queue_.pop_front();
      if (sink_) {
        sink_(HttpTransaction{s_.role_, request.start_ns, responses_.ts_ns, std::move(request.method),
                              std::move(request.target), status});
      }
      if (!switched && requests_.paused && request.id == requests_.current_id) Resume();  // upgrade refused
    }
    if (switched) {
      s_.state_ = Http1State::kUpgraded;
      Release();
    }
  }

  // The request just queued gets the response that arrived ahead of it.
  void PairEarly() {
    const EarlyResponse response = early_.front();
    early_.pop_front();
    Pending request = std::move(queue_.front());
    queue_.pop_front();
    // Its start was stamped late (that is why it came second): the answer's first byte bounds it.
    const uint64_t start = std::min(request.start_ns, response.begin_ns);
    if (sink_) {
      sink_(HttpTransaction{s_.role_, start, response.end_ns, std::move(request.method),
                            std::move(request.target), response.status});
    }
  }

  // The request side stopped after an Upgrade/CONNECT request. Wait for its answer, unless it came already.
  void OnUpgradeRequest() {
    const bool waiting = !queue_.empty() && queue_.back().id == requests_.current_id;
    if (waiting) {
      requests_.paused = true;
    } else {
      requests_.parser.ResumeAfterUpgrade();
    }
  }

  void Resume() {
    requests_.paused = false;
    requests_.parser.ResumeAfterUpgrade();
    std::vector<Chunk> held = std::move(requests_.held);
    requests_.held.clear();
    requests_.held_bytes = 0;
    for (Chunk& c : held) Feed(requests_, c.ts_ns, c.bytes, c.uncopied);
  }

  void Hold(Side& side, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied) {
    if (bytes.empty() && uncopied == 0) return;
    side.held_bytes += bytes.size();
    if (side.held_bytes > kMaxHeldBytes) return Desync(side);
    side.held.push_back({ts_ns, std::string(bytes), uncopied});
  }

  void Desync(Side& side) {
    ++s_.stats_.desyncs;
    ResetSide(side);
    if (&side == &requests_) {
      requests_lost_ = true;
      return;
    }
    s_.stats_.unanswered_requests += queue_.size();
    queue_.clear();
    // An Upgrade request waiting for its (now lost) answer: what follows it may not be HTTP.
    if (requests_.paused) ResetSide(requests_);
  }

  static void ResetSide(Side& side) {
    side.parser.Reset();
    side.resync = true;
    side.paused = false;
    side.held.clear();
    side.held_bytes = 0;
  }

  void NotHttp() {
    s_.state_ = Http1State::kNotHttp;
    Release();
  }

  void Release() {
    queue_.clear();
    early_.clear();
    detecting_ = {};
    requests_.held.clear();
    requests_.paused = false;
  }

  Http1Session& s_;
  Sink sink_;
  Side requests_{Http1Parser::Kind::kRequest};
  Side responses_{Http1Parser::Kind::kResponse};
  std::deque<Pending> queue_;        // requests in order, oldest first
  std::deque<EarlyResponse> early_;  // responses that came ahead of their request (see EarlyResponse)
  uint64_t last_id_ = 0;
  bool requests_lost_ = false;  // a request-side gap may have swallowed whole requests
  bool from_start_ = false;     // the role was known before the first byte: nothing precedes the capture
  bool closed_ = false;
  std::array<std::vector<Chunk>, 2> detecting_;  // by direction: first bytes too short to classify
  Adapter egress_;
  Adapter ingress_;
};

Http1Session::Http1Session(Role role, Sink sink)
    : impl_(std::make_unique<Impl>(*this, std::move(sink))), role_(role) {}

Http1Session::~Http1Session() = default;

void Http1Session::OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) {
  impl_->OnData(dir, ts_ns, bytes, uncopied_tail);
}

void Http1Session::OnGap(Direction dir, uint64_t missing) { impl_->OnGap(dir, missing); }

void Http1Session::OnClose() { impl_->OnClose(); }

StreamConsumer& Http1Session::consumer(Direction dir) { return impl_->consumer(dir); }

}  // namespace l7tap::protocols
