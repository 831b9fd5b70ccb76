// The kernel's view of the test's own pid (a BPF program run in this task): root and BPF.
#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/pid_namespace.h"

namespace l7tap::agent {
namespace {

// The test runs in the host namespace.
TEST(PidNamespaceBpfTest, KernelAgreesInTheHostNamespace) {
  auto v = ReadPidView();
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ(v->kernel_tgid, uint32_t(getpid()));
  EXPECT_TRUE(v->host());
  EXPECT_TRUE(v->proc_matches_kernel());
  EXPECT_FALSE(NsPidsSuggestChild());
}

}  // namespace
}  // namespace l7tap::agent
