#include "protocols/tls_secret_store.h"

#include <algorithm>
#include <cstring>

namespace l7tap::protocols {

size_t TlsSecretStore::RandomHash::operator()(const TlsRandom& r) const {
  // Client randoms are random: any 8 of their bytes hash well.
  uint64_t h;
  std::memcpy(&h, r.data(), sizeof(h));
  return size_t(h);
}

TlsSecretStore::TlsSecretStore(TlsSecretStoreLimits limits) : limits_(limits) {
  if (limits_.capacity == 0) limits_.capacity = 1;
}

TlsSecretStore::~TlsSecretStore() = default;

bool TlsSecretStore::Duplicate(const TlsSecret& secret) const {
  const TlsSecret* held = nullptr;
  if (secret.has_client_random) {
    held = Find(secret.client_random, secret.label);
  } else if (auto cur = current_group_.find({secret.tgid, secret.ssl}); cur != current_group_.end()) {
    held = Peek(cur->second, secret.label);
  }
  return held && held->secret == secret.secret;
}

void TlsSecretStore::Add(TlsSecret secret) {
  if (Duplicate(secret)) {
    ++stats_.duplicates;
    return;
  }
  if (fifo_.size() >= limits_.capacity) PopOldest(false);
  const uint64_t serial = first_serial_ + fifo_.size();
  ++stats_.added;
  ++stats_.added_by_source[size_t(secret.source) % kTlsSecretSources];
  ++generation_;
  fifo_.push_back(Entry{std::move(secret)});
  Entry& e = fifo_.back();
  if (e.secret.has_client_random) {
    by_random_[e.secret.client_random][size_t(e.secret.label)] = serial + 1;
  } else {
    ++stats_.added_without_random;
    AddToGroup(serial, e.secret);
  }
}

void TlsSecretStore::AddToGroup(uint64_t serial, const TlsSecret& secret) {
  const auto key = std::make_pair(secret.tgid, secret.ssl);
  const size_t label = size_t(secret.label);
  auto cur = current_group_.find(key);
  Group* g = nullptr;
  uint64_t id = 0;
  if (cur != current_group_.end()) {
    auto it = groups_.find(cur->second);
    // A label the group holds already begins the object's next handshake.
    if (it != groups_.end() && it->second.slots[label] == 0) {
      id = it->first;
      g = &it->second;
    }
  }
  if (!g) {
    id = next_group_++;
    g = &groups_[id];
    g->tgid = secret.tgid;
    g->ssl = secret.ssl;
    current_group_[key] = id;
    unclaimed_[secret.tgid].push_back(id);
  }
  g->slots[label] = serial + 1;
  ++g->live;
  fifo_.back().group = id;
}

void TlsSecretStore::PopOldest(bool expired) {
  Entry& e = fifo_.front();
  const uint64_t slot = first_serial_ + 1;
  const size_t label = size_t(e.secret.label);
  if (e.group == 0) {
    auto it = by_random_.find(e.secret.client_random);
    if (it != by_random_.end() && it->second[label] == slot) {
      it->second[label] = 0;
      if (std::all_of(it->second.begin(), it->second.end(), [](uint64_t s) { return s == 0; }))
        by_random_.erase(it);
    }
  } else if (auto it = groups_.find(e.group); it != groups_.end()) {
    Group& g = it->second;
    if (g.slots[label] == slot) g.slots[label] = 0;
    if (--g.live == 0) {
      if (auto u = unclaimed_.find(g.tgid); u != unclaimed_.end()) {
        std::erase(u->second, e.group);
        if (u->second.empty()) unclaimed_.erase(u);
      }
      const auto key = std::make_pair(g.tgid, g.ssl);
      if (auto c = current_group_.find(key); c != current_group_.end() && c->second == e.group)
        current_group_.erase(c);
      groups_.erase(it);
    }
  }
  ++(expired ? stats_.expired : stats_.evicted);
  fifo_.pop_front();  // ~SecretBytes wipes the secret
  ++first_serial_;
}

void TlsSecretStore::Expire(uint64_t now_ns) {
  while (!fifo_.empty() && now_ns >= fifo_.front().secret.ts_ns &&
         now_ns - fifo_.front().secret.ts_ns >= limits_.ttl_ns)
    PopOldest(true);
}

const TlsSecret* TlsSecretStore::At(uint64_t slot) const {
  if (slot == 0 || slot - 1 < first_serial_) return nullptr;
  return &fifo_[slot - 1 - first_serial_].secret;
}

const TlsSecret* TlsSecretStore::Find(const TlsRandom& client_random, TlsSecretLabel label) const {
  auto it = by_random_.find(client_random);
  return it == by_random_.end() ? nullptr : At(it->second[size_t(label)]);
}

const TlsSecret* TlsSecretStore::Claim(const TlsRandom& client_random, TlsSecretLabel label) {
  const TlsSecret* s = Find(client_random, label);
  if (s) ++stats_.claimed;
  return s;
}

std::vector<uint64_t> TlsSecretStore::UnclaimedGroups(uint32_t tgid) const {
  auto it = unclaimed_.find(tgid);
  return it == unclaimed_.end() ? std::vector<uint64_t>{} : it->second;
}

const TlsSecret* TlsSecretStore::Peek(uint64_t group, TlsSecretLabel label) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : At(it->second.slots[size_t(label)]);
}

void TlsSecretStore::ClaimGroup(uint64_t group) {
  auto it = groups_.find(group);
  if (it == groups_.end() || it->second.claimed) return;
  it->second.claimed = true;
  ++stats_.groups_claimed;
  if (auto u = unclaimed_.find(it->second.tgid); u != unclaimed_.end()) {
    std::erase(u->second, group);
    if (u->second.empty()) unclaimed_.erase(u);
  }
}

const TlsSecret* TlsSecretStore::Claim(uint64_t group, TlsSecretLabel label) {
  const TlsSecret* s = Peek(group, label);
  if (s) ++stats_.claimed;
  return s;
}

}  // namespace l7tap::protocols
