// Loads the real BPF object into this kernel (root, BTF).
#include "agent/capture_probes.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "agent/attach_planner.h"
#include "agent/attach_planner.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
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
  // 16 syscalls x enter/exit, close, process exit/exec; fd lifecycle: dup, dup2, dup3, fcntl, execve,
  // execveat, splice x enter/exit, close_range enter, io_uring submissions.
  EXPECT_EQ((*probes)->programs_attached(), 51u);
  EXPECT_GE((*probes)->ringbuf_fd(), 0);
}

TEST(CaptureProbesTest, HoldingAddsTheMmapProbe) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.self_tgid = getpid();
  o.hold_new = true;
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->programs_attached(), 52u);
  for (int fd : {(*probes)->known_files_fd(), (*probes)->proc_files_fd(), (*probes)->proc_ack_fd(),
                 (*probes)->held_fd()})
    EXPECT_GE(fd, 0);
}

// The kprobe programs must pass the verifier everywhere, even where kprobes cannot be attached.
TEST(CaptureProbesTest, KprobeBackendPassesTheVerifier) {
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kKprobe;
  o.attach = false;
  o.hold_new = true;  // its mmap probe too
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  EXPECT_EQ((*probes)->backend(), SyscallBackend::kKprobe);
  EXPECT_EQ((*probes)->programs_attached(), 0u);  // loaded, attached nowhere: links are what is counted
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
  auto attached = (*probes)->Attach(path, PlanOpenSslProbes(lib->offsets, {}));
  ASSERT_TRUE(attached.ok()) << attached.error();
  EXPECT_EQ(attached->probes, 10u);
  EXPECT_EQ((*probes)->tls_probes_attached(), 10u);

  auto bad = (*probes)->Attach("/nonexistent/libssl.so.3", PlanOpenSslProbes(lib->offsets, {}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("/nonexistent/libssl.so.3"), std::string::npos);
  EXPECT_EQ((*probes)->tls_probes_attached(), 10u);  // nothing half-attached
  (*probes)->Detach(attached->id);
  (*probes)->FinishDetaching();
  EXPECT_EQ((*probes)->tls_probes_attached(), 0u);
}

// The Go fixtures' servers (fixtures/go), one per toolchain and build mode.
std::vector<std::string> GoServers() {
  std::vector<std::string> servers;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(L7TAP_GO_FIXTURES_DIR, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("go1.") && name.ends_with("-server") && name.find("arm64") == std::string::npos)
      servers.push_back(entry.path().string());
  }
  std::sort(servers.begin(), servers.end());
  return servers;
}

// Go: Read past its stack check and at every RET, Write past its stack check; the symbolizer still reads the
// file's own bytes while the kernel has breakpoints in it (a private mapping of the file would show int3).
TEST(CaptureProbesTest, AttachesGoUprobesAndStillReadsCleanCode) {
  const auto servers = GoServers();
  ASSERT_FALSE(servers.empty()) << "no Go fixtures in " << L7TAP_GO_FIXTURES_DIR;
  ProbeOptions o;
  o.choice = SyscallBackendChoice::kTracepoint;
  o.attach = false;
  o.self_tgid = getpid();
  auto probes = CaptureProbes::Load(o);
  ASSERT_TRUE(probes.ok()) << probes.error();
  for (const std::string& path : servers) {
    SCOPED_TRACE(path);
    auto elf = symbolizer::ElfFile::Open(path);
    ASSERT_TRUE(elf.ok()) << elf.error();
    auto before = symbolizer::InspectGoBinary(**elf);
    ASSERT_TRUE(before.ok()) << before.error();
    ASSERT_EQ(before->functions.size(), 2u);
    const size_t probes_before = (*probes)->tls_probes_attached(), slots_before = (*probes)->go_slots_used();
    auto plan = PlanGoProbes(*before, ProbePlacement::kOptimized);
    ASSERT_TRUE(plan.ok()) << plan.error();
    auto attached = (*probes)->Attach(path, *plan);
    ASSERT_TRUE(attached.ok()) << attached.error();
    const auto& read = before->functions[0];
    EXPECT_EQ(attached->probes, 2 + read.return_offsets.size());

    // What a private mapping shows now: the kernel's breakpoint at the first RET of Read.
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    struct stat st {};
    ASSERT_EQ(fstat(fd, &st), 0);
    void* map = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ASSERT_NE(map, MAP_FAILED);
    EXPECT_EQ(static_cast<const uint8_t*>(map)[read.return_offsets[0]], 0xcc);
    munmap(map, size_t(st.st_size));

    // Detached: the code is the file's own again, and the binary's offsets slot is free for the next one.
    (*probes)->Detach(attached->id);
    (*probes)->FinishDetaching();
    EXPECT_EQ((*probes)->tls_probes_attached(), probes_before);
    EXPECT_EQ((*probes)->go_slots_used(), slots_before);
    map = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ASSERT_NE(map, MAP_FAILED);
    EXPECT_EQ(static_cast<const uint8_t*>(map)[read.return_offsets[0]], 0xc3);  // RET
    munmap(map, size_t(st.st_size));
    close(fd);
    auto reattached = (*probes)->Attach(path, *plan);
    ASSERT_TRUE(reattached.ok()) << reattached.error();
    EXPECT_EQ(reattached->slot, attached->slot);

    auto again = symbolizer::ElfFile::Open(path);
    ASSERT_TRUE(again.ok()) << again.error();
    auto after = symbolizer::InspectGoBinary(**again);
    ASSERT_TRUE(after.ok()) << after.error();
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(after->functions[i].return_offsets, before->functions[i].return_offsets);
      EXPECT_EQ(after->functions[i].body_offset, before->functions[i].body_offset);
    }
  }
}

}  // namespace
}  // namespace l7tap::agent
