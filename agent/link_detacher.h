#pragma once
// Detaches uprobe links away from the thread that attaches them. Closing a link waits for RCU grace periods
// (tens of ms each): a deleted binary's detach must never make a held process wait behind it.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace l7tap::agent {

// Runs `detach` over `items` from up to 64 threads: the grace periods overlap instead of adding up.
template <typename T, typename Detach>
void DetachInParallel(const std::vector<T>& items, Detach detach) {
  const size_t workers = std::min<size_t>(items.size(), 64);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&items, &detach, w, workers] {
      for (size_t i = w; i < items.size(); i += workers) detach(items[i]);
    });
  }
  for (std::thread& t : threads) t.join();
}

class LinkDetacher {
 public:
  // One file's detach: its steps (one link each, run in parallel with every other queued step), then `done`.
  struct Job {
    std::vector<std::function<void()>> steps;
    std::function<void()> done;
  };
  // At most `max_pending` steps wait; past that, Post runs its job itself (the bound).
  explicit LinkDetacher(size_t max_pending);
  ~LinkDetacher();  // finishes every job posted
  LinkDetacher(const LinkDetacher&) = delete;
  LinkDetacher& operator=(const LinkDetacher&) = delete;

  void Post(Job job);
  // Returns once every job posted before it is done.
  void Finish();
  // Steps posted and not done yet.
  size_t pending() const;
  // Jobs run by Post itself because the queue was full.
  size_t ran_inline() const;

 private:
  void Run();
  static void RunAll(std::vector<Job>& jobs);
  const size_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<Job> queue_;
  size_t pending_ = 0, ran_inline_ = 0;
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace l7tap::agent
