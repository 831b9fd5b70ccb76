#include "agent/kernel_sweeper.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "agent/process_alive.h"

namespace l7tap::agent {
namespace {

// Every entry of a hash map, in batches (one syscall per few thousand entries). `visit` says why an entry
// must go (nullopt: it stays); a removal counts once the delete succeeded (the kernel may have removed the
// entry meanwhile). Entries inserted during the walk may be missed: the next pass sees them.
template <typename Key, typename Value>
size_t ForEach(int fd, TableStats& table,
               const std::function<std::optional<Eviction>(const Key&, const Value&)>& visit) {
  std::vector<Key> keys(4096);
  std::vector<Value> values(keys.size());
  alignas(8) unsigned char in[sizeof(Key) < 8 ? 8 : sizeof(Key)], out[sizeof(in)];
  bool first = true;
  size_t kept = 0;
  std::vector<std::pair<Key, Eviction>> doomed;
  for (;;) {
    uint32_t count = uint32_t(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err =
        bpf_map_lookup_batch(fd, first ? nullptr : in, out, keys.data(), values.data(), &count, &opts);
    const int e = err ? errno : 0;
    if (err && e == ENOSPC && count == 0) {  // one bucket holds more than a batch: grow it
      keys.resize(keys.size() * 2);
      values.resize(keys.size());
      continue;
    }
    for (uint32_t i = 0; i < count; ++i) {
      if (auto why = visit(keys[i], values[i])) {
        doomed.emplace_back(keys[i], *why);
      } else {
        ++kept;
      }
    }
    if (err) break;  // ENOENT: the end
    std::copy(std::begin(out), std::end(out), std::begin(in));
    first = false;
  }
  for (const auto& [key, why] : doomed)
    if (bpf_map_delete_elem(fd, &key) == 0) table.Evicted(why);
  return kept;
}

}  // namespace

KernelSweeper::KernelSweeper(CaptureProbes& probes, TableRegistry& tables, uint64_t idle_timeout_ns)
    : probes_(probes),
      idle_timeout_ns_(idle_timeout_ns),
      conns_(tables.Add("kernel_conns", probes.max_connections(),
                        {Eviction::kFull, Eviction::kIdle, Eviction::kProcessGone})),
      muted_(tables.Add("kernel_muted", probes.max_connections(), {Eviction::kFull, Eviction::kOwnerGone})),
      ssl_fds_(tables.Add("kernel_ssl_fds", L7TAP_MAX_SSL_SESSIONS,
                          {Eviction::kFull, Eviction::kOwnerGone, Eviction::kProcessGone})),
      go_calls_(tables.Add("kernel_go_calls", L7TAP_MAX_GO_CALLS, {Eviction::kFull, Eviction::kProcessGone})),
      go_slots_(tables.Add("kernel_go_offsets", L7TAP_MAX_GO_BINARIES, {})),
      detach_queue_(
          tables.Add("uprobe_detach_queue", CaptureProbes::kMaxPendingDetaches, {Eviction::kFull})) {}

bool KernelSweeper::Alive(uint32_t tgid) {
  if (alive_.contains(tgid)) return true;
  if (gone_.contains(tgid)) return false;
  const bool alive = ProcessAlive(tgid);
  (alive ? alive_ : gone_).insert(tgid);
  return alive;
}

void KernelSweeper::Forget(const ConnId& id, Eviction why) {
  if (probes_.ForgetConnection(id.tgid, id.fd, id.generation)) conns_.Evicted(why);
}

void KernelSweeper::Mute(const ConnId& id, bool tls) {
  if (!probes_.MuteConnection(id.tgid, id.fd, id.generation, tls)) muted_.Evicted(Eviction::kFull);
}

void KernelSweeper::Sweep(uint64_t now_ns) {
  alive_.clear();
  gone_.clear();
  const uint64_t idle_before = now_ns > idle_timeout_ns_ ? now_ns - idle_timeout_ns_ : 0;

  std::unordered_map<uint64_t, uint64_t> generations;  // live conns: key -> generation
  conns_.set_entries(ForEach<uint64_t, l7tap_conn_info>(
      probes_.conns_fd(), conns_,
      [&](const uint64_t& key, const l7tap_conn_info& c) -> std::optional<Eviction> {
        if (!Alive(uint32_t(key >> 32))) return Eviction::kProcessGone;
        if (c.last_ns < idle_before) return Eviction::kIdle;
        generations.emplace(key, c.generation);
        return std::nullopt;
      }));
  // What describes a connection registered after the pass began (its generation is its registration time)
  // is not judged by it.
  auto connection_gone = [&](uint64_t key, uint64_t generation) {
    if (generation >= now_ns) return false;
    auto it = generations.find(key);
    return it == generations.end() || it->second != generation;
  };
  muted_.set_entries(ForEach<uint64_t, l7tap_mute>(
      probes_.muted_fd(), muted_, [&](const uint64_t& key, const l7tap_mute& m) -> std::optional<Eviction> {
        if (connection_gone(key, m.generation)) return Eviction::kOwnerGone;
        return std::nullopt;
      }));
  ssl_fds_.set_entries(ForEach<l7tap_ssl_key, l7tap_ssl_conn>(
      probes_.ssl_fds_fd(), ssl_fds_,
      [&](const l7tap_ssl_key& key, const l7tap_ssl_conn& s) -> std::optional<Eviction> {
        if (!Alive(key.tgid)) return Eviction::kProcessGone;
        if (connection_gone(l7tap_conn_key(key.tgid, s.fd), s.generation)) return Eviction::kOwnerGone;
        return std::nullopt;
      }));
  go_calls_.set_entries(ForEach<l7tap_go_call_key, l7tap_go_call>(
      probes_.go_calls_fd(), go_calls_,
      [&](const l7tap_go_call_key& key, const l7tap_go_call&) -> std::optional<Eviction> {
        // Never by age: a Read blocks as long as its keep-alive connection idles.
        if (!Alive(key.tgid)) return Eviction::kProcessGone;
        return std::nullopt;
      }));
  go_slots_.set_entries(probes_.go_slots_used());
  detach_queue_.set_entries(probes_.detaches_pending());
  const size_t inline_now = probes_.detaches_ran_inline();  // full: the caller detached those itself
  detach_queue_.Evicted(Eviction::kFull, inline_now - detached_inline_seen_);
  detached_inline_seen_ = inline_now;

  // Inserts the kernel refused since the last pass.
  const KernelCounters k = probes_.ReadCounters();
  auto refused = [&](TableStats& t, int counter) {
    t.Evicted(Eviction::kFull, k[counter] - refused_seen_[counter]);
    refused_seen_[counter] = k[counter];
  };
  refused(conns_, L7TAP_CNT_CONN_TABLE_FULL);
  refused(ssl_fds_, L7TAP_CNT_SSL_TABLE_FULL);
  refused(go_calls_, L7TAP_CNT_GO_CALLS_FULL);
}

}  // namespace l7tap::agent
