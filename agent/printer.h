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

 private:
  int64_t realtime_minus_monotonic_ns_;
};

}  // namespace l7tap::agent
