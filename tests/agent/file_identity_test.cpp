// FileKey on real files: plain files, hard links, copies, and two overlay mounts over one lower layer (the
// test mounts and unmounts them itself: root), one of them only in another mount namespace, as a container's.
#include "agent/file_identity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace l7tap::agent {
namespace {

namespace fs = std::filesystem;

int Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  return fd;
}

FileIdentity Identify(const std::string& path, pid_t pid = 0) {
  const int fd = Open(path);
  auto id = IdentifyFile(fd, pid);
  close(fd);
  EXPECT_TRUE(id.ok()) << path << ": " << (id.ok() ? "" : id.error());
  return id.ok() ? std::move(*id) : FileIdentity{};
}

FileKey StatKey(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return FileKey{.kind = FileKey::Kind::kOverlayLower, .dev = st.st_dev, .ino = st.st_ino};
}

class FileIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/l7tap-fileid-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* d : {"lower", "u1", "w1", "m1", "u2", "w2", "m2", "u3", "w3", "m3"})
      fs::create_directories(dir_ + "/" + d);
    fs::create_directories(dir_ + "/lower/usr/bin");
    fs::copy_file("/bin/sleep", dir_ + "/lower/usr/bin/app");
    fs::copy_file("/bin/sleep", dir_ + "/lower/usr/bin/same-bytes");  // a copy: equal content, its own inode
    fs::copy_file("/bin/sleep", dir_ + "/lower/usr/bin/linked");
    fs::create_hard_link(dir_ + "/lower/usr/bin/linked", dir_ + "/lower/usr/bin/linked-too");
    Mount("1");
    Mount("2");
  }
  void TearDown() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
    for (const char* m : {"m1", "m2"}) umount2((dir_ + "/" + m).c_str(), MNT_DETACH);
    fs::remove_all(dir_);
  }
  void Mount(const std::string& n) {
    const std::string opts =
        "lowerdir=" + dir_ + "/lower,upperdir=" + dir_ + "/u" + n + ",workdir=" + dir_ + "/w" + n;
    ASSERT_EQ(mount("overlay", (dir_ + "/m" + n).c_str(), "overlay", 0, opts.c_str()), 0) << strerror(errno);
  }
  std::string dir_;
  pid_t child_ = -1;
};

TEST_F(FileIdentityTest, PlainFilesHardLinksAndCopies) {
  const FileIdentity app = Identify(dir_ + "/lower/usr/bin/app");
  EXPECT_EQ(app.key.kind, FileKey::Kind::kPlain);
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/lower/usr/bin/app").c_str(), &st), 0);
  EXPECT_EQ(app.key.dev, st.st_dev);
  EXPECT_EQ(app.key.ino, st.st_ino);
  EXPECT_EQ(app.real_fd, -1);
  // A hard link is the same inode (uprobes on one fire for both); a copy is not.
  EXPECT_EQ(Identify(dir_ + "/lower/usr/bin/linked").key, Identify(dir_ + "/lower/usr/bin/linked-too").key);
  EXPECT_NE(Identify(dir_ + "/lower/usr/bin/same-bytes").key, app.key);
  // Ordered and hashed consistently with equality (map and unordered_map keys).
  const FileKey a = app.key, b = Identify(dir_ + "/lower/usr/bin/same-bytes").key;
  EXPECT_TRUE((a < b) != (b < a));
  EXPECT_EQ(FileKeyHash()(a), FileKeyHash()(Identify(dir_ + "/lower/usr/bin/app").key));
}

TEST_F(FileIdentityTest, OneLowerFileThroughTwoMountsIsOneKey) {
  const FileIdentity a = Identify(dir_ + "/m1/usr/bin/app"), b = Identify(dir_ + "/m2/usr/bin/app");
  struct stat sa {
  }, sb{};
  ASSERT_EQ(stat((dir_ + "/m1/usr/bin/app").c_str(), &sa), 0);
  ASSERT_EQ(stat((dir_ + "/m2/usr/bin/app").c_str(), &sb), 0);
  EXPECT_NE(sa.st_dev, sb.st_dev);  // what a (st_dev, st_ino) key would have told apart
  EXPECT_EQ(a.key.kind, FileKey::Kind::kOverlayLower) << a.unproven;
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.key, StatKey(dir_ + "/lower/usr/bin/app"));
  // The fd to attach through is the lower file itself.
  struct stat real {};
  ASSERT_EQ(stat(a.RealPath().c_str(), &real), 0);
  EXPECT_EQ(real.st_ino, StatKey(dir_ + "/lower/usr/bin/app").ino);
  EXPECT_EQ(fs::read_symlink(a.RealPath()), fs::path(dir_ + "/lower/usr/bin/app"));
}

TEST_F(FileIdentityTest, DifferentFilesWithEqualBytesAreTwoKeys) {
  const FileKey app = Identify(dir_ + "/m1/usr/bin/app").key;
  const FileKey copy = Identify(dir_ + "/m2/usr/bin/same-bytes").key;
  EXPECT_EQ(copy.kind, FileKey::Kind::kOverlayLower);
  EXPECT_NE(app, copy);
}

TEST_F(FileIdentityTest, ACopiedUpFileIsNeverTheLowerOne) {
  // chmod copies the whole file up with the same bytes; an append changes them. Both keep st_ino, and the
  // overlay's handle still names the lower origin: only the upper layer tells.
  ASSERT_EQ(chmod((dir_ + "/m2/usr/bin/app").c_str(), 0700), 0);
  {
    std::ofstream f(dir_ + "/m2/usr/bin/same-bytes", std::ios::app);
    f << "x";
  }
  ASSERT_TRUE(fs::exists(dir_ + "/u2/usr/bin/app"));
  const FileIdentity lower = Identify(dir_ + "/m1/usr/bin/app"), up = Identify(dir_ + "/m2/usr/bin/app");
  EXPECT_EQ(lower.key.kind, FileKey::Kind::kOverlayLower);
  EXPECT_EQ(up.key.kind, FileKey::Kind::kOverlayUnique);
  EXPECT_EQ(up.unproven, "copied up (or replaced) in the upper layer");
  EXPECT_NE(lower.key, up.key);
  EXPECT_EQ(Identify(dir_ + "/m2/usr/bin/same-bytes").key.kind, FileKey::Kind::kOverlayUnique);
  EXPECT_NE(Identify(dir_ + "/m2/usr/bin/same-bytes").key, Identify(dir_ + "/m1/usr/bin/same-bytes").key);
  // A file created in the upper layer.
  { std::ofstream(dir_ + "/m1/usr/bin/new") << "new"; }
  const FileIdentity fresh = Identify(dir_ + "/m1/usr/bin/new");
  EXPECT_EQ(fresh.key.kind, FileKey::Kind::kOverlayUnique);
  EXPECT_EQ(fresh.unproven, "a file of the upper layer");
}

TEST_F(FileIdentityTest, HardLinkedLowerFilesAreNotProven) {
  const FileIdentity a = Identify(dir_ + "/m1/usr/bin/linked"), b = Identify(dir_ + "/m2/usr/bin/linked");
  EXPECT_EQ(a.key.kind, FileKey::Kind::kOverlayUnique);
  EXPECT_EQ(a.unproven, "its origin has hard links");
  EXPECT_NE(a.key, b.key);  // at worst attached twice, never skipped
}

TEST_F(FileIdentityTest, AnOverlayOnlyInAnotherMountNamespaceRunningTheFile) {
  // A container: its own mount namespace, the overlay mounted there only, the binary running from it.
  const std::string m3 = dir_ + "/m3";
  const std::string script = "mount -t overlay overlay -o lowerdir=" + dir_ + "/lower,upperdir=" + dir_ +
                             "/u3,workdir=" + dir_ + "/w3 " + m3 + " && exec " + m3 + "/usr/bin/app 60";
  child_ = fork();
  ASSERT_GE(child_, 0);
  if (child_ == 0) {
    execlp("unshare", "unshare", "--mount", "--propagation", "private", "sh", "-c", script.c_str(), nullptr);
    _exit(127);
  }
  // unshare execs sh, which execs the app: wait until the child's exe is the overlay file.
  const std::string exe = "/proc/" + std::to_string(child_) + "/exe";
  std::error_code ec;
  for (int i = 0; i < 200 && fs::read_symlink(exe, ec) != fs::path(m3 + "/usr/bin/app"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(fs::read_symlink(exe), fs::path(m3 + "/usr/bin/app"));
  struct stat host_view {};
  EXPECT_NE(stat((m3 + "/usr/bin/app").c_str(), &host_view), 0);  // not mounted in this namespace
  const FileKey want = StatKey(dir_ + "/lower/usr/bin/app");
  EXPECT_EQ(Identify(exe, child_).key, want);
  EXPECT_EQ(Identify("/proc/" + std::to_string(child_) + "/root" + m3 + "/usr/bin/app", child_).key, want);
  // A mapping of it, as the agent opens libraries.
  std::string mapping;
  std::ifstream maps("/proc/" + std::to_string(child_) + "/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.ends_with(m3 + "/usr/bin/app")) {
      mapping = line.substr(0, line.find(' '));
      break;
    }
  ASSERT_FALSE(mapping.empty());
  EXPECT_EQ(Identify("/proc/" + std::to_string(child_) + "/map_files/" + mapping, child_).key, want);
  // Without the pid its mount is not found in the agent's own mountinfo: not proven, never wrong.
  EXPECT_EQ(Identify(exe).key.kind, FileKey::Kind::kOverlayUnique);
}

}  // namespace
}  // namespace l7tap::agent
