#include "protocols/http1_session.h"

#include <algorithm>
#include <array>
#include <iterator>
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
// A connection opened before the capture may be seen first in the middle of a message: up to this many
// chunks per direction are skipped while waiting for one that begins a message.
constexpr size_t kMaxSkippedChunks = 16;

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

// A request whose headers were parsed, waiting for its final response; or, `lost`, one whose bytes the
// kernel counted as dropped, holding its place so that its response is not paired with a later request.
struct Pending {
  uint64_t id;
  uint64_t start_ns;
  std::string method;
  std::string target;
  bool lost = false;
  HttpVersion version = HttpVersion::k11;
};

// An answer no request was queued for yet, in response-stream order. Seen: a response that completed before
// any request was outstanding; with every request byte seen in order it can only answer the next request:
// the two directions' events were reordered (a multi-threaded client's writer can reach its syscall exit
// after the reader has the answer), so it waits for that request. Lost: a response whose bytes were lost
// (counted) while no request waited: it answered the next request, still to be seen (or lost itself).
struct Answer {
  bool lost = false;
  bool switched = false;  // 101 or a CONNECT tunnel: the rest of the connection is another protocol
  int status = 0;
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
};

// One direction of the connection: requests or responses.
struct Side {
  explicit Side(Http1Parser::Kind kind) : parser(kind) {}
  Http1Parser parser;
  uint64_t ts_ns = 0;         // chunk being parsed (after a close: the last one)
  uint64_t begin_ts_ns = 0;   // chunk that carried the current message's first byte
  bool headers_done = false;  // requests: the current message was queued
  bool resync = false;        // after a gap: bytes are dropped until a chunk begins with a message start
  // Requests only: parsing stops after an Upgrade/CONNECT request until its response says whether the
  // protocol changes; bytes that arrive meanwhile wait here.
  bool paused = false;
  std::vector<Chunk> held;
  size_t held_bytes = 0;
  uint64_t current_id = 0;  // id of the request whose headers were parsed last
};

}  // namespace

// Gaps that a parser cannot skip (they hit headers or chunk framing, or a message began inside them)
// desynchronise one direction: its parser is reset and bytes are dropped until a chunk begins with a message
// start. How pairing survives depends on what is known about the hole:
//  - counted (the kernel reported the events dropped in it, and how many of them began a message): exact for
//    every connection whose messages begin a syscall's buffer. Each lost request start queues a lost
//    placeholder, so the response that answers it is not paired with a later request (it is counted
//    unmatched); each lost response start takes one request off the queue front (counted responses_lost),
//    as does a response whose start was seen and whose rest was lost.
//  - not counted (reordering beyond the grace, a copy fault, bytes that moved unseen): correct rather than
//    complete. Response side: on a connection never seen pipelining, the next response pairs with the latest
//    queued request that began before it, the earlier ones counted responses_lost; once pipelining was seen,
//    every queued request is dropped (requests_framing_lost). Request side: queued requests keep waiting, and
//    from then on a response only pairs with a request that began no later than it did (timestamps are
//    syscall exits, so an answer never precedes its request); otherwise it is counted unmatched.
// At most kMaxQueued requests wait; beyond that the oldest is dropped (requests_queue_full).
class Http1Session::Impl {
 public:
  explicit Impl(Http1Session& session) : s_(session), m_(session.memo_) {
    requests_.resync = m_.resync[0];
    responses_.resync = m_.resync[1];
    answers_.resize(m_.lost_answers, Answer{/*lost=*/true});
  }

  // Nothing in flight: no message begun, none queued or held. What remains is in Memo.
  bool Quiescent() const {
    return !requests_.parser.in_message() && !responses_.parser.in_message() && queue_.empty() &&
           std::none_of(answers_.begin(), answers_.end(), [](const Answer& a) { return !a.lost; }) &&
           !requests_.paused && requests_.held.empty() && detecting_[0].empty() && detecting_[1].empty();
  }
  void Save() {
    m_.resync[0] = requests_.resync;
    m_.resync[1] = responses_.resync;
    m_.lost_answers = uint32_t(answers_.size());  // only lost ones are left when quiescent
  }

  void OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied) {
    if (m_.closed || (bytes.empty() && uncopied == 0)) return;
    if (s_.state_ == Http1State::kDetecting) {
      Detect(dir, ts_ns, bytes, uncopied);
    } else if (s_.state_ == Http1State::kHttp) {
      Feed(SideFor(dir), ts_ns, bytes, uncopied);
    }
  }

  void OnGap(Direction dir, StreamGap gap) {
    if (m_.closed || (gap.missing == 0 && gap.length_known && gap.lost_starts == 0)) return;
    // Never more starts than events, nor more than a queue holds (the kernel's counts, sanity-bounded).
    gap.lost_starts = std::min<uint32_t>({gap.lost_starts, gap.lost_events, uint32_t(kMaxQueued)});
    if (s_.state_ == Http1State::kDetecting) {
      // The next bytes decide afresh; until a message starts, chunks that begin none are skipped.
      detecting_[Index(dir)].clear();
      m_.gap_while_detecting[Index(dir)] = gap.counted ? 1 : 2;
      if (gap.counted) m_.detect_lost_starts[Index(dir)] += gap.lost_starts;
      return;
    }
    if (s_.state_ != Http1State::kHttp) return;
    Side& side = SideFor(dir);
    const bool parsing = !side.resync && !side.paused && gap.length_known;
    // Inside a body, with no message begun in the hole, the bytes are skipped. The body's last bytes may be
    // in the gap: the message then ends at the last chunk seen.
    if (parsing && gap.lost_starts == 0 && side.parser.CanSkip(gap.missing))
      return Handle(side, side.parser.Skip(gap.missing));
    // A Content-Length body that ends inside the hole ends the message there; the rest of the hole is lost.
    StreamGap rest = gap;
    if (const uint64_t body = parsing ? side.parser.LengthBodyRemaining() : 0;
        body > 0 && body < gap.missing) {
      Handle(side, side.parser.Skip(body));
      if (s_.state_ != Http1State::kHttp) return;
      rest.missing -= body;
    }
    if (&side == &requests_) return RequestGap(rest);
    ResponseGap(rest);
  }

  void OnClose() {
    if (m_.closed) return;
    m_.closed = true;
    if (s_.state_ != Http1State::kHttp) return;
    const Http1Event end = responses_.parser.Finish();  // completes read-until-close bodies
    if (end == Http1Event::kMessageComplete) {
      OnResponse(/*switched=*/false);
    } else if (end == Http1Event::kError) {
      ++s_.stats_.incomplete_messages;
    }
    if (requests_.parser.in_message()) ++s_.stats_.incomplete_messages;
    for (const Pending& p : queue_) s_.stats_.unanswered_requests += p.lost ? 0 : 1;
    queue_.clear();
    DropSeenAnswers();
    answers_.clear();
  }

 private:
  static size_t Index(Direction dir) { return dir == Direction::kEgress ? 0 : 1; }

  // Server: requests are read (ingress). Client: requests are written (egress).
  Side& SideFor(Direction dir) {
    const bool requests = (dir == Direction::kIngress) == (s_.role_ == Role::kServer);
    return requests ? requests_ : responses_;
  }

  // First bytes of the connection: HTTP/1 or not, and which side is which when the role is unknown.
  // Bytes too short to tell wait (a request line may arrive one byte at a time). A connection whose start
  // was not seen (role unknown) may begin mid-message: such chunks are skipped until one begins a message.
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
    if (carries != Carries::kRequests && carries != Carries::kResponses) {
      uint8_t& skipped = m_.skipped[Index(dir)];
      // Mid-message bytes are expected where the start was not seen: the connection is older than the
      // capture, or bytes were lost before the first message.
      const bool start_unseen = s_.role_ == Role::kUnknown || m_.gap_while_detecting[Index(dir)];
      if (!start_unseen || skipped == kMaxSkippedChunks) return NotHttp();
      ++skipped;
      ++s_.stats_.chunks_skipped;
      waiting.clear();
      return;
    }
    const bool writes_requests = (dir == Direction::kEgress) == (carries == Carries::kRequests);
    const Role implied = writes_requests ? Role::kClient : Role::kServer;
    // A role known before any byte (connect/accept seen) means the capture began with the connection.
    m_.from_start = s_.role_ != Role::kUnknown;
    if (s_.role_ == Role::kUnknown) s_.role_ = implied;
    if (s_.role_ != implied) return NotHttp();  // e.g. a server that reads status lines
    s_.state_ = Http1State::kHttp;

    // Requests lost before this point hold their places ahead of everything parsed from here (net of the
    // responses lost with them, which answered them).
    const Direction request_dir = s_.role_ == Role::kServer ? Direction::kIngress : Direction::kEgress;
    const uint32_t lost_requests = m_.detect_lost_starts[Index(request_dir)];
    const uint32_t lost_responses = m_.detect_lost_starts[1 - Index(request_dir)];
    for (uint32_t i = lost_responses; i < lost_requests; ++i) Enqueue(LostRequest());
    m_.detect_lost_starts = {};
    // Holes of unknown content before the first message: the rules for them hold from here.
    if (m_.gap_while_detecting[Index(request_dir)] == 2) m_.requests_lost = true;
    if (m_.gap_while_detecting[1 - Index(request_dir)] == 2) m_.heal_responses = true;

    const Direction other = dir == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
    std::vector<Chunk> replay = std::move(detecting_[Index(other)]);
    std::vector<Chunk> own = std::move(waiting);
    detecting_ = {};
    for (Chunk& c : replay) Feed(SideFor(other), c.ts_ns, c.bytes, c.uncopied);
    for (Chunk& c : own) Feed(SideFor(dir), c.ts_ns, c.bytes, c.uncopied);
    Feed(SideFor(dir), ts_ns, bytes, uncopied);
  }

  void Feed(Side& side, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied) {
    if (s_.state_ != Http1State::kHttp || (responses_held_ && &side == &responses_)) return;
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
      if (s_.state_ != Http1State::kHttp) {
        // The rest of the chunk that switched to h2c is the new protocol's.
        if (s_.h2c_ && &side == &responses_ && (!bytes.empty() || uncopied))
          s_.h2c_->response_side.push_back({ts_ns, std::string(bytes), uncopied});
        return;
      }
    }
    if (uncopied == 0) return;
    if (!side.parser.CanSkip(uncopied)) {
      // Uncopied bytes that are not body: nothing is known of what they held.
      if (&side == &requests_) return RequestGap(StreamGap{uncopied});
      return ResponseGap(StreamGap{uncopied});
    }
    Handle(side, side.parser.Skip(uncopied));
  }

  void Handle(Side& side, Http1Event event) {
    const bool requests = &side == &requests_;
    switch (event) {
      case Http1Event::kDone:
        break;
      case Http1Event::kMessageBegin:
        side.begin_ts_ns = side.ts_ns;
        side.headers_done = false;
        break;
      case Http1Event::kHeadersComplete:  // reported for requests only
        side.headers_done = true;
        side.current_id = ++m_.last_id;
        if (Enqueue({m_.last_id, side.begin_ts_ns, std::string(side.parser.method()), side.parser.url(),
                     false, side.parser.version()}) &&
            !answers_.empty())
          PairEarly();
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

  Pending LostRequest() { return Pending{++m_.last_id, 0, {}, {}, /*lost=*/true}; }

  // False when the request does not wait in the queue (answered already, or its answer known lost). The
  // answers that came, or were lost, while no request was queued go to the next requests in their order.
  bool Enqueue(Pending p) {
    if (!answers_.empty()) {
      const Answer& a = answers_.front();
      if (!a.lost && !p.lost) return Queue(std::move(p));  // the caller pairs it with that response
      if (!a.lost) ++s_.stats_.unmatched_responses;        // it answered this request, whose bytes were lost
      if (a.lost && !p.lost) ++s_.stats_.responses_lost;
      answers_.erase(answers_.begin());
      return false;
    }
    if (p.lost && m_.orphans > 0) {  // already answered, by a response counted unmatched
      --m_.orphans;
      return false;
    }
    if (!p.lost) m_.orphans = 0;
    return Queue(std::move(p));
  }

  bool Queue(Pending p) {
    if (queue_.size() == kMaxQueued) {
      if (!queue_.front().lost) ++s_.stats_.requests_queue_full;
      queue_.erase(queue_.begin());
    }
    queue_.push_back(std::move(p));
    return true;
  }

  // Takes `n` requests off the queue front whose answers were lost (lost placeholders: the kernel counted
  // them already). Answers beyond the queue belong to requests not known yet (their own loss reported later,
  // or their event reordered behind the answer): the next ones queued.
  void DropAnswered(size_t n) {
    const size_t queued = std::min(n, queue_.size());
    for (size_t i = 0; i < queued; ++i) s_.stats_.responses_lost += queue_[i].lost ? 0 : 1;
    queue_.erase(queue_.begin(), queue_.begin() + long(queued));
    for (size_t i = queued; i < n && answers_.size() < kMaxQueued; ++i)
      answers_.push_back(Answer{/*lost=*/true});
  }

  // Seen answers still waiting can no longer be paired (counted unmatched); lost ones stay.
  void DropSeenAnswers() {
    const auto seen =
        std::remove_if(answers_.begin(), answers_.end(), [](const Answer& a) { return !a.lost; });
    s_.stats_.unmatched_responses += uint64_t(answers_.end() - seen);
    answers_.erase(seen, answers_.end());
    responses_held_ = false;
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
    const uint64_t begin = responses_.begin_ts_ns;
    if (m_.heal_responses) {
      // After a hole of unknown content on a connection that does not pipeline: this answers the latest
      // request sent before it began; the ones before that were answered in the hole.
      m_.heal_responses = false;
      auto latest = std::find_if(queue_.rbegin(), queue_.rend(),
                                 [begin](const Pending& p) { return !p.lost && p.start_ns <= begin; });
      if (latest != queue_.rend()) DropAnswered(size_t(std::distance(latest, queue_.rend())) - 1);
    }
    const bool pairs =
        !queue_.empty() && (queue_.front().lost || !m_.requests_lost || queue_.front().start_ns <= begin);
    // Reordered, not from before the capture: a request was seen already, or the capture began with the
    // connection. Clients only: their writer and reader are often separate threads (a server answers what it
    // has read).
    const bool reordered =
        s_.role_ == Role::kClient && (m_.last_id > 0 || m_.from_start) && !m_.requests_lost;
    if (!pairs && queue_.empty() && reordered && answers_.size() < kMaxQueued) {
      answers_.push_back({false, switched, status, begin, responses_.ts_ns});
      // After a switch the rest of the response stream is another protocol: it waits unparsed.
      if (switched) responses_held_ = true;
      return;
    } else if (!pairs || queue_.front().lost) {
      ++s_.stats_.unmatched_responses;  // no request, or the answer to one whose bytes were lost
      if (pairs) queue_.erase(queue_.begin());
      // Every request seen was answered: this answers one not seen, whose loss may be reported later.
      if (queue_.empty() && !pairs) ++m_.orphans;
    } else {
      // A second request sent before this answer began: the client pipelines.
      if (queue_.size() > 1 && !queue_[1].lost && queue_[1].start_ns < begin) m_.pipelining_seen = true;
      Pending request = std::move(queue_.front());
      queue_.erase(queue_.begin());
      if (switched && status == 101 && responses_.parser.upgrade() == "h2c") {
        // Its answer comes as HTTP/2, on stream 1: the next session records it.
        s_.h2c_ = std::make_unique<H2cUpgrade>();
        s_.h2c_->request = HttpTransaction{
            s_.role_, request.start_ns, 0, std::move(request.method), std::move(request.target),
            0,        request.version};
        for (Chunk& c : requests_.held)
          s_.h2c_->request_side.push_back({c.ts_ns, std::move(c.bytes), c.uncopied});
      } else if (s_.sink_) {
        s_.sink_(HttpTransaction{s_.role_, request.start_ns, responses_.ts_ns, std::move(request.method),
                                 std::move(request.target), status, request.version});
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
    if (queue_.empty() || queue_.front().lost || answers_.empty() || answers_.front().lost) return;
    const Answer response = answers_.front();
    answers_.erase(answers_.begin());
    Pending request = std::move(queue_.front());
    queue_.erase(queue_.begin());
    // Its start was stamped late (that is why it came second): the answer's first byte bounds it.
    const uint64_t start = std::min(request.start_ns, response.begin_ns);
    if (s_.sink_) {
      s_.sink_(HttpTransaction{s_.role_, start, response.end_ns, std::move(request.method),
                               std::move(request.target), response.status, request.version});
    }
    if (response.switched) {
      s_.state_ = Http1State::kUpgraded;
      Release();
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
    if (side.held_bytes > kMaxHeldBytes) return RequestGap(StreamGap{});
    side.held.push_back({ts_ns, std::string(bytes), uncopied});
  }

  // The request direction lost framing: queued requests keep waiting for their answers.
  void RequestGap(const StreamGap& gap) {
    ++s_.stats_.desyncs;
    const bool cut = !requests_.resync && requests_.parser.in_message() && !requests_.headers_done;
    ResetSide(requests_);
    if (cut) {
      // Its start was seen, its rest lost: counted here, and its place kept so its answer pairs with no
      // other.
      ++s_.stats_.requests_cut;
      Queue(LostRequest());
    }
    if (gap.counted) {
      for (uint32_t i = 0; i < gap.lost_starts; ++i) Enqueue(LostRequest());
    } else {
      // Responses that came ahead of their requests may answer lost ones: they can no longer be paired.
      m_.requests_lost = true;
      DropSeenAnswers();
    }
  }

  // The response direction lost framing: the requests whose answers were in the hole leave the queue.
  void ResponseGap(const StreamGap& gap) {
    ++s_.stats_.desyncs;
    // A response began and its rest was lost (a 1xx answers nothing: its request still waits).
    const int status = responses_.parser.status_code();
    const bool cut = !responses_.resync && responses_.parser.in_message() && !(status >= 100 && status < 200);
    ResetSide(responses_);
    // An Upgrade request waiting for its (now lost) answer: what follows it may not be HTTP.
    if (requests_.paused) ResetSide(requests_);
    if (gap.counted) return DropAnswered((cut ? 1 : 0) + gap.lost_starts);
    if (m_.pipelining_seen) {
      for (const Pending& p : queue_) s_.stats_.requests_framing_lost += p.lost ? 0 : 1;
      queue_.clear();
      return;
    }
    if (cut) DropAnswered(1);
    m_.heal_responses = true;
  }

  static void ResetSide(Side& side) {
    side.parser.Reset();
    side.resync = true;
    side.paused = false;
    side.headers_done = false;
    side.held.clear();
    side.held_bytes = 0;
  }

  void NotHttp() {
    s_.state_ = Http1State::kNotHttp;
    Release();
  }

  void Release() {
    queue_.clear();
    answers_.clear();
    responses_held_ = false;
    detecting_ = {};
    requests_.held.clear();
    requests_.paused = false;
  }

  Http1Session& s_;
  Memo& m_;  // the session's scalars: they outlive this (see Quiesce)
  Side requests_{Http1Parser::Kind::kRequest};
  Side responses_{Http1Parser::Kind::kResponse};
  // Vectors, not deques: a deque allocates on construction, and most connections hold one request or none.
  std::vector<Pending> queue_;   // requests in order, oldest first
  std::vector<Answer> answers_;  // answers no request was queued for yet, in order (see Answer)
  bool responses_held_ = false;  // a switch answered a request not seen yet: later response bytes wait
  std::array<std::vector<Chunk>, 2> detecting_;  // by direction: first bytes too short to classify
};

Http1Session::Http1Session(Role role, Sink sink)
    : role_(role),
      sink_(std::move(sink)),
      egress_(*this, Direction::kEgress),
      ingress_(*this, Direction::kIngress) {}

Http1Session::~Http1Session() = default;

Http1Session::Impl& Http1Session::impl() {
  if (!impl_) impl_ = std::make_unique<Impl>(*this);
  return *impl_;
}

void Http1Session::OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) {
  impl().OnData(dir, ts_ns, bytes, uncopied_tail);
}

void Http1Session::OnGap(Direction dir, const StreamGap& gap) { impl().OnGap(dir, gap); }

void Http1Session::OnClose() { impl().OnClose(); }

bool Http1Session::Quiesce() {
  if (!impl_) return true;
  const bool ignored = state_ == Http1State::kNotHttp || state_ == Http1State::kUpgraded;
  if (!ignored && !impl_->Quiescent()) return false;
  impl_->Save();
  impl_.reset();
  return true;
}

void Http1Session::Adapter::OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) {
  session_.OnData(dir_, ts_ns, bytes, uncopied_tail);
}

void Http1Session::Adapter::OnGap(const StreamGap& gap) { session_.OnGap(dir_, gap); }

}  // namespace l7tap::protocols
