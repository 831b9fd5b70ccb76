// container_id from /proc/PID/cgroup: the shapes docker, containerd (CRI), CRI-O and podman give their
// containers' cgroups under the systemd and cgroupfs drivers, cgroup v2 and v1, and host services' shapes.
#include "agent/container_id.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>

namespace l7tap::agent {
namespace {

const std::string kId = "3f4c1e8b9a0d2c5e7f6a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7a";
const std::string kOther = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kPod = "1f2c3d4e_5f60_4718_9abc_def012345678";

TEST(ContainerIdTest, DockerSystemdDriver) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/system.slice/docker-" + kId + ".scope\n"), kId);
}

TEST(ContainerIdTest, DockerCgroupfsDriverV1AndV2) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker/" + kId + "\n"), kId);
  EXPECT_EQ(ContainerIdFromCgroup("12:memory:/docker/" + kId + "\n11:pids:/docker/" + kId +
                                  "\n1:name=systemd:/docker/" + kId + "\n0::/\n"),
            kId);
}

TEST(ContainerIdTest, KubernetesContainerdSystemdDriver) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                  kPod + ".slice/cri-containerd-" + kId + ".scope\n"),
            kId);
}

TEST(ContainerIdTest, KubernetesCgroupfsDriver) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods/besteffort/pod1f2c3d4e-5f60-4718-9abc-def012345678/" + kId),
            kId);
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods/pod1f2c3d4e-5f60-4718-9abc-def012345678/" + kId + "\n"), kId);
  // containerd's systemd-style name under a cgroupfs layout (kind nodes).
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubelet.slice/kubelet-kubepods.slice/kubepods-besteffort-pod" + kPod +
                                  ".slice:cri-containerd:" + kId + "\n"),
            kId);
}

TEST(ContainerIdTest, CrioAndItsMonitor) {
  const std::string pod =
      "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPod + ".slice/";
  EXPECT_EQ(ContainerIdFromCgroup(pod + "crio-" + kId + ".scope\n"), kId);
  EXPECT_EQ(ContainerIdFromCgroup(pod + "crio-conmon-" + kId + ".scope\n"), "");
}

TEST(ContainerIdTest, PodmanAndItsMonitor) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/machine.slice/libpod-" + kId + ".scope\n"), kId);
  // Rootless, with the container's own sub-cgroup.
  EXPECT_EQ(ContainerIdFromCgroup("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" +
                                  kId + ".scope/container\n"),
            kId);
  EXPECT_EQ(ContainerIdFromCgroup("0::/machine.slice/libpod-conmon-" + kId + ".scope\n"), "");
}

TEST(ContainerIdTest, InnermostContainerWins) {
  // systemd inside a container, and docker in docker.
  EXPECT_EQ(ContainerIdFromCgroup("0::/system.slice/docker-" + kId + ".scope/init.scope\n"), kId);
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker/" + kOther + "/docker/" + kId + "\n"), kId);
}

TEST(ContainerIdTest, HostProcessesHaveNone) {
  for (const std::string text :
       {"0::/system.slice/ssh.service\n", "0::/init.scope\n", "0::/\n",
        "0::/user.slice/user-0.slice/session-3.scope\n", "",
        // A hybrid host (v1 controllers and v2): a 32-hex v1 group is no container.
        "9:name=systemd:/\n4:memory:/process_api/c754eb50dab3c88219081425a2ad5c19\n0::/\n"})
    EXPECT_EQ(ContainerIdFromCgroup(text), "") << text;
}

TEST(ContainerIdTest, OnlyExactly64LowercaseHex) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker-a" + kId + ".scope\n"), "");  // 65 hex digits
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker-" + kId.substr(1) + ".scope\n"), "");
  std::string upper = kId;
  upper[0] = 'F';
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker-" + upper + ".scope\n"), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/myapp" + kId + "\n"), "");  // not after '-', ':' or '/'
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker-" + kId + ".scopex\n"), "");
}

TEST(ContainerIdTest, V2BeforeV1) {
  EXPECT_EQ(
      ContainerIdFromCgroup("4:memory:/docker/" + kOther + "\n0::/system.slice/docker-" + kId + ".scope\n"),
      kId);
}

TEST(ContainerIdsTest, ReadOncePerProcessFreedAtExit) {
  TableRegistry tables;
  std::map<uint32_t, std::string> cgroups = {{10, "0::/docker/" + kId + "\n"}, {11, "0::/init.scope\n"}};
  int reads = 0;
  ContainerIds ids(tables, 4, [&](uint32_t tgid) {
    ++reads;
    return cgroups[tgid];
  });
  EXPECT_EQ(ids.Of(10), kId);
  EXPECT_EQ(ids.Of(10), kId);
  EXPECT_EQ(ids.Of(11), "");
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(tables.Find("container_ids")->entries(), 2u);
  ids.OnExit(10);
  EXPECT_EQ(ids.size(), 1u);
  cgroups[10] = "0::/system.slice/ssh.service\n";  // the pid in use again, by a host process
  EXPECT_EQ(ids.Of(10), "");
  EXPECT_EQ(reads, 3);
  EXPECT_EQ(tables.Find("container_ids")->evicted(Eviction::kLeastRecent), 0u);
}

TEST(ContainerIdsTest, BoundedLeastRecentlyAskedGoesFirst) {
  TableRegistry tables;
  ContainerIds ids(tables, 2, [](uint32_t) { return "0::/docker/" + kId + "\n"; });
  ids.Of(1);
  ids.Of(2);
  ids.Of(1);  // 2 is now the least recent
  ids.Of(3);
  const TableStats& t = *tables.Find("container_ids");
  EXPECT_EQ(t.capacity(), 2u);
  EXPECT_EQ(t.entries(), 2u);
  EXPECT_EQ(t.evicted(Eviction::kLeastRecent), 1u);
  const uint64_t before = ids.reads();
  ids.Of(1);
  EXPECT_EQ(ids.reads(), before);  // kept
  ids.Of(2);
  EXPECT_EQ(ids.reads(), before + 1);  // forgotten, read again
  EXPECT_EQ(t.evicted(Eviction::kLeastRecent), 2u);
}

TEST(ContainerIdsTest, SweepForgetsProcessesGoneUnseen) {
  TableRegistry tables;
  ContainerIds ids(tables, 8, [](uint32_t) { return std::string(); });
  ids.Of(1);
  ids.Of(2);
  ids.Of(3);
  ids.Sweep([](uint32_t tgid) { return tgid == 2; });
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(tables.Find("container_ids")->evicted(Eviction::kProcessGone), 2u);
}

TEST(ContainerIdsTest, ReadsThisProcessFromProc) {
  TableRegistry tables;
  ContainerIds ids(tables);
  // Whatever this test runs in, the parser and /proc agree.
  std::FILE* f = std::fopen("/proc/self/cgroup", "r");
  ASSERT_NE(f, nullptr);
  char buf[8192];
  const size_t n = std::fread(buf, 1, sizeof(buf), f);
  std::fclose(f);
  EXPECT_EQ(ids.Of(uint32_t(getpid())), ContainerIdFromCgroup(std::string_view(buf, n)));
}

}  // namespace
}  // namespace l7tap::agent
