#include "agent/label_budget.h"

namespace l7tap::agent {

LabelBudget::LabelBudget(TableStats& table, size_t per_service, size_t max_services, std::string other)
    : table_(table), per_service_(per_service), max_services_(max_services), other_(std::move(other)) {
  table_.set_capacity(per_service * max_services);
}

std::string_view LabelBudget::Admit(std::string_view service, std::string_view value, uint64_t now_ns,
                                    bool* first_over) {
  auto s = services_.find(std::string(service));
  if (s == services_.end()) {
    if (services_.size() >= max_services_) {
      table_.Evicted(Eviction::kFull);
      return other_;
    }
    s = services_.emplace(std::string(service), Service{}).first;
  }
  Service& svc = s->second;
  if (auto v = svc.values.find(std::string(value)); v != svc.values.end()) {
    v->second = now_ns;
    return v->first;
  }
  if (svc.values.size() >= per_service_) {
    table_.Evicted(Eviction::kFull);
    if (first_over && !svc.warned) *first_over = true;
    svc.warned = true;
    return other_;
  }
  ++entries_;
  table_.set_entries(entries_);
  return svc.values.emplace(std::string(value), now_ns).first->first;
}

void LabelBudget::Expire(uint64_t before_ns) {
  for (auto s = services_.begin(); s != services_.end();) {
    auto& values = s->second.values;
    for (auto v = values.begin(); v != values.end();) {
      if (v->second < before_ns) {
        v = values.erase(v);
        --entries_;
        table_.Evicted(Eviction::kIdle);
      } else {
        ++v;
      }
    }
    s = values.empty() ? services_.erase(s) : std::next(s);
  }
  table_.set_entries(entries_);
}

}  // namespace l7tap::agent
