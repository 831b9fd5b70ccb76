#pragma once
// TLS connections the agent could not decrypt, counted per process name and reason, each (name, reason) named
// once in the log: no blind spot is silent. Bounded: past max_services names, counts go to "_other".
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/sample.h"

namespace l7tap::agent {

class TlsUntraced {
 public:
  explicit TlsUntraced(size_t max_services = 1000) : max_services_(max_services) {}
  // `reason`: a metric label value ("no_secrets", "handshake_not_seen", ...); `why`: the log's explanation.
  void Count(const std::string& service, uint32_t pid, const char* reason, const char* why);
  std::vector<Sample> Samples() const;

 private:
  size_t max_services_;
  mutable std::mutex mu_;  // Samples() runs on the metrics thread
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;
  std::map<std::string, size_t> services_;  // name -> reasons counted
};

}  // namespace l7tap::agent
