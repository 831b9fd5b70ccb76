#pragma once
// One human-readable line per transaction (--print).
#include <cstdint>
#include <string>

#include "agent/connection_tracker.h"

namespace l7tap::agent {

class TransactionPrinter {
 public:
  // Kernel timestamps are CLOCK_MONOTONIC; lines show wall-clock time.
  TransactionPrinter();
  std::string Format(const TransactionRecord& r) const;
  std::string Format(const DnsRecord& r) const;

 private:
  std::string When(uint64_t monotonic_ns) const;  // "2026-11-22T05:25:07.611Z"
  int64_t realtime_minus_monotonic_ns_;
};

}  // namespace l7tap::agent
