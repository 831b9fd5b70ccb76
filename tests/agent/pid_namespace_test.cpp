// The NSpid line of /proc/PID/status, as the kernel writes it.
#include "agent/pid_namespace.h"

#include <gtest/gtest.h>

namespace l7tap::agent {
namespace {

TEST(PidNamespaceTest, NsPidsOfHostAndNestedProcesses) {
  EXPECT_EQ(ParseNsPids("Name:\tsleep\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t1\nNSpid:\t4242\n"),
            (std::vector<uint32_t>{4242}));
  EXPECT_EQ(ParseNsPids("Pid:\t4242\nNSpid:\t4242\t7\t1\nNSpgid:\t4242\t7\t1\n"),
            (std::vector<uint32_t>{4242, 7, 1}));
  EXPECT_TRUE(ParseNsPids("Name:\tx\nPid:\t1\n").empty());
  EXPECT_TRUE(ParseNsPids("NSpid:\t12x\n").empty());
}

TEST(PidNamespaceTest, TheErrorNamesTheFix) {
  PidView v{.getpid = 1, .kernel_tgid = 5000, .proc_self = 1};
  EXPECT_FALSE(v.host());
  const std::string e = PidNamespaceError(v);
  EXPECT_EQ(e.find('\n'), std::string::npos);
  EXPECT_NE(e.find("hostPID: true"), std::string::npos);
  EXPECT_NE(e.find("--pid=host"), std::string::npos);
  EXPECT_NE(e.find("--allow-pid-namespace"), std::string::npos);
  EXPECT_NE(PidNamespaceDegraded(v).find("container_id is empty"), std::string::npos);
  v.proc_self = 5000;  // a host /proc mounted in
  EXPECT_NE(PidNamespaceDegraded(v).find("nothing else is degraded"), std::string::npos);
}

}  // namespace
}  // namespace l7tap::agent
