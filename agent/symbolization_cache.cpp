#include "agent/symbolization_cache.h"

#include "symbolizer/elf_file.h"

namespace l7tap::agent {

SymbolizationCache::SymbolizationCache(TableRegistry& tables)
    : table_(tables.Add("symbolization_cache", kCapacity, {Eviction::kLeastRecent})) {}

std::string SymbolizationCache::KeyOf(const symbolizer::ElfFile& file, uint64_t size) {
  const std::string length = ":" + std::to_string(size);
  if (!file.build_id().empty()) return "gnu:" + file.build_id() + length;
  if (auto note = file.FindSection({".note.go.buildid"})) {
    const std::string_view bytes = file.Bytes(*note);
    if (bytes.size() > 16) return "go:" + std::string(bytes) + length;
  }
  return {};
}

const CachedInspection* SymbolizationCache::Find(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  order_.splice(order_.begin(), order_, it->second.at);
  return &it->second.value;
}

void SymbolizationCache::Store(const std::string& key, CachedInspection value) {
  if (key.empty()) return;
  if (auto it = entries_.find(key); it != entries_.end()) {
    it->second.value = std::move(value);
    return;
  }
  if (entries_.size() >= kCapacity) {
    entries_.erase(order_.back());
    order_.pop_back();
    table_.Evicted(Eviction::kLeastRecent);
  }
  order_.push_front(key);
  entries_.emplace(key, Entry{std::move(value), order_.begin()});
  table_.set_entries(entries_.size());
}

std::vector<Sample> SymbolizationCache::Samples() const {
  const char* help =
      "Files inspected, by whether a file with the same build id had been inspected before (hit: no parse)";
  return {{"l7tap_symbolization_cache_total",
           help,
           true,
           {{"result", "hit"}},
           double(hits_.load(std::memory_order_relaxed))},
          {"l7tap_symbolization_cache_total",
           help,
           true,
           {{"result", "miss"}},
           double(misses_.load(std::memory_order_relaxed))}};
}

}  // namespace l7tap::agent
