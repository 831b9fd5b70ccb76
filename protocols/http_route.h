#pragma once
// The http_route label of a transaction, bounded so that a service cannot make unbounded series.
#include <string>
#include <string_view>

#include "protocols/route_patterns.h"

namespace l7tap::protocols {

// Heuristic route from a request-target: query and fragment dropped, generated-looking segments replaced by
// placeholders (route_segment.h: "{id}", "{email}", "{date}", "{time}"), at most 8 segments and 128 chars
// kept. Absolute-form loses scheme and authority; targets without a path ("*", CONNECT's host:port) are "*".
std::string TemplateRoute(std::string_view target);

// The route label: the first of patterns matching the target's path (without query, before any cap), as
// the pattern's text; otherwise TemplateRoute(target).
std::string RouteFor(std::string_view target, const RoutePatterns& patterns);

}  // namespace l7tap::protocols
