#include "dns_wire.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace l7tap::protocols::testing {
namespace {

ldns_pkt* NewQuery(const std::string& name, uint16_t type, uint16_t id) {
  ldns_rdf* owner = ldns_dname_new_frm_str(name.c_str());
  if (!owner) throw std::runtime_error("bad name " + name);
  // Takes ownership of `owner`.
  ldns_pkt* p = ldns_pkt_query_new(owner, static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN, LDNS_RD);
  if (!p) throw std::runtime_error("ldns_pkt_query_new failed");
  ldns_pkt_set_id(p, id);
  return p;
}

void Push(ldns_pkt* p, ldns_pkt_section section, const std::string& text) {
  ldns_rr* rr = nullptr;
  if (ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) {
    throw std::runtime_error("bad record " + text);
  }
  ldns_pkt_push_rr(p, section, rr);  // takes ownership, updates the section count
}

Bytes ToWire(ldns_pkt* p) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  const ldns_status s = ldns_pkt2wire(&wire, p, &size);
  ldns_pkt_free(p);
  if (s != LDNS_STATUS_OK) throw std::runtime_error("ldns_pkt2wire failed");
  Bytes out(wire, wire + size);
  std::free(wire);
  return out;
}

}  // namespace

Bytes Query(const std::string& name, uint16_t type, uint16_t id) { return ToWire(NewQuery(name, type, id)); }

Bytes Response(const std::string& name, uint16_t type, uint16_t id, uint8_t rcode,
               const std::vector<std::string>& answers, const std::vector<std::string>& authority,
               bool truncated) {
  ldns_pkt* p = NewQuery(name, type, id);
  ldns_pkt_set_qr(p, true);
  ldns_pkt_set_ra(p, true);
  ldns_pkt_set_rcode(p, rcode);
  ldns_pkt_set_tc(p, truncated);
  for (const auto& a : answers) Push(p, LDNS_SECTION_ANSWER, a);
  for (const auto& a : authority) Push(p, LDNS_SECTION_AUTHORITY, a);
  return ToWire(p);
}

Bytes Framed(const Bytes& message) {
  // Sized up front: GCC 12 misreads insert() into a 2-element vector as an out-of-bounds copy.
  Bytes out(2 + message.size());
  out[0] = static_cast<uint8_t>(message.size() >> 8);
  out[1] = static_cast<uint8_t>(message.size() & 0xff);
  std::copy(message.begin(), message.end(), out.begin() + 2);
  return out;
}

}  // namespace l7tap::protocols::testing
