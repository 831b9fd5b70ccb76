#include "agent/link_detacher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

namespace l7tap::agent {
namespace {

using namespace std::chrono_literals;

// A step that waits until the test lets it go (at most 10 s, so a broken detacher fails instead of hanging).
std::function<void()> Gated(std::shared_future<void> gate, std::atomic<int>& ran) {
  return [gate, &ran] {
    gate.wait_for(10s);
    ++ran;
  };
}

TEST(LinkDetacherTest, PostDoesNotWaitForTheSteps) {
  LinkDetacher d(16);
  std::promise<void> open;
  std::atomic<int> ran{0}, done{0};
  d.Post({{Gated(open.get_future().share(), ran), [&] { ++ran; }}, [&] { ++done; }});
  // Still blocked in its first step: Post came back anyway.
  EXPECT_EQ(d.pending(), 2u);
  EXPECT_EQ(done.load(), 0);
  open.set_value();
  d.Finish();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.ran_inline(), 0u);
}

TEST(LinkDetacherTest, DoneRunsAfterEveryStepOfItsJob) {
  LinkDetacher d(64);
  std::atomic<int> ran{0};
  int seen_at_done = -1;
  std::vector<std::function<void()>> steps;
  for (int i = 0; i < 10; ++i) steps.push_back([&] { ++ran; });
  d.Post({steps, [&] { seen_at_done = ran.load(); }});
  d.Finish();
  EXPECT_EQ(seen_at_done, 10);
}

TEST(LinkDetacherTest, PastTheBoundTheCallerRunsItsJob) {
  LinkDetacher d(2);
  std::promise<void> open;
  std::atomic<int> ran{0}, done{0};
  const std::shared_future<void> gate = open.get_future().share();
  d.Post({{Gated(gate, ran), Gated(gate, ran)}, [&] { ++done; }});
  d.Post({{[&] { ++ran; }}, [&] { ++done; }});
  // Ran here, while the first job still waits.
  EXPECT_EQ(d.ran_inline(), 1u);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(d.pending(), 2u);
  open.set_value();
  d.Finish();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_EQ(done.load(), 2);
}

TEST(LinkDetacherTest, QueuedStepsOverlap) {
  // Each step waits for the other to start: only steps run side by side finish.
  LinkDetacher d(16);
  std::promise<void> a_started, b_started;
  std::atomic<int> met{0};
  std::promise<void> hold;
  d.Post({{[gate = hold.get_future().share()] { gate.wait_for(10s); }}, {}});  // the batch to queue behind
  d.Post({{[&, b = b_started.get_future().share()] {
            a_started.set_value();
            if (b.wait_for(10s) == std::future_status::ready) ++met;
          }},
          {}});
  d.Post({{[&, a = a_started.get_future().share()] {
            b_started.set_value();
            if (a.wait_for(10s) == std::future_status::ready) ++met;
          }},
          {}});
  hold.set_value();
  d.Finish();
  EXPECT_EQ(met.load(), 2);
}

TEST(LinkDetacherTest, DestructionFinishesWhatIsQueued) {
  std::atomic<int> done{0};
  {
    LinkDetacher d(64);
    for (int i = 0; i < 20; ++i) d.Post({{[] {}, [] {}}, [&] { ++done; }});
  }
  EXPECT_EQ(done.load(), 20);
}

}  // namespace
}  // namespace l7tap::agent
