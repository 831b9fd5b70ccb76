#pragma once
// What the agent relies on in every HTTP transaction a session hands out, checked by the fuzz targets: a
// resolved role, times from chunks already seen, a final (or 101) status of three digits, a method, a route
// label within its bound.
#include <cstdint>
#include <cstdlib>

#include "protocols/http_route.h"
#include "protocols/transaction.h"

namespace l7tap::fuzz {

inline void CheckTransaction(const protocols::HttpTransaction& t, uint64_t now_ns) {
  if (t.role == protocols::Role::kUnknown || t.start_ns > now_ns || t.end_ns > now_ns || t.status < 100 ||
      t.status > 999 || t.method.empty())
    std::abort();
  if (protocols::TemplateRoute(t.target).size() > 128) std::abort();
}

}  // namespace l7tap::fuzz
