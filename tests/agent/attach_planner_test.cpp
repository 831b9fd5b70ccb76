// Attach plans from what the symbolizer finds: the programs, offsets and cookies the loader gets.
#include "agent/attach_planner.h"

#include <gtest/gtest.h>

#include "probes/events.h"

namespace l7tap::agent {
namespace {

TEST(AttachPlannerTest, OpenSslFunctionsGetAnEntryProbeAndAUretprobeEach) {
  const AttachPlan plan = PlanOpenSslProbes({{"SSL_read", 0x100}, {"SSL_write", 0x200}}, {"SSL_write"});
  ASSERT_EQ(plan.probes.size(), 4u);
  EXPECT_FALSE(plan.go_offsets);
  EXPECT_EQ(plan.probes[0].program, UprobeProgram::kSslReadEnter);
  EXPECT_EQ(plan.probes[1].program, UprobeProgram::kSslDataExit);
  EXPECT_TRUE(plan.probes[1].retprobe);
  EXPECT_EQ(plan.probes[2].offset, 0x200u);
  EXPECT_EQ(plan.probes[2].cookie, L7TAP_COOKIE_SINGLE_STEP);
  EXPECT_EQ(plan.probes[0].cookie, 0u);
}

TEST(AttachPlannerTest, KeyLogHooks) {
  auto go = PlanKeyLogHook(0x1a4760, L7TAP_HOOK_GO_WRITE_KEY_LOG, false);
  ASSERT_TRUE(go.ok());
  ASSERT_EQ(go->probes.size(), 1u);
  EXPECT_EQ(go->probes[0].program, UprobeProgram::kKeyLogGo);
  EXPECT_EQ(go->probes[0].offset, 0x1a4760u);
  auto nss = PlanKeyLogHook(0x32e50, L7TAP_HOOK_NSS_KEYLOG, true);
  ASSERT_TRUE(nss.ok());
  EXPECT_EQ(nss->probes[0].cookie, L7TAP_COOKIE_SINGLE_STEP);
  EXPECT_FALSE(PlanKeyLogHook(0x10, 99, false).ok());
}

TEST(AttachPlannerTest, GoReadGetsEveryRetAndTheOffsetsSlot) {
  symbolizer::GoBinary b;
  symbolizer::GoTlsFunction read;
  read.name = "crypto/tls.(*Conn).Read";
  read.body_offset = 0x1010;
  read.probe_offset = 0x1014;
  read.probe_emulated = true;
  read.return_offsets = {0x1100, 0x1200};
  symbolizer::GoTlsFunction write;
  write.name = "crypto/tls.(*Conn).Write";
  write.body_offset = 0x2010;
  write.body_emulated = false;
  write.probe_offset = 0x2018;
  b.functions = {read, write};
  b.fd_offsets.tls_conn_conn = 0;
  b.fd_offsets.net_conn_fd = 0;
  b.fd_offsets.net_fd_pfd = 0;
  b.fd_offsets.poll_fd_sysfd = 16;
  auto plan = PlanGoProbes(b, ProbePlacement::kOptimized);
  ASSERT_TRUE(plan.ok()) << plan.error();
  ASSERT_TRUE(plan->go_offsets);
  EXPECT_EQ(plan->go_offsets->sysfd, 16u);
  ASSERT_EQ(plan->probes.size(), 4u);  // Read, its two RETs, Write
  EXPECT_EQ(plan->probes[0].offset, 0x1014u);
  EXPECT_EQ(plan->probes[0].cookie, uint64_t(L7TAP_GO_PROBE_READ_ENTER) << L7TAP_COOKIE_GO_PROBE_SHIFT);
  EXPECT_EQ(plan->probes[1].cookie,
            (uint64_t(L7TAP_GO_PROBE_READ_RETURN) << L7TAP_COOKIE_GO_PROBE_SHIFT) | L7TAP_COOKIE_SINGLE_STEP);
  EXPECT_EQ(plan->probes[3].offset, 0x2018u);
  auto entry = PlanGoProbes(b, ProbePlacement::kEntry);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->probes[3].offset, 0x2010u);
  EXPECT_EQ(entry->probes[3].cookie, L7TAP_COOKIE_SINGLE_STEP);  // body not emulated
  b.functions[0].return_offsets.clear();
  EXPECT_FALSE(PlanGoProbes(b, ProbePlacement::kOptimized).ok());
  b.fd_offsets.poll_fd_sysfd = 0x20000;
  EXPECT_FALSE(PlanGoOffsets(b.fd_offsets).ok());
}

}  // namespace
}  // namespace l7tap::agent
