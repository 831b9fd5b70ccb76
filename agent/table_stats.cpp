#include "agent/table_stats.h"

namespace l7tap::agent {

const char* EvictionName(Eviction e) {
  switch (e) {
    case Eviction::kFull:
      return "full";
    case Eviction::kIdle:
      return "idle";
    case Eviction::kProcessGone:
      return "process_gone";
    case Eviction::kOwnerGone:
      return "owner_gone";
    case Eviction::kLeastRecent:
      return "least_recently_used";
    case Eviction::kFileGone:
      return "file_gone";
    case Eviction::kCount:
      break;
  }
  return "?";
}

TableStats::TableStats(std::string name, uint64_t capacity, std::initializer_list<Eviction> reasons)
    : name_(std::move(name)), reasons_(reasons), capacity_(capacity) {}

TableStats& TableRegistry::Add(std::string name, uint64_t capacity, std::initializer_list<Eviction> reasons) {
  std::lock_guard lock(mu_);
  return tables_.emplace_back(std::move(name), capacity, reasons);
}

const TableStats* TableRegistry::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const TableStats& t : tables_)
    if (t.name() == name) return &t;
  return nullptr;
}

void TableRegistry::ForEach(const std::function<void(const TableStats&)>& f) const {
  std::lock_guard lock(mu_);
  for (const TableStats& t : tables_) f(t);
}

std::vector<Sample> TableRegistry::Samples() const {
  std::lock_guard lock(mu_);
  std::vector<Sample> out;
  for (const TableStats& t : tables_) {
    out.push_back({"l7tap_table_capacity",
                   "Most entries a table holds (kernel maps and agent tables)",
                   false,
                   {{"table", t.name()}},
                   double(t.capacity())});
    out.push_back({"l7tap_table_entries",
                   "Entries a table holds now (kernel maps: as of the last sweep)",
                   false,
                   {{"table", t.name()}},
                   double(t.entries())});
    for (Eviction e : t.reasons()) {
      out.push_back({"l7tap_table_evictions_total",
                     "Entries removed from a table before their owner ended them, or refused, by reason",
                     true,
                     {{"table", t.name()}, {"reason", EvictionName(e)}},
                     double(t.evicted(e))});
    }
  }
  return out;
}

}  // namespace l7tap::agent
