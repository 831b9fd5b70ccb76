#pragma once
// What inspecting a file decided, by what the file is rather than where it is: its GNU build-id, or its Go
// build ID note (Go binaries have no GNU build-id; the toolchain derives that ID from the build's inputs and
// output), with its size. A hundred copies of one binary (new inodes: containers, deploys, a CI runner) cost
// one parse; each copy is still attached on its own (uprobes belong to an inode). Files with neither id are
// not cached.
#include <atomic>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/attach_plan.h"
#include "agent/sample.h"
#include "agent/table_stats.h"

namespace l7tap::symbolizer {
class ElfFile;
}

namespace l7tap::agent {

struct CachedInspection {
  bool tls = false;  // false: nothing to attach (no TLS library inside)
  AttachPlan plan;
  std::string library, version;
  bool keys = false;
  std::string detail;  // the attach log line's parenthesis
};

class SymbolizationCache {
 public:
  static constexpr size_t kCapacity = 4096;
  explicit SymbolizationCache(TableRegistry& tables);
  // The key of a file (empty: it has no build id to go by).
  static std::string KeyOf(const symbolizer::ElfFile& file, uint64_t size);
  const CachedInspection* Find(const std::string& key);  // counts a hit or a miss
  void Store(const std::string& key, CachedInspection value);
  std::vector<Sample> Samples() const;  // any thread

 private:
  using Order = std::list<std::string>;  // most recently used first
  struct Entry {
    CachedInspection value;
    Order::iterator at;
  };
  std::unordered_map<std::string, Entry> entries_;
  Order order_;
  TableStats& table_;
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace l7tap::agent
