// Loads the real BPF object into this kernel (root, BTF).
#include "agent/syscall_probes.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace l7tap::agent {
namespace {

TEST(SyscallProbesTest, TracepointBackendLoadsAndAttaches) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.self_tgid = getpid();
  auto probes = SyscallProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), SyscallBackend::kTracepoint);
  EXPECT_EQ((*probes)->programs_loaded(), 30u);  // 14 syscalls x enter/exit, close, process exit
  EXPECT_GE((*probes)->ringbuf_fd(), 0);
}

// The kprobe programs must pass the verifier everywhere, even where kprobes cannot be attached.
TEST(SyscallProbesTest, KprobeBackendPassesTheVerifier) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kKprobe;
  o.attach = false;
  auto probes = SyscallProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), SyscallBackend::kKprobe);
  EXPECT_EQ((*probes)->programs_loaded(), 30u);
}

TEST(SyscallProbesTest, ForcedKprobeFailsClearlyWithoutKprobes) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kKprobe;
  auto probes = SyscallProbes::Load(o);
  if (KernelHasKprobes()) {
    ASSERT_TRUE(probes.ok()) << probes.error();
    EXPECT_EQ((*probes)->backend(), SyscallBackend::kKprobe);
  } else {
    ASSERT_FALSE(probes.ok());
    EXPECT_EQ(probes.error().find('\n'), std::string::npos);
    EXPECT_NE(probes.error().find("--syscall-probes=tracepoint"), std::string::npos);
  }
}

TEST(SyscallProbesTest, AutoPicksKprobeOnlyWhereSupported) {
  ProbeOptions o;
  o.self_tgid = getpid();
  auto probes = SyscallProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), KernelHasKprobes() ? SyscallBackend::kKprobe : SyscallBackend::kTracepoint);
}

}  // namespace
}  // namespace l7tap::agent
