#pragma once
// The TLS secrets of one node, waiting for the connections whose records they decrypt. Secrets with the
// handshake's client random are found by it; the others come grouped by library object (one group per
// handshake of one SSL* in one process) and a connection pairs with a group by trial decryption.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "protocols/tls_secret.h"

namespace l7tap::protocols {

struct TlsSecretStoreLimits {
  size_t capacity = 65536;              // secrets held; past it the oldest goes
  uint64_t ttl_ns = 60'000'000'000ull;  // a secret unclaimed or not, goes this long after its ts_ns
};

struct TlsSecretStoreStats {
  uint64_t added = 0;
  uint64_t added_by_source[kTlsSecretSources] = {};  // by TlsSecretSource
  uint64_t added_without_random = 0;                 // of added: paired by trial (grouped by library object)
  uint64_t expired = 0;                              // wiped at their TTL
  uint64_t evicted = 0;                              // wiped to make room (capacity)
  uint64_t claimed = 0;                              // handed to a connection (one secret may go to several)
  uint64_t groups_claimed = 0;                       // groups paired with a connection by trial
  // Not added: the same secret again (both ends of a loopback connection in one process log it, a Go
  // function restarted after growing its stack reports it twice).
  uint64_t duplicates = 0;
};

class TlsSecretStore {
 public:
  explicit TlsSecretStore(TlsSecretStoreLimits limits = {});
  ~TlsSecretStore();
  TlsSecretStore(const TlsSecretStore&) = delete;
  TlsSecretStore& operator=(const TlsSecretStore&) = delete;

  // The same secret again is dropped (counted).
  void Add(TlsSecret secret);
  // Wipes the secrets older than the TTL (by their ts_ns).
  void Expire(uint64_t now_ns);

  // The secret of `label` for the handshake whose ClientHello carried `client_random` (null when none),
  // counted as claimed. It stays: both ends of a loopback connection traced on one node need it.
  const TlsSecret* Claim(const TlsRandom& client_random, TlsSecretLabel label);
  // The same, not counted (a look ahead).
  const TlsSecret* Find(const TlsRandom& client_random, TlsSecretLabel label) const;

  // Groups of secrets without client random of process `tgid` that no connection paired with yet, oldest
  // first.
  std::vector<uint64_t> UnclaimedGroups(uint32_t tgid) const;
  // A group's secret of `label` for a trial (null when the group has none, or is gone).
  const TlsSecret* Peek(uint64_t group, TlsSecretLabel label) const;
  // The connection that tried `group` successfully pairs with it: no other connection tries it again.
  void ClaimGroup(uint64_t group);
  // A paired group's secret of `label` (null when not there yet), counted as claimed.
  const TlsSecret* Claim(uint64_t group, TlsSecretLabel label);

  // Changes whenever a secret is added: connections waiting for secrets look again only then.
  uint64_t generation() const { return generation_; }
  size_t size() const { return fifo_.size(); }
  TlsSecretStoreStats TakeStats() { return std::exchange(stats_, {}); }

 private:
  // Index of a secret in fifo_, + 1 (0: none). Serial numbers grow with every secret added.
  using Slots = std::array<uint64_t, kTlsSecretLabels>;
  struct Entry {
    TlsSecret secret;
    uint64_t group = 0;  // 0: indexed by client random
  };
  struct Group {
    uint32_t tgid = 0;
    uint64_t ssl = 0;
    bool claimed = false;
    size_t live = 0;  // secrets of the group still held
    Slots slots{};
  };
  struct RandomHash {
    size_t operator()(const TlsRandom& r) const;
  };
  struct ObjectHash {
    size_t operator()(const std::pair<uint32_t, uint64_t>& k) const {
      return k.first * 0x9E3779B97F4A7C15ull ^ k.second;
    }
  };

  const TlsSecret* At(uint64_t slot) const;
  bool Duplicate(const TlsSecret& secret) const;
  void PopOldest(bool expired);
  void AddToGroup(uint64_t serial, const TlsSecret& secret);

  TlsSecretStoreLimits limits_;
  std::deque<Entry> fifo_;  // oldest first
  uint64_t first_serial_ = 0;
  uint64_t generation_ = 0;
  uint64_t next_group_ = 1;
  std::unordered_map<TlsRandom, Slots, RandomHash> by_random_;
  std::unordered_map<uint64_t, Group> groups_;
  // The group a library object's next secret joins (unless its label is there already: a new handshake).
  std::unordered_map<std::pair<uint32_t, uint64_t>, uint64_t, ObjectHash> current_group_;
  std::unordered_map<uint32_t, std::vector<uint64_t>> unclaimed_;  // by tgid, oldest first
  TlsSecretStoreStats stats_;
};

}  // namespace l7tap::protocols
