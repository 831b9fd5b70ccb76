// Loads the real BPF object into this kernel (root, BTF).
#include "agent/capture_probes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "symbolizer/elf_file.h"
#include "symbolizer/tls_library.h"

namespace l7tap::agent {
namespace {

TEST(CaptureProbesTest, TracepointBackendLoadsAndAttaches) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.self_tgid = getpid();
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), SyscallBackend::kTracepoint);
  EXPECT_EQ((*probes)->programs_attached(), 31u);  // 14 syscalls x enter/exit, close, process exit/exec
  EXPECT_GE((*probes)->ringbuf_fd(), 0);
}

// The kprobe programs must pass the verifier everywhere, even where kprobes cannot be attached.
TEST(CaptureProbesTest, KprobeBackendPassesTheVerifier) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kKprobe;
  o.attach = false;
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), SyscallBackend::kKprobe);
  EXPECT_EQ((*probes)->programs_attached(), 31u);
}

TEST(CaptureProbesTest, ForcedKprobeFailsClearlyWithoutKprobes) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kKprobe;
  auto probes = CaptureProbes::Load(o);
  if (KernelHasKprobes()) {
    ASSERT_TRUE(probes.ok()) << probes.error();
    EXPECT_EQ((*probes)->backend(), SyscallBackend::kKprobe);
  } else {
    ASSERT_FALSE(probes.ok());
    EXPECT_EQ(probes.error().find('\n'), std::string::npos);
    EXPECT_NE(probes.error().find("--syscall-probes=tracepoint"), std::string::npos);
  }
}

TEST(CaptureProbesTest, AutoPicksKprobeOnlyWhereSupported) {
  ProbeOptions o;
  o.self_tgid = getpid();
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), KernelHasKprobes() ? SyscallBackend::kKprobe : SyscallBackend::kTracepoint);
}

// Real uprobes on Debian's libssl: entry and return for each of the five functions.
TEST(CaptureProbesTest, AttachesTlsUprobesToSystemLibssl) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.self_tgid = getpid();
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  const std::string path = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  auto elf = symbolizer::ElfFile::Open(path);
  ASSERT_TRUE(elf.ok()) << elf.error();
  auto lib = symbolizer::InspectTlsLibrary(**elf, nullptr, nullptr);
  ASSERT_TRUE(lib.ok()) << lib.error();
  ASSERT_EQ(lib->offsets.size(), 5u);
  auto attached = (*probes)->AttachTls(path, lib->offsets);
  ASSERT_TRUE(attached.ok()) << attached.error();
  EXPECT_EQ(*attached, 10u);
  EXPECT_EQ((*probes)->tls_probes_attached(), 10u);

  auto bad = (*probes)->AttachTls("/nonexistent/libssl.so.3", lib->offsets);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("/nonexistent/libssl.so.3"), std::string::npos);
  EXPECT_EQ((*probes)->tls_probes_attached(), 10u);  // nothing half-attached
}

}  // namespace
}  // namespace l7tap::agent
