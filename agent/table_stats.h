#pragma once
// The books of the bounded-state policy: every table the agent or its probes keep has a capacity, a current
// size and its removals counted by reason, exported as l7tap_table_capacity / l7tap_table_entries /
// l7tap_table_evictions_total{table,reason}. Owners update their tables from the event loop; the metrics
// thread reads them at scrape time.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

#include "agent/sample.h"

namespace l7tap::agent {

// Why an entry left a table before its owner ended it, or never got in.
enum class Eviction : uint8_t {
  kFull,         // refused: the table was at capacity
  kIdle,         // unused for longer than its expiry
  kProcessGone,  // its process ended without the event that says so
  kOwnerGone,    // what it described (a connection, a session) ended without it being removed
  kLeastRecent,  // at capacity: the least recently used entry made room for a new one
  kFileGone,     // the file it was for was deleted or replaced
  kCount,
};
const char* EvictionName(Eviction e);

class TableStats {
 public:
  TableStats(std::string name, uint64_t capacity, std::initializer_list<Eviction> reasons);
  const std::string& name() const { return name_; }
  uint64_t capacity() const { return capacity_.load(std::memory_order_relaxed); }
  void set_capacity(uint64_t n) { capacity_.store(n, std::memory_order_relaxed); }
  uint64_t entries() const { return entries_.load(std::memory_order_relaxed); }
  void set_entries(uint64_t n) { entries_.store(n, std::memory_order_relaxed); }
  void Evicted(Eviction why, uint64_t n = 1) {
    evicted_[size_t(why)].fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t evicted(Eviction why) const { return evicted_[size_t(why)].load(std::memory_order_relaxed); }
  // The reasons this table can have (only those are exported).
  const std::vector<Eviction>& reasons() const { return reasons_; }

 private:
  std::string name_;
  std::vector<Eviction> reasons_;
  std::atomic<uint64_t> capacity_;
  std::atomic<uint64_t> entries_{0};
  std::array<std::atomic<uint64_t>, size_t(Eviction::kCount)> evicted_{};
};

class TableRegistry {
 public:
  // The returned table lives as long as the registry.
  TableStats& Add(std::string name, uint64_t capacity, std::initializer_list<Eviction> reasons);
  const TableStats* Find(const std::string& name) const;
  std::vector<Sample> Samples() const;
  // Every table, in the order they were added (under the registry's lock: `f` must not add tables).
  void ForEach(const std::function<void(const TableStats&)>& f) const;

 private:
  mutable std::mutex mu_;
  std::deque<TableStats> tables_;  // a deque never moves what it holds
};

}  // namespace l7tap::agent
