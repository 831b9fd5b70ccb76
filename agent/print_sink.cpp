#include "agent/print_sink.h"

#include <cstdio>

namespace l7tap::agent {

void PrintSink::Start(const SinkContext& context) {
  printer_ = std::make_unique<TransactionPrinter>(PrintOptions{format_, full_target_, context.route});
}

void PrintSink::OnTransaction(const TransactionRecord& r) {
  if (!printer_) return;
  std::printf("%s\n", printer_->Format(r).c_str());
  std::fflush(stdout);
}

void PrintSink::OnDns(const DnsRecord& r) {
  if (!printer_) return;
  std::printf("%s\n", printer_->Format(r).c_str());
  std::fflush(stdout);
}

}  // namespace l7tap::agent
