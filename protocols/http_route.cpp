#include "protocols/http_route.h"

#include <algorithm>

namespace l7tap::protocols {
namespace {

constexpr size_t kMaxSegments = 8;
constexpr size_t kMaxChars = 128;
constexpr std::string_view kId = "{id}";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// 8-4-4-4-12 hex digits.
bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

bool IsId(std::string_view segment) {
  if (segment.empty()) return false;
  return std::all_of(segment.begin(), segment.end(), IsDigit) ||
         (segment.size() >= 8 && std::all_of(segment.begin(), segment.end(), IsHex)) || IsUuid(segment);
}

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

}  // namespace

std::string TemplateRoute(std::string_view target) {
  const std::string_view path = PathOf(target);
  if (path.front() != '/') return std::string(path);
  std::string route;
  size_t segments = 0;
  size_t pos = 1;  // after the leading '/'
  while (segments < kMaxSegments && pos <= path.size() && route.size() < kMaxChars) {
    const size_t end = std::min(path.find('/', pos), path.size());
    const std::string_view segment = path.substr(pos, end - pos);
    route += '/';
    route += IsId(segment) ? kId : segment;
    ++segments;
    pos = end + 1;
  }
  if (route.size() > kMaxChars) route.resize(kMaxChars);
  return route;
}

}  // namespace l7tap::protocols
