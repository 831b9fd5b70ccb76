#include "protocols/transaction.h"

namespace l7tap::protocols {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kClient:
      return "client";
    case Role::kServer:
      return "server";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

const char* TransportName(Transport transport) { return transport == Transport::kTcp ? "tcp" : "udp"; }

}  // namespace l7tap::protocols
