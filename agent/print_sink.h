#pragma once
// --print: each transaction as one line on stdout, flushed at once (a pipe reader sees it as it happens).
#include <memory>

#include "agent/printer.h"
#include "agent/record_sink.h"

namespace l7tap::agent {

class PrintSink : public RecordSink {
 public:
  explicit PrintSink(const Config& config)
      : format_(config.print_format), full_target_(config.print_full_target) {}
  void Start(const SinkContext& context) override;
  void OnTransaction(const TransactionRecord& r) override;
  void OnDns(const DnsRecord& r) override;

 private:
  PrintFormat format_;
  bool full_target_;
  std::unique_ptr<TransactionPrinter> printer_;  // made at Start, with the agent's routes
};

}  // namespace l7tap::agent
