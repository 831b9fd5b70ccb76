#include "agent/link_detacher.h"

#include <utility>

namespace l7tap::agent {

LinkDetacher::LinkDetacher(size_t max_pending) : max_pending_(max_pending), thread_([this] { Run(); }) {}

LinkDetacher::~LinkDetacher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void LinkDetacher::RunAll(std::vector<Job>& jobs) {
  std::vector<const std::function<void()>*> steps;
  for (const Job& j : jobs)
    for (const auto& s : j.steps) steps.push_back(&s);
  DetachInParallel(steps, [](const std::function<void()>* s) { (*s)(); });
  for (Job& j : jobs)
    if (j.done) j.done();
}

void LinkDetacher::Post(Job job) {
  {
    std::lock_guard lock(mu_);
    if (pending_ + job.steps.size() <= max_pending_ || pending_ == 0) {
      pending_ += job.steps.size();
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
    ++ran_inline_;
  }
  std::vector<Job> one;
  one.push_back(std::move(job));
  RunAll(one);
}

void LinkDetacher::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing is left
    // Everything queued at once: one batch of overlapping grace periods.
    std::vector<Job> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    busy_ = true;
    lock.unlock();
    size_t steps = 0;
    for (const Job& j : batch) steps += j.steps.size();
    RunAll(batch);
    lock.lock();
    pending_ -= steps;
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

void LinkDetacher::Finish() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

size_t LinkDetacher::pending() const {
  std::lock_guard lock(mu_);
  return pending_;
}

size_t LinkDetacher::ran_inline() const {
  std::lock_guard lock(mu_);
  return ran_inline_;
}

}  // namespace l7tap::agent
