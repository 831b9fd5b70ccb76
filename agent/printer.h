#pragma once
// One line per transaction (--print): text for people, or a JSON object for programs (--format json). Query
// strings are never printed unless full_target (--print-full-target): see target_redaction.h.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agent/config.h"
#include "agent/connection_tracker.h"
#include "agent/wall_clock.h"

namespace l7tap::agent {

struct PrintOptions {
  PrintFormat format = PrintFormat::kText;
  bool full_target = false;
  // http.route of a request target (the agent's --route patterns, then templating); none: TemplateRoute.
  std::function<std::string(std::string_view target)> route;
};

class TransactionPrinter {
 public:
  explicit TransactionPrinter(PrintOptions options = {}, WallClock clock = WallClock());
  // One line, without its newline.
  std::string Format(const TransactionRecord& r) const;
  std::string Format(const DnsRecord& r) const;

 private:
  std::string Text(const TransactionRecord& r) const;
  std::string Text(const DnsRecord& r) const;
  PrintOptions options_;
  WallClock clock_;
};

}  // namespace l7tap::agent
