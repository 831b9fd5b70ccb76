// Holding new processes, the agent's side against real kernel maps: which files a process runs are recorded
// as the kernel names them, and a file once learnt leaves new processes running it unrecorded.
#include "agent/process_holds.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/capture_probes.h"

namespace l7tap::agent {
namespace {

// A child running a fresh copy of sleep: a file no one ran before.
class FreshSleep {
 public:
  explicit FreshSleep(const std::string& path) {
    std::filesystem::copy_file("/bin/sleep", path, std::filesystem::copy_options::overwrite_existing);
    chmod(path.c_str(), 0755);
    pid_ = fork();
    if (pid_ == 0) {
      execl(path.c_str(), "sleep", "30", nullptr);
      _exit(127);
    }
  }
  ~FreshSleep() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

class ProcessHoldsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProbeOptions o;
    o.choice = SyscallBackendChoice::kTracepoint;
    o.self_tgid = getpid();
    o.hold_new = true;
    auto p = CaptureProbes::Load(o);
    ASSERT_TRUE(p.ok()) << p.error();
    probes_ = std::move(*p);
    holds_ = std::make_unique<ProcessHolds>(HoldMaps{probes_->known_files_fd(), probes_->proc_files_fd(),
                                                     probes_->proc_ack_fd(), probes_->held_fd()},
                                            tables_);
    dir_ = std::filesystem::temp_directory_path() / ("l7tap-holds-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The process's record, once its exec has been seen.
  std::optional<ProcessHolds::Pending> WaitRecorded(pid_t pid) {
    for (int i = 0; i < 200; ++i) {
      if (auto p = holds_->Begin(uint32_t(pid))) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }

  TableRegistry tables_;
  std::unique_ptr<CaptureProbes> probes_;
  std::unique_ptr<ProcessHolds> holds_;
  std::filesystem::path dir_;
};

TEST_F(ProcessHoldsTest, ExecOfAnUnknownFileIsRecordedAsTheKernelNamesIt) {
  const std::string path = dir_ / "sleep-a";
  FreshSleep child(path);
  auto pending = WaitRecorded(child.pid());
  ASSERT_TRUE(pending);
  EXPECT_GE(pending->seq, 1u);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  ASSERT_FALSE(pending->recorded.empty());
  EXPECT_EQ(pending->recorded.front(), KernelKeyFromStat(st.st_dev, st.st_ino));
}

TEST_F(ProcessHoldsTest, ALearntFileIsNotRecordedAgain) {
  const std::string path = dir_ / "sleep-b";
  {
    FreshSleep child(path);
    auto first = WaitRecorded(child.pid());
    ASSERT_TRUE(first);
    holds_->Clear(uint32_t(child.pid()), *first, {});
  }
  // What sleep maps besides itself (libc: this process maps it too).
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (auto k = KernelKeyFromMapsLine(line)) holds_->Learn(*k);
  {
    FreshSleep same(path);  // copied over itself: the same inode
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(holds_->Begin(uint32_t(same.pid())));
  }
  FreshSleep other(path + "-copy");  // a different file: recorded
  EXPECT_TRUE(WaitRecorded(other.pid()));
}

TEST(KernelFileKeyTest, MapsLinesNameFilesAsStatDoes) {
  std::ifstream maps("/proc/self/maps");
  size_t checked = 0;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    auto key = KernelKeyFromMapsLine(line);
    if (slash == std::string::npos) {
      EXPECT_FALSE(key) << line;  // anonymous, [heap], [stack], [vdso]
      continue;
    }
    ASSERT_TRUE(key) << line;
    struct stat st {};
    ASSERT_EQ(stat(line.substr(slash).c_str(), &st), 0) << line;
    EXPECT_EQ(*key, KernelKeyFromStat(st.st_dev, st.st_ino)) << line;
    ++checked;
  }
  EXPECT_GE(checked, 2u);  // this test binary and libc at least
  EXPECT_FALSE(KernelKeyFromMapsLine("garbage"));
  EXPECT_FALSE(KernelKeyFromMapsLine("7f00-7f01 r-xp 00000000 zz:01 5 /x"));
  EXPECT_EQ(KernelKeyFromMapsLine("7f00-7f01 r-xp 00000000 fd:01 1234 /x"),
            (KernelFileKey{(0xfdull << 20) | 1, 1234}));
}

TEST(LatencyHistogramTest, CumulativeBuckets) {
  LatencyHistogram h;
  h.Observe(0.0005);
  h.Observe(0.003);
  h.Observe(100);
  const Sample s = h.ToSample("x", "y", {});
  EXPECT_TRUE(s.histogram);
  EXPECT_EQ(s.value, 3);
  EXPECT_EQ(s.buckets.front(), (std::pair<double, uint64_t>{0.001, 1}));
  EXPECT_EQ(s.buckets[2], (std::pair<double, uint64_t>{0.005, 2}));
  EXPECT_EQ(s.buckets.back().second, 2u);  // 100 s is past the last bound: +Inf only
  EXPECT_NEAR(s.sum, 100.0035, 1e-6);
}

}  // namespace
}  // namespace l7tap::agent
