#pragma once
// OpenTelemetry's http.request.method: the standard methods as they are, any other "_OTHER" (a method is a
// client-chosen token: unbounded as a label).
#include <string_view>

namespace l7tap::agent {

inline std::string_view StandardMethod(std::string_view m) {
  static constexpr std::string_view known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                               "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view k : known)
    if (m == k) return k;
  return "_OTHER";
}

}  // namespace l7tap::agent
