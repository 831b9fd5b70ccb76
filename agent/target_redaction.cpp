#include "agent/target_redaction.h"

#include <algorithm>
#include <cstdio>

namespace l7tap::agent {

TargetParts SplitTarget(std::string_view target) {
  TargetParts p;
  std::string_view rest = target;
  // Absolute-form (requests to a proxy): scheme "://" authority, then the path.
  if (const size_t sep = rest.find("://");
      sep != std::string_view::npos && sep > 0 &&
      rest.substr(0, sep).find_first_of("/?#") == std::string_view::npos) {
    p.scheme = rest.substr(0, sep);
    rest = rest.substr(sep + 3);
    const size_t end = std::min(rest.find_first_of("/?#"), rest.size());
    p.authority = rest.substr(0, end);
    if (const size_t at = p.authority.rfind('@'); at != std::string_view::npos) {
      p.had_userinfo = true;
      p.authority = p.authority.substr(at + 1);
    }
    rest = rest.substr(end);
  }
  const std::string_view no_fragment = rest.substr(0, rest.find('#'));
  const size_t question = no_fragment.find('?');
  p.path = no_fragment.substr(0, question);
  if (question != std::string_view::npos) {
    p.has_query = true;
    p.query = no_fragment.substr(question + 1);
  }
  return p;
}

std::string EscapeControl(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

std::string PrintableTarget(std::string_view target, bool full, size_t max_chars) {
  if (full) return EscapeControl(target.substr(0, max_chars));
  const TargetParts p = SplitTarget(target);
  std::string out;
  if (!p.scheme.empty()) {
    out.append(p.scheme).append("://");
    if (p.had_userinfo) out.append("…@");
    out.append(p.authority);
  }
  out.append(p.path);
  out.resize(std::min(out.size(), max_chars));
  if (p.has_query) out.append("?…");
  return EscapeControl(out);
}

}  // namespace l7tap::agent
