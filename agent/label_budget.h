#pragma once
// Bounded label values per service: each service (service_name) gets at most `per_service` distinct values
// of one label (http_route, server_address, dns_question_name); later ones are recorded as `other`. Values
// unused for the series TTL make room again, so a service's budget follows what it does now.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "agent/table_stats.h"

namespace l7tap::agent {

class LabelBudget {
 public:
  // `other`: the value recorded beyond the budget. At most `max_services` services are tracked; values of
  // further ones are `other` too.
  LabelBudget(TableStats& table, size_t per_service, size_t max_services, std::string other);

  // `value`, or `other` when the service is over budget. `now_ns` marks the value used. `over` (optional)
  // is set when the service passed its budget for the first time (for a log line).
  std::string_view Admit(std::string_view service, std::string_view value, uint64_t now_ns,
                         bool* first_over = nullptr);
  // Forgets values unused since `before_ns` (and services left with none).
  void Expire(uint64_t before_ns);
  size_t per_service() const { return per_service_; }

 private:
  struct Service {
    std::unordered_map<std::string, uint64_t> values;  // value -> last used
    bool warned = false;
  };
  TableStats& table_;
  size_t per_service_;
  size_t max_services_;
  std::string other_;
  size_t entries_ = 0;
  std::unordered_map<std::string, Service> services_;
};

}  // namespace l7tap::agent
