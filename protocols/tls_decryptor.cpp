#include "protocols/tls_decryptor.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "protocols/tls_cipher.h"
#include "protocols/tls_handshake.h"
#include "protocols/tls_keys.h"
#include "protocols/tls_record.h"

namespace l7tap::protocols {

namespace {

// The most stream bytes one record can take (header, body at its limit): bounds how few records hid n bytes.
constexpr uint64_t kMaxRecordWire = kTlsRecordHeaderSize + kTlsMaxRecordBody;
// Group ids that failed a trial, remembered so that they are not tried again.
constexpr size_t kMaxTriedGroups = 256;

// One piece of a direction's input, held while its records wait.
struct Input {
  bool gap = false;
  bool done = false;            // an unknown-length gap that was taken
  bool chunk_start = true;      // `bytes` begins where a chunk began: where a resync may find a record
  bool resync_checked = false;  // it was tried as such
  bool reports_passed = false;  // a gap whose loss reports went to the reader
  std::string owned;            // the copy `bytes` points into once queued
  std::string_view bytes;
  size_t at = 0;  // bytes taken
  uint64_t tail = 0;
  uint64_t ts_ns = 0;
  StreamGap gap_info;

  bool used_up() const {
    if (gap) return done || (gap_info.length_known && gap_info.missing == 0);
    return at == bytes.size() && tail == 0;
  }
};

enum class Epoch : uint8_t {
  kClear,        // no protected record yet
  kHandshake,    // TLS 1.3 handshake traffic keys
  kApplication,  // TLS 1.3 application traffic keys (generation: KeyUpdates so far)
  kTls12,        // TLS 1.2 after ChangeCipherSpec
};

enum class Waiting : uint8_t { kNone, kHello, kSecrets };

// A run of a record's plaintext: bytes known, or not (a hole, or bytes that could not be decrypted).
struct Piece {
  size_t offset = 0;
  size_t length = 0;
  bool known = true;
  bool tail = false;
  StreamGap gap;
};

// Where records are decrypted: one buffer per thread for all connections (a record's plaintext is passed on
// before the next is decrypted; sinks do not call into decryptors).
std::vector<uint8_t>& Scratch() {
  thread_local std::vector<uint8_t> buffer(kTlsMaxRecordBody);
  return buffer;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

uint64_t Be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

// The plaintext [0, length) of a record, plaintext byte p being body byte begin + p, cut into known and
// unknown runs: the record's holes, and everything from `decrypted` on (bytes that could not be decrypted).
void CutPieces(const TlsRecord& rec, size_t begin, size_t length, size_t decrypted, std::vector<Piece>& out) {
  out.clear();
  const TlsHole* first = rec.holes.empty() ? nullptr : &rec.holes.front();
  auto add = [&](size_t from, size_t to, const TlsHole* hole) {
    if (to <= from) return;
    if (hole) {
      Piece p{from, to - from, false, hole->tail, hole->gap};
      p.gap.missing = p.length;
      p.gap.length_known = true;
      if (!out.empty() && !out.back().known && out.back().tail == p.tail && !p.gap.counted) {
        out.back().length += p.length;
        out.back().gap.missing += p.length;
      } else {
        out.push_back(p);
      }
      return;
    }
    // Known bytes, as far as they were decrypted.
    const size_t split = std::clamp(decrypted, from, to);
    if (split > from) out.push_back(Piece{from, split - from, true, false, {}});
    if (to > split) {
      Piece p{split, to - split, false, first ? first->tail : false, {}};
      p.gap.missing = p.length;
      out.push_back(p);
    }
  };
  size_t p = 0;
  for (const TlsHole& h : rec.holes) {
    const size_t hs = std::min(h.offset > begin ? h.offset - begin : 0, length);
    const size_t he = std::min(h.offset + h.length > begin ? h.offset + h.length - begin : 0, length);
    if (he <= hs) continue;
    add(p, hs, nullptr);
    add(hs, he, &h);
    p = he;
  }
  add(p, length, nullptr);
}

}  // namespace

const char* TlsUntracedReasonName(TlsUntracedReason reason) {
  switch (reason) {
    case TlsUntracedReason::kNone:
      return "none";
    case TlsUntracedReason::kHandshakeNotSeen:
      return "handshake_not_seen";
    case TlsUntracedReason::kNoSecrets:
      return "no_secrets";
    case TlsUntracedReason::kUnsupportedVersion:
      return "unsupported_version";
    case TlsUntracedReason::kUnsupportedCipher:
      return "unsupported_cipher";
    case TlsUntracedReason::kEarlyData:
      return "early_data";
    case TlsUntracedReason::kDesync:
      return "desync";
    case TlsUntracedReason::kNotTls:
      return "not_tls";
    case TlsUntracedReason::kBufferFull:
      return "buffer_full";
  }
  return "?";
}

class TlsDecryptor::Impl {
 public:
  Impl(Role role, TlsSecretStore& store, TlsPlaintextSink& sink, uint32_t tgid, TlsDecryptorLimits limits)
      : role_(role), store_(store), sink_(sink), tgid_(tgid), limits_(limits), plain_(Scratch()) {
    if (role_ != Role::kUnknown) {
      const Direction c2s = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
      side(c2s).client = true;
      roles_known_ = true;
    }
  }

  StreamConsumer& consumer(Direction dir) { return side(dir).consumer; }

  void OnData(Direction dir, uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) {
    if (stopped() || (bytes.empty() && uncopied_tail == 0)) return;
    Side& s = side(dir);
    s.last_ts = ts_ns;
    Input in;
    in.bytes = bytes;
    in.tail = uncopied_tail;
    in.ts_ns = ts_ns;
    Take(s, std::move(in));
  }

  void OnGap(Direction dir, const StreamGap& gap) {
    if (stopped() || (gap.length_known && gap.missing == 0)) return;
    Side& s = side(dir);
    Input in;
    in.gap = true;
    in.gap_info = gap;
    in.ts_ns = s.last_ts;
    Take(s, std::move(in));
  }

  void Poll(uint64_t now_ns) {
    if (stopped()) return;
    DrainAll();
    for (Side& s : sides_) {
      if (stopped() || s.waiting == Waiting::kNone || now_ns < s.wait_since ||
          now_ns - s.wait_since < limits_.secret_wait_ns)
        continue;
      Untrace(s.waiting == Waiting::kHello ? TlsUntracedReason::kHandshakeNotSeen
                                           : TlsUntracedReason::kNoSecrets);
    }
    Cleanup();
  }

  void OnClose() {
    if (closed_) return;
    if (!stopped()) {
      DrainAll();
      // Bytes hidden since boundaries were lost end the stream as a gap of unknown length.
      for (Side& s : sides_) {
        if (stopped() || !s.reader.lost()) continue;
        StreamGap gap = s.reader.Resync().gap;
        gap.missing = 0;
        gap.length_known = false;
        sink_.OnPlaintextGap(s.dir, gap);
      }
    }
    closed_ = true;
    Cleanup();
  }

  bool decrypting() const { return decrypted_any_ && !stopped(); }
  TlsUntracedReason untraced() const { return untraced_; }
  TlsDecryptorState state() const {
    if (untraced_ != TlsUntracedReason::kNone) return TlsDecryptorState::kUntraced;
    if (closed_) return TlsDecryptorState::kClosed;
    for (const Side& s : sides_)
      if (s.waiting != Waiting::kNone) return TlsDecryptorState::kWaitingForSecrets;
    return decrypted_any_ ? TlsDecryptorState::kDecrypting : TlsDecryptorState::kHandshake;
  }
  Role role() const {
    if (!roles_known_) return role_;
    return side(Direction::kEgress).client ? Role::kClient : Role::kServer;
  }
  uint16_t version() const { return server_hello_ ? version_ : 0; }
  uint16_t cipher_suite() const { return server_hello_ && suite_ ? suite_->id : 0; }
  size_t buffered_bytes() const { return buffered_; }
  TlsDecryptorStats TakeStats() { return std::exchange(stats_, {}); }
  size_t key_material_bytes() const {
    size_t n = 0;
    for (const Side& s : sides_)
      n += s.secret.size() + s.keys.key.size() + s.keys.iv.size() + s.cipher.key_material_bytes();
    n += next_.secret.size() + next_.keys.key.size() + next_.keys.iv.size();
    return n;
  }

 private:
  struct Side;
  class Consumer final : public StreamConsumer {
   public:
    Consumer(Impl& impl, Direction dir) : impl_(impl), dir_(dir) {}
    void OnData(uint64_t ts_ns, std::string_view bytes, uint64_t uncopied_tail) override {
      impl_.OnData(dir_, ts_ns, bytes, uncopied_tail);
    }
    void OnGap(const StreamGap& gap) override { impl_.OnGap(dir_, gap); }

   private:
    Impl& impl_;
    Direction dir_;
  };
  struct Side {
    Side(Impl& impl, Direction d)
        : dir(d),
          consumer(impl, d),
          handshake([&impl, this](const TlsHandshakeMessage& m) { impl.OnMessage(*this, m); }) {}
    Direction dir;
    Consumer consumer;
    bool client = false;      // carries the client's bytes (known once roles_known_)
    bool hello = false;       // its first hello was read
    bool encrypting = false;  // its records are protected from here on
    Epoch epoch = Epoch::kClear;
    uint32_t generation = 0;  // TLS 1.3 application traffic secret number (KeyUpdates)
    SecretBytes secret;       // TLS 1.3 application traffic secret (the next one derives from it)
    TlsTrafficKeys keys;      // only while being set up
    TlsRecordCipher cipher;   // ready once keyed for the epoch
    uint64_t seq = 0;
    bool switch_after_record = false;  // a Finished or KeyUpdate ended in this record: new keys after it
    TlsHandshakeReader handshake;
    TlsRecordReader reader;
    std::deque<Input> queue;
    Waiting waiting = Waiting::kNone;
    uint64_t wait_since = 0;
    uint64_t last_ts = 0;
    uint64_t trial_generation = ~0ull;    // store generation at its last trial
    uint64_t blocked_generation = ~0ull;  // store generation when a search last waited for the next secret
    uint32_t resync_failures = 0;
  };
  enum class Resync : uint8_t { kBlocked, kResynced, kFailed };
  // A record number (and keys) that verified a record.
  struct Found {
    uint64_t seq = 0;
    bool next_epoch = false;  // with the keys after a Finished or KeyUpdate that was not seen
    uint64_t skipped = 0;     // records of the current epoch before it that were not seen
    bool exact = false;       // `skipped` is known
  };
  // The keys after the current epoch's (TLS 1.3).
  struct NextKeys {
    SecretBytes secret;
    TlsTrafficKeys keys;
  };

  Side& side(Direction d) { return sides_[d == Direction::kEgress ? 0 : 1]; }
  const Side& side(Direction d) const { return sides_[d == Direction::kEgress ? 0 : 1]; }
  Side& other(const Side& s) { return &s == &sides_[0] ? sides_[1] : sides_[0]; }
  bool stopped() const { return closed_ || untraced_ != TlsUntracedReason::kNone; }

  void Untrace(TlsUntracedReason reason) {
    if (untraced_ == TlsUntracedReason::kNone && !closed_) untraced_ = reason;
  }

  // After an entry point: an untraced or closed connection holds nothing.
  void Cleanup() {
    if (!stopped()) return;
    for (Side& s : sides_) {
      s.queue.clear();
      s.secret.Wipe();
      s.keys.Wipe();
      s.cipher.Reset();
      s.waiting = Waiting::kNone;
    }
    next_.secret.Wipe();
    next_.keys.Wipe();
    buffered_ = 0;
  }

  // New input of side `s`: used at once when nothing waits before it, else queued.
  // While the other side holds older input, this one queues behind it (DrainInOrder then interleaves them by
  // capture time): a record that can be opened now must not overtake an older one of the other direction.
  void Take(Side& s, Input&& in) {
    if (!(s.queue.empty() && other(s).queue.empty() && Run(s, in)) && !stopped()) Enqueue(s, std::move(in));
    DrainAll();
    Cleanup();
  }

  // Holds what is left of `in` (its bytes copied: the caller's do not outlive the call).
  void Enqueue(Side& s, Input&& in) {
    if (!in.gap) {
      in.chunk_start = in.chunk_start && in.at == 0;
      in.owned.assign(in.bytes.substr(in.at));
      in.at = 0;
      buffered_ += in.owned.size();
    }
    s.queue.push_back(std::move(in));
    Input& queued = s.queue.back();
    if (!queued.gap) queued.bytes = queued.owned;  // the move may have left the short-string buffer
    if (buffered_ > limits_.max_buffered_bytes) Untrace(TlsUntracedReason::kBufferFull);
  }

  // Drains both directions' queues until neither moves (one may wait for the other's hello).
  void DrainAll() {
    for (int round = 0; round < 64 && !stopped(); ++round) {
      const uint64_t before = progress_;
      DrainInOrder();
      if (progress_ == before) return;
    }
  }

  // Whether a's next queued input was captured before b's.
  static bool Older(const Side& a, const Side& b) {
    if (a.queue.empty()) return false;
    if (b.queue.empty()) return true;
    return a.queue.front().ts_ns < b.queue.front().ts_ns;
  }

  // Queued inputs of both sides, oldest first by capture time, one at a time (a side that must wait lets the
  // other go on): a server's request and response that waited for the secrets reach the session in the order
  // they happened, as they would have without the wait.
  void DrainInOrder() {
    while (!stopped()) {
      Side* order[2] = {&sides_[0], &sides_[1]};
      if (Older(sides_[1], sides_[0])) std::swap(order[0], order[1]);
      bool moved = false;
      for (Side* s : order) {
        if (s->queue.empty()) {
          if (s->reader.ready()) {
            Input none;
            none.done = none.gap = true;
            Run(*s, none);
          }
          continue;
        }
        // The older side waits for a secret: the other may go on with its handshake (the pairing may need its
        // records), not with application data, which would reach the sink first.
        if (s != order[0] && order[0]->waiting == Waiting::kSecrets && !order[0]->queue.empty() &&
            (s->epoch == Epoch::kApplication || s->epoch == Epoch::kTls12))
          continue;
        Input& in = s->queue.front();
        const size_t at = in.at;
        const bool done = Run(*s, in);
        if (!in.gap) buffered_ -= std::min(buffered_, in.at - at);  // what is held is what is left
        if (!done) continue;
        s->queue.pop_front();
        moved = true;
        break;
      }
      if (!moved) return;
    }
  }

  // Takes `in` until it is used up (true) or a record has to wait (false).
  bool Run(Side& s, Input& in) {
    while (!stopped()) {
      if (s.reader.ready()) {
        if (!HandleRecord(s, s.reader.record())) return false;
        s.waiting = Waiting::kNone;
        s.reader.Next();
        ++progress_;
        continue;
      }
      if (in.used_up()) return true;
      if (s.reader.lost() && !in.gap && in.at == 0 && in.chunk_start && !in.resync_checked) {
        if (TryResync(s, in) == Resync::kBlocked) return false;
        continue;
      }
      const bool was_lost = s.reader.lost();
      Feed(s, in);
      ++progress_;
      if (!was_lost && s.reader.lost()) OnLost(s);
    }
    return true;
  }

  void Feed(Side& s, Input& in) {
    if (!in.gap) {
      if (in.at < in.bytes.size()) {
        in.at += s.reader.Feed(in.ts_ns, AsBytes(in.bytes).subspan(in.at));
      } else {
        in.tail -= s.reader.Skip(in.ts_ns, in.tail, nullptr);
      }
      return;
    }
    StreamGap g = in.gap_info;
    if (in.reports_passed) {
      g.counted = false;
      g.lost_events = g.lost_starts = 0;
    }
    in.reports_passed = true;
    if (!g.length_known) {
      in.done = s.reader.SkipUnknown(in.ts_ns, g);
      return;
    }
    in.gap_info.missing -= s.reader.Skip(in.ts_ns, in.gap_info.missing, &g);
  }

  // Record boundaries just got lost in side `s`.
  void OnLost(Side& s) {
    if (!s.hello) {
      Untrace(s.reader.bad_header() ? TlsUntracedReason::kNotTls : TlsUntracedReason::kHandshakeNotSeen);
    } else if (!s.encrypting || !server_hello_) {
      Untrace(TlsUntracedReason::kDesync);  // the handshake cannot be read on
    } else {
      ++stats_.desyncs;
      s.resync_failures = 0;
    }
  }

  bool Block(Side& s, Waiting why, uint64_t ts_ns) {
    if (s.waiting == Waiting::kNone) {
      s.waiting = why;
      s.wait_since = ts_ns;
    }
    return false;
  }

  // One record of side `s`, in order. False: it waits (for the other side's hello, or for secrets).
  bool HandleRecord(Side& s, const TlsRecord& rec) {
    const uint8_t type = rec.header.type;
    if (!s.hello) {
      if (type != kTlsHandshake) {
        Untrace(TlsUntracedReason::kHandshakeNotSeen);
        return true;
      }
      FeedClear(s, rec);
      return true;
    }
    if (!s.encrypting && type == kTlsHandshake) {
      FeedClear(s, rec);
      return true;
    }
    if (!s.encrypting && type == kTlsAlert) {
      ++stats_.alerts;
      return true;
    }
    if (!version_) return Block(s, Waiting::kHello, rec.ts_ns);
    if (version_ == kTls13) {
      if (type == kTlsChangeCipherSpec) return true;  // middlebox compatibility (RFC 8446 §D.4)
      if (type != kTlsApplicationData) {
        if (type == kTlsAlert) ++stats_.alerts;
        return true;
      }
      if (!s.encrypting) {
        s.encrypting = true;
        s.epoch = Epoch::kHandshake;
      }
      return Protected(s, rec);
    }
    if (!s.encrypting) {
      if (type == kTlsChangeCipherSpec) {
        s.encrypting = true;
        s.epoch = Epoch::kTls12;
      } else {
        Untrace(TlsUntracedReason::kDesync);  // application data before ChangeCipherSpec
      }
      return true;
    }
    if (type == kTlsChangeCipherSpec) return true;  // a renegotiation's: its keys are not known
    return Protected(s, rec);
  }

  // A cleartext handshake record.
  void FeedClear(Side& s, const TlsRecord& rec) {
    if (s.handshake.lost()) s.handshake.Restart();
    CutPieces(rec, 0, rec.body.size(), rec.body.size(), pieces_);
    for (const Piece& p : pieces_) {
      if (stopped()) return;
      if (p.known) {
        s.handshake.Feed(rec.body.subspan(p.offset, p.length));
      } else {
        s.handshake.Skip(p.length);
      }
    }
    // A record that cut its first message short, hello unread.
    if (!s.hello && s.handshake.lost()) Untrace(TlsUntracedReason::kHandshakeNotSeen);
  }

  void OnMessage(Side& s, const TlsHandshakeMessage& m) {
    if (stopped()) return;
    if (s.encrypting) {
      OnProtectedMessage(s, m);
      return;
    }
    if (!s.hello) {
      // The first message tells which side is the client.
      const bool client = m.type == kTlsClientHello;
      if ((m.type != kTlsClientHello && m.type != kTlsServerHello) || (roles_known_ && s.client != client)) {
        Untrace(TlsUntracedReason::kHandshakeNotSeen);
        return;
      }
      s.client = client;
      other(s).client = !client;
      roles_known_ = true;
      s.hello = true;
    }
    if (m.type == kTlsClientHello && s.client) {
      const auto ch = m.complete ? ParseClientHello(m.body) : std::nullopt;
      if (!ch) {
        Untrace(m.complete ? TlsUntracedReason::kNotTls : TlsUntracedReason::kDesync);
        return;
      }
      // After a HelloRetryRequest the second ClientHello keeps the first one's random.
      if (client_hellos_++ == 0) {
        client_random_ = ch->random;
        if (ch->offers_early_data) Untrace(TlsUntracedReason::kEarlyData);
      }
    } else if (m.type == kTlsServerHello && !s.client) {
      const auto sh = m.complete ? ParseServerHello(m.body) : std::nullopt;
      if (!sh) {
        Untrace(m.complete ? TlsUntracedReason::kNotTls : TlsUntracedReason::kDesync);
        return;
      }
      if (sh->version != kTls12 && sh->version != kTls13) {
        Untrace(TlsUntracedReason::kUnsupportedVersion);
        return;
      }
      suite_ = FindTlsCipherSuite(sh->cipher_suite, sh->version);
      if (!suite_) {
        Untrace(TlsUntracedReason::kUnsupportedCipher);
        return;
      }
      // A HelloRetryRequest settles version and suite; the ServerHello that follows brings the random.
      version_ = sh->version;
      if (!sh->retry_request) {
        server_random_ = sh->random;
        server_hello_ = true;
      }
    }
  }

  void OnProtectedMessage(Side& s, const TlsHandshakeMessage& m) {
    if (version_ != kTls13) return;  // TLS 1.2: Finished, or a renegotiation nobody follows
    if (s.epoch == Epoch::kHandshake && m.type == kTlsFinished) s.switch_after_record = true;
    if (s.epoch == Epoch::kApplication && m.type == kTlsKeyUpdate) s.switch_after_record = true;
    if (s.epoch == Epoch::kApplication && m.type == kTlsNewSessionTicket) ++stats_.tickets;
  }

  // The secret of `label` for this connection: by client random, or from the group paired by trial (a trial
  // on `rec`, the side's first protected record, when none is paired yet).
  const TlsSecret* FindSecret(Side& s, TlsSecretLabel label, const TlsRecord* rec) {
    if (paired_group_ == 0 && client_hellos_ > 0) {
      if (const TlsSecret* p = store_.Claim(client_random_, label)) {
        ++stats_.secrets_by_random;
        return p;
      }
    }
    if (paired_group_ == 0 && (!rec || !TryTrial(s, *rec))) return nullptr;
    const TlsSecret* p = store_.Claim(paired_group_, label);
    if (p) ++stats_.secrets_by_trial;
    return p;
  }

  TlsSecretLabel TrafficLabel(const Side& s) const {
    if (s.epoch == Epoch::kHandshake)
      return s.client ? TlsSecretLabel::kClientHandshakeTraffic : TlsSecretLabel::kServerHandshakeTraffic;
    return s.client ? TlsSecretLabel::kClientTraffic0 : TlsSecretLabel::kServerTraffic0;
  }

  // Keys for side `s`'s current epoch. False: not there yet (the side waits) or the connection was given up.
  bool EnsureKeys(Side& s, const TlsRecord* rec, uint64_t ts_ns) {
    if (s.cipher.ready()) return true;
    if (version_ == kTls13) {
      if (s.epoch == Epoch::kApplication && s.generation > 0) {
        Untrace(TlsUntracedReason::kDesync);
        return false;
      }
      const TlsSecret* secret = FindSecret(s, TrafficLabel(s), rec);
      if (!secret) return Block(s, Waiting::kSecrets, ts_ns);
      s.secret = secret->secret;
      const bool ok = DeriveTls13Keys(*suite_, s.secret, s.keys) && s.cipher.Init(*suite_, s.keys);
      s.keys.Wipe();
      if (s.epoch == Epoch::kHandshake) s.secret.Wipe();  // only application secrets derive others
      if (!ok) Untrace(TlsUntracedReason::kNoSecrets);    // a secret that does not fit the suite
      return ok;
    }
    if (client_hellos_ == 0) return Block(s, Waiting::kHello, ts_ns);
    const TlsSecret* master = FindSecret(s, TlsSecretLabel::kClientRandom, rec);
    if (!master) return Block(s, Waiting::kSecrets, ts_ns);
    Side& client = s.client ? s : other(s);
    Side& server = s.client ? other(s) : s;
    const bool ok =
        DeriveTls12Keys(*suite_, master->secret, client_random_, server_random_, client.keys, server.keys) &&
        client.cipher.Init(*suite_, client.keys) && server.cipher.Init(*suite_, server.keys);
    client.keys.Wipe();
    server.keys.Wipe();
    if (!ok) Untrace(TlsUntracedReason::kNoSecrets);
    return ok;
  }

  bool FirstProtected(const Side& s) const {
    return s.seq == 0 && (s.epoch == Epoch::kHandshake || s.epoch == Epoch::kTls12);
  }

  // Pairs the connection with a group of secrets without client random whose secret decrypts `rec`, side
  // `s`'s first protected record, with a valid tag. Tried again only when secrets were added since.
  bool TryTrial(Side& s, const TlsRecord& rec) {
    if (!rec.complete() || !FirstProtected(s) || s.trial_generation == store_.generation()) return false;
    if (version_ == kTls12 && client_hellos_ == 0) return false;
    s.trial_generation = store_.generation();
    const std::vector<uint64_t> groups = store_.UnclaimedGroups(tgid_);
    uint32_t tries = 0;
    for (auto it = groups.rbegin(); it != groups.rend() && tries < limits_.max_trial_groups; ++it) {
      const uint64_t g = *it;
      if (std::find(tried_groups_.begin(), tried_groups_.end(), g) != tried_groups_.end()) continue;
      const TlsSecret* secret =
          store_.Peek(g, version_ == kTls13 ? TrafficLabel(s) : TlsSecretLabel::kClientRandom);
      if (!secret) continue;  // its secret for this record may come later
      ++tries;
      ++stats_.trial_decryptions;
      TlsTrafficKeys keys, unused;
      bool derived;
      if (version_ == kTls13) {
        derived = DeriveTls13Keys(*suite_, secret->secret, keys);
      } else {
        derived =
            s.client ? DeriveTls12Keys(*suite_, secret->secret, client_random_, server_random_, keys, unused)
                     : DeriveTls12Keys(*suite_, secret->secret, client_random_, server_random_, unused, keys);
      }
      TlsRecordCipher cipher;
      if (derived && cipher.Init(*suite_, keys) && Verify(cipher, 0, rec.header_bytes, rec.body)) {
        store_.ClaimGroup(g);
        paired_group_ = g;
        return true;
      }
      if (tried_groups_.size() < kMaxTriedGroups) tried_groups_.push_back(g);
    }
    return false;
  }

  bool Verify(TlsRecordCipher& cipher, uint64_t seq, std::span<const uint8_t, 5> header,
              std::span<const uint8_t> body) {
    return cipher.Open(seq, header, body, cipher.plaintext_length(body.size()), true, plain_.data()) ==
           TlsRecordCipher::Result::kOk;
  }

  // The keys that follow side `s`'s current ones (TLS 1.3): the application secret after the handshake's,
  // or the KeyUpdate's next one. False when not there (yet).
  bool PrepareNext(Side& s, NextKeys& next) {
    if (s.epoch == Epoch::kHandshake) {
      const TlsSecretLabel label =
          s.client ? TlsSecretLabel::kClientTraffic0 : TlsSecretLabel::kServerTraffic0;
      const TlsSecret* secret = paired_group_
                                    ? store_.Peek(paired_group_, label)
                                    : (client_hellos_ ? store_.Find(client_random_, label) : nullptr);
      if (!secret) return false;
      next.secret = secret->secret;
    } else if (s.epoch == Epoch::kApplication) {
      if (!NextTls13TrafficSecret(*suite_, s.secret, next.secret)) return false;
    } else {
      return false;
    }
    return DeriveTls13Keys(*suite_, next.secret, next.keys);
  }

  // Moves side `s` to the keys after its current ones.
  void AdoptNext(Side& s, NextKeys& next) {
    if (s.epoch == Epoch::kHandshake) {
      // The application secret now in use (PrepareNext only looked).
      s.epoch = Epoch::kApplication;
      s.generation = 0;
      FindSecret(s, TrafficLabel(s), nullptr);
    } else {
      ++s.generation;
      ++stats_.key_updates;
    }
    s.secret = std::move(next.secret);
    if (!s.cipher.Init(*suite_, next.keys)) Untrace(TlsUntracedReason::kDesync);
    next.keys.Wipe();
    s.seq = 0;
    s.handshake.Restart();
  }

  // After a record that held a Finished (TLS 1.3 handshake keys end) or a KeyUpdate.
  void NextEpoch(Side& s) {
    s.switch_after_record = false;
    s.handshake.Restart();
    if (s.epoch == Epoch::kHandshake) {
      s.epoch = Epoch::kApplication;
      s.generation = 0;
      s.cipher.Reset();  // keys from the store with the next record
      s.seq = 0;
      return;
    }
    NextKeys next;
    if (!PrepareNext(s, next)) {
      Untrace(TlsUntracedReason::kDesync);
      return;
    }
    AdoptNext(s, next);
  }

  // Record numbers [lo, hi] after side `s`'s next one, with its keys, then (TLS 1.3) 0.. with the keys after
  // them, for one that verifies `header` and `body`.
  Resync Search(Side& s, std::span<const uint8_t, 5> header, std::span<const uint8_t> body, uint64_t lo,
                uint64_t hi, Found& found) {
    if (s.blocked_generation == store_.generation()) return Resync::kBlocked;
    const uint64_t per_try = std::max<uint64_t>(body.size(), 1);
    const uint64_t budget = std::min<uint64_t>(limits_.max_resync_tries,
                                               std::max<uint64_t>(1, limits_.max_resync_bytes / per_try));
    const uint64_t tries = std::min(hi >= lo ? hi - lo + 1 : 0, budget);
    for (uint64_t k = lo; k < lo + tries; ++k) {
      if (Verify(s.cipher, s.seq + k, header, body)) {
        found = Found{s.seq + k, false, k, true};
        return Resync::kResynced;
      }
    }
    if (version_ != kTls13) return Resync::kFailed;
    NextKeys next;
    if (!PrepareNext(s, next)) {
      if (s.epoch != Epoch::kHandshake) return Resync::kFailed;
      s.blocked_generation = store_.generation();  // not searched again before the store changes
      return Resync::kBlocked;
    }
    TlsRecordCipher cipher;
    if (!cipher.Init(*suite_, next.keys)) return Resync::kFailed;
    for (uint64_t k = 0; k < std::min(hi + 1, budget); ++k) {
      if (Verify(cipher, k, header, body)) {
        found = Found{k, true, 0, false};
        next_ = std::move(next);
        return Resync::kResynced;
      }
    }
    return Resync::kFailed;
  }

  // One more chunk that did not take a lost side up again.
  void FailResync(Side& s) {
    if (++s.resync_failures >= limits_.max_resync_attempts) Untrace(TlsUntracedReason::kDesync);
  }

  // Side `s` lost its record boundaries: does chunk `in` begin with a record, and which?
  Resync TryResync(Side& s, Input& in) {
    const std::span<const uint8_t> bytes = AsBytes(in.bytes);
    const std::optional<TlsRecordHeader> h = ParseTlsRecordHeader(bytes);
    Resync r = Resync::kFailed;
    if (h && (version_ != kTls13 || h->type == kTlsApplicationData)) {
      if (!EnsureKeys(s, nullptr, in.ts_ns)) return stopped() ? Resync::kFailed : Resync::kBlocked;
      r = Candidate(s, in, bytes, *h);
      if (r == Resync::kBlocked) return r;
    }
    in.resync_checked = true;
    if (r == Resync::kFailed) FailResync(s);
    return r;
  }

  // Whether the record at the start of `bytes` (header `h`) continues side `s`: with the record number it
  // verifies with, the side takes it up there, and what was hidden before it goes out as a plaintext gap.
  Resync Candidate(Side& s, const Input& in, std::span<const uint8_t> bytes, const TlsRecordHeader& h) {
    const bool full = kTlsRecordHeaderSize + h.length <= bytes.size();
    const std::span<const uint8_t, 5> header = bytes.first<5>();
    const std::span<const uint8_t> body =
        bytes.subspan(kTlsRecordHeaderSize, std::min<size_t>(h.length, bytes.size() - kTlsRecordHeaderSize));
    const TlsHidden& hidden = s.reader.hidden();
    const uint64_t overhead = s.cipher.record_overhead();
    // How many records the hidden bytes can have held (they begin at a record's start).
    uint64_t lo = 0, hi = limits_.max_resync_tries;
    if (hidden.length_known) {
      lo = (hidden.bytes + kMaxRecordWire - 1) / kMaxRecordWire;
      hi = hidden.bytes / overhead;
    }
    Found found;
    if (s.cipher.ciphertext_begin() > 0) {
      // TLS 1.2 GCM: the explicit nonce makes the record decryptable whatever its number. Senders put the
      // number there, which the tag confirms when the record is whole.
      if (body.size() < 8) return Resync::kFailed;
      const uint64_t nonce = Be64(body.data());
      found.seq = nonce;
      if (full) {
        if (nonce >= s.seq && Verify(s.cipher, nonce, header, body)) {
          found.skipped = nonce - s.seq;
          found.exact = found.skipped >= lo && found.skipped <= hi;
        } else if (Search(s, header, body, lo, hi, found) != Resync::kResynced) {
          return Resync::kFailed;
        }
      }
    } else {
      if (!full) return Resync::kFailed;  // no tag to check
      const Resync r = Search(s, header, body, lo, hi, found);
      if (r == Resync::kBlocked) Block(s, Waiting::kSecrets, in.ts_ns);
      if (r != Resync::kResynced) return r;
    }
    if (found.next_epoch) AdoptNext(s, next_);
    s.seq = found.seq;
    s.resync_failures = 0;
    ++stats_.resyncs;
    const TlsHidden was = s.reader.Resync();
    StreamGap gap = was.gap;
    const uint64_t framing = found.skipped * overhead;
    // Exact when the records it held are known: their bytes less their framing (no TLS 1.3 padding assumed).
    gap.length_known = found.exact && was.length_known && was.bytes >= framing;
    gap.missing = found.exact && was.bytes >= framing ? was.bytes - framing : 0;
    if (gap.missing > 0 || !gap.length_known) sink_.OnPlaintextGap(s.dir, gap);
    return Resync::kResynced;
  }

  // A protected record of side `s`. False: it waits for keys.
  bool Protected(Side& s, const TlsRecord& rec) {
    // Handshake messages lost in a record known in part: whether the Finished was among them shows from the
    // tag of the next whole record (Search tries the next keys); a partial one is taken as the switch.
    if (s.epoch == Epoch::kHandshake && s.handshake.lost() && !rec.complete() && s.cipher.ready())
      NextEpoch(s);
    if (stopped() || !EnsureKeys(s, &rec, rec.ts_ns)) return stopped();
    TlsRecordCipher& cipher = s.cipher;
    const std::span<const uint8_t> body = rec.body;
    const size_t begin = cipher.ciphertext_begin();
    const size_t length = cipher.plaintext_length(body.size());
    if (body.size() < begin + kTlsTagSize + (version_ == kTls13 ? 1 : 0)) return Garbled(s);
    // Decrypted up to the last byte seen (through holes: counter modes keep their place).
    size_t known_end = body.size();
    if (!rec.holes.empty() && rec.holes.back().offset + rec.holes.back().length == body.size())
      known_end = rec.holes.back().offset;
    size_t decrypted = std::min(length, known_end > begin ? known_end - begin : 0);
    if (begin > 0 && !rec.holes.empty() && rec.holes.front().offset < begin) decrypted = 0;  // nonce unknown
    if (rec.complete()) {
      const auto r = cipher.Open(s.seq, rec.header_bytes, body, length, true, plain_.data());
      if (r == TlsRecordCipher::Result::kBadTag) return BadTag(s, rec);
      if (r != TlsRecordCipher::Result::kOk) return Garbled(s);
    } else if (decrypted > 0 && cipher.Open(s.seq, rec.header_bytes, body, decrypted, false, plain_.data()) !=
                                    TlsRecordCipher::Result::kOk) {
      return Garbled(s);
    }
    ++s.seq;
    ++stats_.records;
    if (!rec.complete()) ++stats_.records_partial;
    decrypted_any_ = true;
    uint8_t type = rec.header.type;
    size_t content = length;
    if (version_ == kTls13) {
      if (decrypted == length) {  // whole plaintext (the tag may be what was not copied)
        // RFC 8446 §5.4: zero padding, then the content type at the end of the plaintext.
        size_t i = length;
        while (i > 0 && plain_[i - 1] == 0) --i;
        if (i == 0) return true;  // no content type: a malformed record, skipped
        type = plain_[i - 1];
        content = i - 1;
      } else {
        // Known in part: no padding assumed, and the content the epoch carries.
        type = s.epoch == Epoch::kHandshake ? kTlsHandshake : kTlsApplicationData;
        content = length - 1;
      }
    }
    CutPieces(rec, begin, content, decrypted, pieces_);
    if (type == kTlsApplicationData) {
      DeliverApplicationData(s, rec.ts_ns);
    } else if (type == kTlsHandshake) {
      if (s.handshake.lost()) s.handshake.Restart();  // a message begins the record, as senders do it
      for (const Piece& p : pieces_) {
        if (p.known) {
          s.handshake.Feed(std::span<const uint8_t>(plain_.data() + p.offset, p.length));
        } else {
          s.handshake.Skip(p.length);
        }
      }
    } else if (type == kTlsAlert) {
      ++stats_.alerts;
    }
    if (s.switch_after_record && !stopped()) NextEpoch(s);
    return true;
  }

  void DeliverApplicationData(Side& s, uint64_t ts_ns) {
    const Piece* pending = nullptr;  // known bytes not yet passed on (an uncopied tail may follow)
    auto flush = [&](uint64_t tail) {
      const std::string_view bytes =
          pending ? std::string_view(reinterpret_cast<const char*>(plain_.data()) + pending->offset,
                                     pending->length)
                  : std::string_view();
      stats_.bytes_decrypted += bytes.size();
      sink_.OnPlaintext(s.dir, ts_ns, bytes, tail);
      pending = nullptr;
    };
    for (const Piece& p : pieces_) {
      if (p.known) {
        if (pending) flush(0);
        pending = &p;
      } else if (p.tail) {
        flush(p.length);
      } else {
        if (pending) flush(0);
        sink_.OnPlaintextGap(s.dir, p.gap);
      }
    }
    if (pending) flush(0);
  }

  // A whole record whose tag failed with the expected keys and number: a later number, or the next keys?
  bool BadTag(Side& s, const TlsRecord& rec) {
    Found found;
    const Resync r = Search(s, rec.header_bytes, rec.body, 1, limits_.max_resync_tries, found);
    if (r == Resync::kBlocked) return Block(s, Waiting::kSecrets, rec.ts_ns);
    ++stats_.tag_failures;
    if (r == Resync::kResynced) {
      if (found.next_epoch) AdoptNext(s, next_);
      s.seq = found.seq;
      ++stats_.resyncs;
      return stopped() || Protected(s, rec);
    }
    return Garbled(s);
  }

  // A protected record that does not decrypt: boundaries or keys are off; look for a record start again.
  bool Garbled(Side& s) {
    ++stats_.desyncs;
    s.reader.LoseAfterRecord();
    s.resync_failures = 0;
    return true;
  }

  Role role_;
  TlsSecretStore& store_;
  TlsPlaintextSink& sink_;
  uint32_t tgid_;
  TlsDecryptorLimits limits_;
  bool roles_known_ = false;
  bool closed_ = false;
  bool decrypted_any_ = false;
  TlsUntracedReason untraced_ = TlsUntracedReason::kNone;
  // From the hellos.
  uint32_t client_hellos_ = 0;
  TlsRandom client_random_{};
  bool server_hello_ = false;
  TlsRandom server_random_{};
  uint16_t version_ = 0;
  const TlsCipherSuite* suite_ = nullptr;
  // Trial pairing.
  uint64_t paired_group_ = 0;
  std::vector<uint64_t> tried_groups_;
  NextKeys next_;  // what Search found after the current keys
  size_t buffered_ = 0;
  uint64_t progress_ = 0;
  TlsDecryptorStats stats_;
  std::vector<uint8_t>& plain_;  // Scratch()
  std::vector<Piece> pieces_;
  Side sides_[2] = {Side(*this, Direction::kEgress), Side(*this, Direction::kIngress)};
};

TlsDecryptor::TlsDecryptor(Role role, TlsSecretStore& store, TlsPlaintextSink& sink, uint32_t tgid,
                           TlsDecryptorLimits limits)
    : impl_(std::make_unique<Impl>(role, store, sink, tgid, limits)) {}

TlsDecryptor::~TlsDecryptor() = default;

StreamConsumer& TlsDecryptor::consumer(Direction dir) { return impl_->consumer(dir); }
void TlsDecryptor::Poll(uint64_t now_ns) { impl_->Poll(now_ns); }
void TlsDecryptor::OnClose() { impl_->OnClose(); }
bool TlsDecryptor::decrypting() const { return impl_->decrypting(); }
TlsUntracedReason TlsDecryptor::untraced() const { return impl_->untraced(); }
TlsDecryptorState TlsDecryptor::state() const { return impl_->state(); }
Role TlsDecryptor::role() const { return impl_->role(); }
uint16_t TlsDecryptor::version() const { return impl_->version(); }
uint16_t TlsDecryptor::cipher_suite() const { return impl_->cipher_suite(); }
size_t TlsDecryptor::buffered_bytes() const { return impl_->buffered_bytes(); }
TlsDecryptorStats TlsDecryptor::TakeStats() { return impl_->TakeStats(); }
size_t TlsDecryptor::key_material_bytes() const { return impl_->key_material_bytes(); }

}  // namespace l7tap::protocols
