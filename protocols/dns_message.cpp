#include "protocols/dns_message.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace l7tap::protocols {
namespace {

constexpr size_t kHeaderBytes = 12;
// Real resolvers ask one question per message; a few more are tolerated. A larger count with a tiny body is
// how random bytes usually look, so it is refused before ldns allocates anything for it.
constexpr uint16_t kMaxQuestions = 4;

uint16_t ReadU16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct CharFree {
  void operator()(char* s) const { std::free(s); }  // ldns allocates strings with malloc (LDNS_FREE)
};

std::string QuestionName(const ldns_rdf* owner) {
  std::unique_ptr<char, CharFree> text(ldns_rdf2str(owner));
  if (!text) return "";
  std::string name(text.get());
  // Presentation format ends in the root's dot ("example.com."); the root alone is ".".
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

Result<DnsMessage> Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes) return Error{"shorter than a DNS header"};
  const uint16_t qdcount = ReadU16(bytes, 4);
  if (qdcount == 0) return Error{"question count 0"};
  if (qdcount > kMaxQuestions) {
    return Error{"question count " + std::to_string(qdcount) + " (at most " + std::to_string(kMaxQuestions) +
                 ")"};
  }

  ldns_pkt* raw = nullptr;
  const ldns_status status = ldns_wire2pkt(&raw, bytes.data(), bytes.size());
  std::unique_ptr<ldns_pkt, PktFree> pkt(raw);
  if (status != LDNS_STATUS_OK || !pkt) {
    return Error{std::string("malformed (ldns: ") + ldns_get_errorstr_by_id(status) + ")"};
  }

  DnsMessage m;
  m.id = ldns_pkt_id(pkt.get());
  m.response = ldns_pkt_qr(pkt.get());
  m.opcode = static_cast<uint8_t>(ldns_pkt_get_opcode(pkt.get()));
  m.rcode = static_cast<uint8_t>(ldns_pkt_get_rcode(pkt.get()));
  m.truncated = ldns_pkt_tc(pkt.get());
  const ldns_rr_list* questions = ldns_pkt_question(pkt.get());
  const size_t count = questions ? ldns_rr_list_rr_count(questions) : 0;
  if (count == 0) return Error{"question count 0"};
  m.questions.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(questions, i);
    m.questions.push_back(DnsQuestion{QuestionName(ldns_rr_owner(rr)),
                                      static_cast<uint16_t>(ldns_rr_get_type(rr)),
                                      static_cast<uint16_t>(ldns_rr_get_class(rr))});
  }
  return m;
}

}  // namespace

Result<DnsMessage> ParseDnsMessage(std::span<const uint8_t> bytes) { return Parse(bytes); }

Result<DnsMessage> ParseDnsMessageHead(std::span<const uint8_t> prefix) {
  if (prefix.size() < kHeaderBytes) return Error{"shorter than a DNS header"};
  // ldns parses whole messages only: with the record counts zeroed, the questions are the whole message and
  // ldns ignores the cut records that follow them.
  std::vector<uint8_t> copy(prefix.begin(), prefix.end());
  std::fill(copy.begin() + 6, copy.begin() + kHeaderBytes, 0);
  return Parse(copy);
}

const char* DnsTypeName(uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 35:
      return "NAPTR";
    case 43:
      return "DS";
    case 46:
      return "RRSIG";
    case 48:
      return "DNSKEY";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
    case 257:
      return "CAA";
    default:
      return "_OTHER";
  }
}

const char* DnsRcodeName(uint8_t rcode) {
  static constexpr const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                           "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  return rcode < std::size(kNames) ? kNames[rcode] : "_OTHER";
}

}  // namespace l7tap::protocols
