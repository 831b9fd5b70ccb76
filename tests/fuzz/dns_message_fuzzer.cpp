// ParseDnsMessage and ParseDnsMessageHead on one DNS message (the input as is), and the metric labels of
// what they parse.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "protocols/dns_message.h"

namespace {

void Check(const l7tap::Result<l7tap::protocols::DnsMessage>& result) {
  if (!result.ok()) return;
  const l7tap::protocols::DnsMessage* parsed = &result.value();
  // The documented bounds: 1 to 4 questions, a 4-bit rcode and opcode.
  if (parsed->questions.empty() || parsed->questions.size() > 4 || parsed->rcode > 15 ||
      parsed->opcode > 15) {
    std::abort();
  }
  for (const auto& question : parsed->questions) {
    if (question.name.empty() || l7tap::protocols::DnsTypeName(question.type) == nullptr) std::abort();
  }
  if (l7tap::protocols::DnsRcodeName(parsed->rcode) == nullptr) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto whole = l7tap::protocols::ParseDnsMessage(bytes);
  Check(whole);
  auto head = l7tap::protocols::ParseDnsMessageHead(bytes);
  Check(head);
  // A message that parses whole has a head that parses the same.
  if (whole.ok()) {
    if (!head.ok() || head->id != whole->id || head->questions.size() != whole->questions.size())
      std::abort();
    for (size_t i = 0; i < head->questions.size(); ++i) {
      if (head->questions[i].name != whole->questions[i].name) std::abort();
    }
  }
  return 0;
}
