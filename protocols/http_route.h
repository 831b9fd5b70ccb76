#pragma once
#include <string>
#include <string_view>

namespace l7tap::protocols {

// Bounded route label from a request-target: query and fragment dropped, segments that are numbers,
// hex ids (>= 8 hex digits) or UUIDs replaced by "{id}", at most 8 segments and 128 chars kept.
std::string TemplateRoute(std::string_view target);

}  // namespace l7tap::protocols
