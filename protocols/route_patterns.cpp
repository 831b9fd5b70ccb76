#include "protocols/route_patterns.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace l7tap::protocols {
namespace {

// A valid pattern has at most 64 segments ("/x" each, no empty ones but the last): a path with more
// matches a '*' pattern on its first ones only.
constexpr size_t kMaxSegments = RoutePatterns::kMaxPatternChars / 2 + 1;
constexpr size_t kQuotedChars = 48;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

Error Bad(std::string_view pattern, std::string_view why) {
  std::string message = "route pattern \"";
  message.append(pattern.substr(0, kQuotedChars)).append(pattern.size() > kQuotedChars ? "...\" " : "\" ");
  return Error{message.append(why)};
}

// Why one segment (not "*") cannot be a literal or a {name}; empty when it can.
std::string SegmentError(std::string_view segment) {
  const std::string quoted = "\"" + std::string(segment) + "\"";
  if (segment.find('*') != std::string_view::npos)
    return "has '*' inside segment " + quoted + ": '*' must be a whole last segment, as in /static/*";
  const size_t open = segment.find('{'), close = segment.find('}');
  if (open == std::string_view::npos && close == std::string_view::npos) return {};
  const auto opens = std::count(segment.begin(), segment.end(), '{');
  const auto closes = std::count(segment.begin(), segment.end(), '}');
  if (opens != closes || close < open)
    return "has unbalanced braces in " + quoted + ": write a parameter as {name}";
  if (opens != 1 || open != 0 || close != segment.size() - 1)
    return "has a parameter that is not a whole segment, " + quoted +
           ": a {name} matches a whole segment, text around it is not matched";
  const std::string_view name = segment.substr(1, segment.size() - 2);
  if (name.empty()) return "has an empty {}: name the parameter, as in {id}";
  if (!std::all_of(name.begin(), name.end(), IsNameChar))
    return "has parameter " + quoted + ": a name may use letters, digits, '_', '-' and '.' only";
  return {};
}

}  // namespace

Result<RoutePatterns> RoutePatterns::Parse(const std::vector<std::string>& patterns) {
  if (patterns.size() > kMaxPatterns)
    return Error{"too many route patterns (" + std::to_string(patterns.size()) + ", at most " +
                 std::to_string(kMaxPatterns) +
                 "): merge similar ones with {name} segments or a trailing /*"};
  RoutePatterns parsed;
  for (const std::string& pattern : patterns)
    if (Result<Ok> added = parsed.Add(pattern); !added) return Error{added.error()};
  return parsed;
}

Result<Ok> RoutePatterns::Add(std::string_view pattern) {
  if (patterns_.size() >= kMaxPatterns)
    return Error{"too many route patterns (more than " + std::to_string(kMaxPatterns) +
                 "): merge similar ones with {name} segments or a trailing /*"};
  if (pattern.empty()) return Error{"route pattern is empty: give a path such as /users/{name}"};
  if (pattern.size() > kMaxPatternChars)
    return Bad(pattern, "is " + std::to_string(pattern.size()) + " chars long, at most " +
                            std::to_string(kMaxPatternChars) +
                            " (a route label's limit): shorten it, or end it early with /*");
  if (pattern.front() != '/')
    return Bad(pattern, "must start with '/', as in \"/" + std::string(pattern) + "\"");
  for (const char c : pattern) {
    if (c == '?' || c == '#')
      return Bad(pattern, "has a query or fragment: patterns match the path only, drop everything from '" +
                              std::string(1, c) + "'");
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f')
      return Bad(pattern, "has a space or control character: write it percent-encoded, as a request does");
  }

  struct Parsed {
    uint32_t offset;  // in pattern
    uint16_t size;
    bool param;
  };
  std::vector<Parsed> parsed;
  bool rest = false;
  for (size_t pos = 1; pos <= pattern.size();) {
    const size_t end = std::min(pattern.find('/', pos), pattern.size());
    const std::string_view segment = pattern.substr(pos, end - pos);
    const bool last = end == pattern.size();
    if (segment == "*") {
      if (!last)
        return Bad(pattern, "has '*' before the end: '*' must be the whole last segment, as in /static/*");
      rest = true;
      break;
    }
    if (segment.empty() && !last) return Bad(pattern, "has an empty segment (\"//\"): remove the extra '/'");
    if (const std::string why = SegmentError(segment); !why.empty()) return Bad(pattern, why);
    parsed.push_back({uint32_t(pos), uint16_t(segment.size()), segment.starts_with('{')});
    pos = end + 1;
  }

  // Valid: nothing above has changed this object.
  const uint32_t offset = uint32_t(text_.size());
  text_.append(pattern);
  patterns_.push_back({.offset = offset,
                       .size = uint16_t(pattern.size()),
                       .segments = uint16_t(parsed.size()),
                       .first_segment = uint32_t(segments_.size()),
                       .rest = rest});
  for (const Parsed& segment : parsed)
    segments_.push_back(segment.param ? kParam : Intern(offset + segment.offset, segment.size));
  max_segments_ = std::max(max_segments_, parsed.size());
  return Ok{};
}

uint32_t RoutePatterns::FindLiteral(std::string_view segment, size_t hash) const {
  if (slots_.empty()) return kNoLiteral;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    if (slots_[i] == 0) return kNoLiteral;
    const Literal& literal = literals_[slots_[i] - 1];
    if (literal.hash == hash && literal.size == segment.size() &&
        std::memcmp(text_.data() + literal.offset, segment.data(), segment.size()) == 0)
      return slots_[i] - 1;
  }
}

uint32_t RoutePatterns::Intern(uint32_t offset, uint16_t size) {
  const std::string_view text = std::string_view(text_).substr(offset, size);
  const size_t hash = std::hash<std::string_view>()(text);
  if (const uint32_t id = FindLiteral(text, hash); id != kNoLiteral) return id;
  literals_.push_back({.offset = offset, .size = size, .hash = hash});
  if (literals_.size() * 2 > slots_.size()) {
    Rehash(std::max<size_t>(16, slots_.size() * 2));  // at most half full: short probes
  } else {
    for (size_t i = hash & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1))
      if (slots_[i] == 0) {
        slots_[i] = uint32_t(literals_.size());
        break;
      }
  }
  return uint32_t(literals_.size() - 1);
}

void RoutePatterns::Rehash(size_t slots) {
  slots_.assign(slots, 0);
  for (size_t id = 0; id < literals_.size(); ++id)
    for (size_t i = literals_[id].hash & (slots - 1);; i = (i + 1) & (slots - 1))
      if (slots_[i] == 0) {
        slots_[i] = uint32_t(id + 1);
        break;
      }
}

std::string_view RoutePatterns::Match(std::string_view path) const {
  if (patterns_.empty() || path.empty() || path.front() != '/') return {};
  // Segment i of path: its end (a '/' or the path's end), its size, its literal id. Segments after the most
  // any pattern compares are counted, not looked at.
  std::array<uint32_t, kMaxSegments> ends, ids;
  size_t count = 0;
  for (size_t begin = 1;;) {
    const void* slash = std::memchr(path.data() + begin, '/', path.size() - begin);
    const size_t end = slash ? size_t(static_cast<const char*>(slash) - path.data()) : path.size();
    if (count < max_segments_) {
      const std::string_view segment = path.substr(begin, end - begin);
      ids[count] = FindLiteral(segment, std::hash<std::string_view>()(segment));
    }
    ends[count++] = uint32_t(end);
    if (!slash || count == kMaxSegments) break;
    begin = end + 1;
  }

  for (const Pattern& pattern : patterns_) {
    if (pattern.rest ? count < pattern.segments : count != pattern.segments) continue;
    const uint32_t* want = segments_.data() + pattern.first_segment;
    size_t i = 0;
    for (; i < pattern.segments; ++i) {
      const bool matches = want[i] == kParam ? ends[i] > (i == 0 ? 1 : ends[i - 1] + 1) : want[i] == ids[i];
      if (!matches) break;
    }
    if (i == pattern.segments) return std::string_view(text_).substr(pattern.offset, pattern.size);
  }
  return {};
}

}  // namespace l7tap::protocols
