#include "protocols/http_route.h"

#include <algorithm>

#include "protocols/route_segment.h"

namespace l7tap::protocols {
namespace {

constexpr size_t kMaxSegments = 8;
constexpr size_t kMaxChars = 128;

// The path part of a request-target: origin-form as is; absolute-form ("http://host/p") loses scheme and
// authority; asterisk-form and authority-form (CONNECT host:port) have no path and become "*".
std::string_view PathOf(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty()) return "/";
  if (target.front() == '/') return target;
  const size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return "*";
  const size_t path = target.find('/', scheme_end + 3);
  return path == std::string_view::npos ? "/" : target.substr(path);
}

std::string TemplatePath(std::string_view path) {
  if (path.front() != '/') return std::string(path);
  std::string route;
  size_t segments = 0;
  size_t pos = 1;  // after the leading '/'
  while (segments < kMaxSegments && pos <= path.size() && route.size() < kMaxChars) {
    const size_t end = std::min(path.find('/', pos), path.size());
    route += '/';
    AppendTemplatedSegment(path.substr(pos, end - pos), route);
    ++segments;
    pos = end + 1;
  }
  if (route.size() > kMaxChars) route.resize(kMaxChars);
  return route;
}

}  // namespace

std::string TemplateRoute(std::string_view target) { return TemplatePath(PathOf(target)); }

std::string RouteFor(std::string_view target, const RoutePatterns& patterns) {
  const std::string_view path = PathOf(target);
  if (const std::string_view pattern = patterns.Match(path); !pattern.empty()) return std::string(pattern);
  return TemplatePath(path);
}

}  // namespace l7tap::protocols
