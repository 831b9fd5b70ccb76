#include "agent/container_id.h"

#include <fstream>
#include <sstream>
#include <vector>

namespace l7tap::agent {
namespace {

constexpr size_t kIdLength = 64;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The id a single path component names, or "".
std::string_view IdOfComponent(std::string_view c) {
  if (c.ends_with(".scope")) c.remove_suffix(6);
  if (c.size() < kIdLength) return {};
  const std::string_view id = c.substr(c.size() - kIdLength);
  for (char ch : id)
    if (!IsLowerHex(ch)) return {};
  if (c.size() > kIdLength) {
    const char before = c[c.size() - kIdLength - 1];
    if (before != '-' && before != ':') return {};  // a longer hex run, or a name that merely ends in hex
    if (c.find("conmon") != std::string_view::npos) return {};
  }
  return id;
}

// The innermost component of a cgroup path that names a container.
std::string_view IdOfPath(std::string_view path) {
  while (!path.empty()) {
    const size_t slash = path.rfind('/');
    const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
    if (auto id = IdOfComponent(last); !id.empty()) return id;
    if (slash == std::string_view::npos) break;
    path = path.substr(0, slash);
  }
  return {};
}

std::string ReadCgroup(uint32_t tgid) {
  std::ifstream in("/proc/" + std::to_string(tgid) + "/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string ContainerIdFromCgroup(std::string_view text) {
  // Lines "HIERARCHY:CONTROLLERS:PATH"; cgroup v2 is "0::PATH". v2 first: on hybrid systems it is the one
  // the runtime always sets.
  std::vector<std::string_view> v1;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const size_t a = line.find(':');
    const size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const std::string_view path = line.substr(b + 1);
    if (line.substr(0, b) == "0:") {
      if (auto id = IdOfPath(path); !id.empty()) return std::string(id);
    } else {
      v1.push_back(path);
    }
  }
  for (std::string_view path : v1)
    if (auto id = IdOfPath(path); !id.empty()) return std::string(id);
  return {};
}

ContainerIds::ContainerIds(TableRegistry& tables, size_t capacity, Reader reader)
    : table_(tables.Add("container_ids", capacity, {Eviction::kLeastRecent, Eviction::kProcessGone})),
      capacity_(capacity),
      reader_(reader ? std::move(reader) : Reader(ReadCgroup)) {}

const std::string& ContainerIds::Of(uint32_t tgid) {
  if (auto it = entries_.find(tgid); it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.id;
  }
  if (entries_.size() >= capacity_ && !lru_.empty()) {
    Erase(entries_.find(lru_.back()));
    table_.Evicted(Eviction::kLeastRecent);
  }
  ++reads_;
  lru_.push_front(tgid);
  auto& e = entries_[tgid];
  e.id = ContainerIdFromCgroup(reader_(tgid));
  e.lru = lru_.begin();
  table_.set_entries(entries_.size());
  return e.id;
}

void ContainerIds::Erase(std::unordered_map<uint32_t, Entry>::iterator it) {
  lru_.erase(it->second.lru);
  entries_.erase(it);
  table_.set_entries(entries_.size());
}

void ContainerIds::OnExit(uint32_t tgid) {
  if (auto it = entries_.find(tgid); it != entries_.end()) Erase(it);
}

void ContainerIds::Sweep(const std::function<bool(uint32_t tgid)>& alive) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (!alive(it->first)) {
      Erase(it);
      table_.Evicted(Eviction::kProcessGone);
    }
    it = next;
  }
}

}  // namespace l7tap::agent
