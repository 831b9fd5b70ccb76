#include "agent/tls_untraced.h"

#include <cstdio>

#include "agent/log.h"

namespace l7tap::agent {

void TlsUntraced::Count(const std::string& service, uint32_t pid, const char* reason, const char* why) {
  std::lock_guard lock(mu_);
  std::string name = service;
  if (!services_.contains(name) && services_.size() >= max_services_) name = "_other";
  auto [it, first] = counts_.try_emplace({name, reason}, 0);
  it->second++;
  if (first) {
    services_[name]++;
    Logf(LogLevel::kWarn,
         "TLS: %s (pid %u): a connection not decrypted: %s (counted in "
         "l7tap_tls_connections_untraced_total{reason=\"%s\"}; said once per process name and reason)",
         service.c_str(), pid, why, reason);
  }
}

std::vector<Sample> TlsUntraced::Samples() const {
  std::lock_guard lock(mu_);
  std::vector<Sample> out;
  for (const auto& [key, n] : counts_)
    out.push_back(
        {"l7tap_tls_connections_untraced_total",
         "TLS connections whose bytes were neither decrypted nor read as plaintext, by process name and "
         "reason",
         true,
         {{"service_name", key.first}, {"reason", key.second}},
         double(n)});
  return out;
}

}  // namespace l7tap::agent
