// The sweeper on the real kernel maps (root, BTF): loaded, not attached, with entries written as the probes
// would write them.
#include "agent/kernel_sweeper.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace l7tap::agent {
namespace {

uint64_t Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

// A pid that no process has now: a child's, once reaped.
uint32_t DeadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return uint32_t(child);
}

template <typename K, typename V>
void Put(int fd, const K& key, const V& value) {
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &value, BPF_ANY), 0);
}

template <typename K, typename V>
bool Has(int fd, const K& key) {
  V value;
  return bpf_map_lookup_elem(fd, &key, &value) == 0;
}

TEST(KernelSweeperTest, RemovesWhatTheProbesCannotAndCountsIt) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.attach = false;
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  CaptureProbes& p = **probes;
  TableRegistry tables;
  const uint64_t idle = 1'000'000'000, now = Now();
  KernelSweeper sweeper(p, tables, idle);

  const uint32_t self = uint32_t(getpid()), dead = DeadPid();
  l7tap_conn_info live{}, old{}, orphan{};
  live.generation = 1, live.last_ns = now;
  old.generation = 2, old.last_ns = now - 2 * idle;
  orphan.generation = 3, orphan.last_ns = now;
  Put(p.conns_fd(), l7tap_conn_key(self, 10), live);
  Put(p.conns_fd(), l7tap_conn_key(self, 11), old);     // idle past the timeout
  Put(p.conns_fd(), l7tap_conn_key(dead, 10), orphan);  // its process ended unseen
  Put(p.muted_fd(), l7tap_conn_key(self, 10), l7tap_mute{1, L7TAP_SRC_SYSCALL, 0});
  Put(p.muted_fd(), l7tap_conn_key(self, 12), l7tap_mute{9, L7TAP_SRC_SYSCALL, 0});  // no connection
  Put(p.ssl_fds_fd(), l7tap_ssl_key{0x1000, self, 0}, l7tap_ssl_conn{1, 10, 0});     // its connection lives
  Put(p.ssl_fds_fd(), l7tap_ssl_key{0x2000, self, 0}, l7tap_ssl_conn{7, 10, 0});     // an older generation
  Put(p.ssl_fds_fd(), l7tap_ssl_key{0x3000, dead, 0}, l7tap_ssl_conn{3, 10, 0});
  Put(p.go_calls_fd(), l7tap_go_call_key{0x10, self, 0}, l7tap_go_call{1, 2, now});
  Put(p.go_calls_fd(), l7tap_go_call_key{0x20, self, 0}, l7tap_go_call{1, 2, now - 2 * idle});  // blocked
  Put(p.muted_fd(), l7tap_conn_key(self, 13),
      l7tap_mute{now + 1, L7TAP_SRC_SYSCALL, 0});  // newer than the pass
  Put(p.go_calls_fd(), l7tap_go_call_key{0x30, dead, 0}, l7tap_go_call{1, 2, now});

  sweeper.Sweep(now);
  EXPECT_TRUE((Has<uint64_t, l7tap_conn_info>(p.conns_fd(), l7tap_conn_key(self, 10))));
  EXPECT_FALSE((Has<uint64_t, l7tap_conn_info>(p.conns_fd(), l7tap_conn_key(self, 11))));
  EXPECT_FALSE((Has<uint64_t, l7tap_conn_info>(p.conns_fd(), l7tap_conn_key(dead, 10))));
  EXPECT_TRUE((Has<uint64_t, l7tap_mute>(p.muted_fd(), l7tap_conn_key(self, 10))));
  EXPECT_FALSE((Has<uint64_t, l7tap_mute>(p.muted_fd(), l7tap_conn_key(self, 12))));
  EXPECT_TRUE((Has<l7tap_ssl_key, l7tap_ssl_conn>(p.ssl_fds_fd(), l7tap_ssl_key{0x1000, self, 0})));
  EXPECT_FALSE((Has<l7tap_ssl_key, l7tap_ssl_conn>(p.ssl_fds_fd(), l7tap_ssl_key{0x2000, self, 0})));

  auto t = [&](const char* name) { return tables.Find(name); };
  EXPECT_EQ(t("kernel_conns")->entries(), 1u);
  EXPECT_EQ(t("kernel_conns")->evicted(Eviction::kIdle), 1u);
  EXPECT_EQ(t("kernel_conns")->evicted(Eviction::kProcessGone), 1u);
  EXPECT_EQ(t("kernel_muted")->entries(), 2u);
  EXPECT_EQ(t("kernel_muted")->evicted(Eviction::kOwnerGone), 1u);
  EXPECT_EQ(t("kernel_ssl_fds")->entries(), 1u);
  EXPECT_EQ(t("kernel_ssl_fds")->evicted(Eviction::kOwnerGone), 1u);
  EXPECT_EQ(t("kernel_ssl_fds")->evicted(Eviction::kProcessGone), 1u);
  EXPECT_EQ(t("kernel_go_calls")->entries(), 2u);  // a Read blocks as long as its connection idles
  EXPECT_EQ(t("kernel_go_calls")->evicted(Eviction::kProcessGone), 1u);
  EXPECT_EQ(t("kernel_conns")->capacity(), uint64_t(L7TAP_DEFAULT_MAX_CONNS));

  // The agent dropping a connection itself removes the kernel's record of that generation, counted once.
  sweeper.Forget(ConnId{self, 10, 99}, Eviction::kIdle);  // another generation: stays
  EXPECT_TRUE((Has<uint64_t, l7tap_conn_info>(p.conns_fd(), l7tap_conn_key(self, 10))));
  sweeper.Forget(ConnId{self, 10, 1}, Eviction::kIdle);
  sweeper.Forget(ConnId{self, 10, 1}, Eviction::kIdle);
  EXPECT_FALSE((Has<uint64_t, l7tap_conn_info>(p.conns_fd(), l7tap_conn_key(self, 10))));
  EXPECT_EQ(t("kernel_conns")->evicted(Eviction::kIdle), 2u);
}

// A full table refuses: a hash map of the size asked for holds exactly that many.
TEST(KernelSweeperTest, ConnsHoldExactlyMaxConnections) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.attach = false;
  o.max_connections = 16;
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  l7tap_conn_info c{};
  int stored = 0;
  for (int fd = 0; fd < 20; ++fd) {
    const uint64_t key = l7tap_conn_key(1, fd);
    stored += bpf_map_update_elem((*probes)->conns_fd(), &key, &c, BPF_NOEXIST) == 0 ? 1 : 0;
  }
  EXPECT_EQ(stored, 16);
}

}  // namespace
}  // namespace l7tap::agent
