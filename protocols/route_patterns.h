#pragma once
// User route patterns: what the heuristics of route_segment.h cannot tell, such as user names in
// "/users/alice/profile", is templated by a pattern the user gives, "/users/{name}/profile".
//
// Syntax: a path starting with '/', split at '/' into segments, each one of
//   literal   matches the same bytes (case-sensitive, percent-escapes compared as written)
//   {name}    matches exactly one non-empty segment; name is letters, digits, '_', '-', '.'
//   *         only as the last segment: matches any rest of the path, also none ("/static/*" matches
//             "/static", "/static/" and "/static/css/site.css")
// No query or fragment, no empty segment but a trailing one ("/users/" matches "/users/" only), at most
// kMaxPatternChars chars (a route label's limit) and kMaxPatterns patterns.
//
// The first pattern in the order given that matches wins; its text is the route label.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace l7tap::protocols {

class RoutePatterns {
 public:
  static constexpr size_t kMaxPatterns = 256;
  static constexpr size_t kMaxPatternChars = 128;

  // No patterns: nothing matches.
  RoutePatterns() = default;

  // All of patterns, in order; the error names the first bad one and how to fix it.
  static Result<RoutePatterns> Parse(const std::vector<std::string>& patterns);

  // Appends one pattern (matched after those added before).
  Result<Ok> Add(std::string_view pattern);

  // The text of the first pattern matching path (a request path without query, starting with '/'); empty
  // when none does. No allocation: one pass splits path and looks its segments up among the patterns'
  // literals, then each pattern compares ids.
  std::string_view Match(std::string_view path) const;

  size_t size() const { return patterns_.size(); }
  bool empty() const { return patterns_.empty(); }

 private:
  static constexpr uint32_t kParam = UINT32_MAX;  // a {name} segment
  static constexpr uint32_t kNoLiteral = UINT32_MAX - 1;

  struct Pattern {
    uint32_t offset = 0;  // the pattern's text in text_
    uint16_t size = 0;
    uint16_t segments = 0;  // before a '*'
    uint32_t first_segment = 0;
    bool rest = false;  // ends with '*'
  };
  // Literal segments are interned: a path segment is looked up once per Match, patterns compare ids.
  struct Literal {
    uint32_t offset = 0;  // in text_
    uint16_t size = 0;
    size_t hash = 0;
  };

  uint32_t FindLiteral(std::string_view segment, size_t hash) const;  // its id or kNoLiteral
  uint32_t Intern(uint32_t offset, uint16_t size);
  void Rehash(size_t slots);

  std::string text_;                // all patterns' texts, back to back
  std::vector<uint32_t> segments_;  // of each pattern in turn: a literal id or kParam
  std::vector<Pattern> patterns_;
  std::vector<Literal> literals_;
  std::vector<uint32_t> slots_;  // open addressing over literals_: id + 1, 0 when free
  size_t max_segments_ = 0;      // the most any pattern compares
};

}  // namespace l7tap::protocols
