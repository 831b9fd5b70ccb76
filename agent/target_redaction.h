#pragma once
// What --print shows of a request target. Query strings carry secrets (tokens, API keys, session ids,
// e-mail addresses), so they are never printed unless the user asks for them (--print-full-target). The path
// stays as sent: it identifies the request, and secrets in it (a reset token in /reset/<token>) are only
// templated away in http_route, which is printed beside it.
#include <string>
#include <string_view>

namespace l7tap::agent {

struct TargetParts {
  std::string_view scheme;     // absolute-form ("http://host:8080/p"): "http"; else empty
  std::string_view authority;  // absolute-form: "host:8080", without userinfo
  std::string_view path;       // up to '?' or '#' ("" for "*" and authority-form targets: as sent)
  std::string_view query;      // after '?', up to '#'
  bool has_query = false;      // a '?' was there (the query may be empty)
  bool had_userinfo = false;   // absolute-form "scheme://user:pass@host": the userinfo is dropped
};

TargetParts SplitTarget(std::string_view target);

// The target for a text line. Redacted (full = false): scheme and authority without userinfo ("…@" where
// one was dropped), the path (at most max_chars bytes), then "?…" where a query was dropped; a fragment is
// dropped. Full: the target as sent (at most max_chars bytes). Control bytes are escaped ("\x1b") either
// way, so a line never carries terminal escapes.
std::string PrintableTarget(std::string_view target, bool full, size_t max_chars = 200);

// Control bytes (below 0x20, 0x7f) as "\xNN": what the kernel copied is attacker-chosen bytes.
std::string EscapeControl(std::string_view s);

}  // namespace l7tap::agent
