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

const char* HttpVersionName(HttpVersion v) {
  switch (v) {
    case HttpVersion::k10:
      return "1.0";
    case HttpVersion::k11:
      return "1.1";
    case HttpVersion::k2:
      return "2";
  }
  return "";
}

const char* StreamEndName(StreamEnd e) {
  switch (e) {
    case StreamEnd::kComplete:
      return "";
    case StreamEnd::kReset:
      return "rst_stream";
    case StreamEnd::kGoaway:
      return "goaway";
    case StreamEnd::kClosed:
      return "connection_closed";
  }
  return "";
}

}  // namespace l7tap::protocols
