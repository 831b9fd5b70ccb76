#include "protocols/route_segment.h"

#include <algorithm>

namespace l7tap::protocols {
namespace {

constexpr std::string_view kId = "{id}";
constexpr std::string_view kEmail = "{email}";
constexpr std::string_view kDate = "{date}";
constexpr std::string_view kTime = "{time}";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlpha(char c) { return IsLower(c) || IsUpper(c); }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsBase64Url(char c) { return IsAlnum(c) || c == '-' || c == '_'; }
bool IsBase64(char c) { return IsBase64Url(c) || c == '+' || c == '/'; }

template <typename Pred>
bool AllOf(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), pred);
}

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

// %XX decoded; a '%' not followed by two hex digits stays as is.
std::string PercentDecoded(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && IsHex(s[i + 1]) && IsHex(s[i + 2])) {
      out += char(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// 8-4-4-4-12 hex digits.
bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// Calls part_ok(part, index) on each sep-separated part: the number of parts, 0 once one is not ok.
template <typename PartOk>
size_t CountParts(std::string_view s, char sep, PartOk part_ok) {
  for (size_t pos = 0, parts = 0;; ++parts) {
    const size_t end = std::min(s.find(sep, pos), s.size());
    if (!part_ok(s.substr(pos, end - pos), parts)) return 0;
    if (end == s.size()) return parts + 1;
    pos = end + 1;
  }
}

bool IsDomain(std::string_view s) {
  const size_t tld = s.rfind('.') + 1;  // 0 without a dot: fails the label count
  const auto label_ok = [](std::string_view label, size_t) {
    return !label.empty() && label.front() != '-' && label.back() != '-' &&
           AllOf(label, [](char c) { return IsAlnum(c) || c == '-'; });
  };
  return CountParts(s, '.', label_ok) >= 2 && s.size() - tld >= 2 && AllOf(s.substr(tld), IsAlpha);
}

bool IsEmail(std::string_view s) {
  const size_t at = s.find('@');
  if (at == 0 || at == std::string_view::npos || at > 64) return false;
  const std::string_view local = s.substr(0, at);
  constexpr std::string_view kLocalPunct = ".!#$%&'*+/=?^_`{|}~-";
  return AllOf(local, [&](char c) { return IsAlnum(c) || kLocalPunct.find(c) != std::string_view::npos; }) &&
         IsDomain(s.substr(at + 1));
}

// A cursor over a date or time: each step reads a part and says whether it was there.
class Scan {
 public:
  explicit Scan(std::string_view s) : s_(s) {}
  bool End() const { return pos_ == s_.size(); }

  bool Char(std::string_view any_of) {
    if (End() || any_of.find(s_[pos_]) == std::string_view::npos) return false;
    ++pos_;
    return true;
  }

  // Exactly n digits whose value is in [min, max].
  bool Number(size_t n, int min, int max) {
    if (s_.size() - pos_ < n) return false;
    int value = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!IsDigit(s_[pos_ + i])) return false;
      value = value * 10 + (s_[pos_ + i] - '0');
    }
    if (value < min || value > max) return false;
    pos_ += n;
    return true;
  }

  // HH:MM[:SS[.fraction]]
  bool Time() {
    if (!Number(2, 0, 23) || !Char(":") || !Number(2, 0, 59)) return false;
    if (!Char(":")) return true;
    if (!Number(2, 0, 60)) return false;
    if (Char(".") && !Digits(1, 9)) return false;
    return true;
  }

  // [Z | +HH | +HHMM | +HH:MM], nothing after it.
  bool ZoneThenEnd() {
    if (Char("Zz")) return End();
    if (Char("+-")) {
      if (!Number(2, 0, 23)) return false;
      Char(":");
      if (!End() && !Number(2, 0, 59)) return false;
    }
    return End();
  }

  // YYYY-MM[-DD]
  bool Date() {
    if (!Number(4, 0, 9999) || !Char("-") || !Number(2, 1, 12)) return false;
    return !Char("-") || Number(2, 1, 31);
  }

  // YYYYMMDD
  bool CompactDate() { return Number(4, 0, 9999) && Number(2, 1, 12) && Number(2, 1, 31); }

  // HHMM[SS]
  bool CompactTime() {
    if (!Number(2, 0, 23) || !Number(2, 0, 59)) return false;
    Number(2, 0, 60);
    return true;
  }

 private:
  bool Digits(size_t min, size_t max) {
    size_t n = 0;
    while (!End() && IsDigit(s_[pos_]) && n < max) ++pos_, ++n;
    return n >= min;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// {date}, {time} or empty.
std::string_view DateOrTime(std::string_view s) {
  if (Scan scan(s); scan.Date() && (scan.End() || (scan.Char("Tt _") && scan.Time() && scan.ZoneThenEnd())))
    return kDate;
  if (Scan scan(s); scan.CompactDate() && scan.Char("Tt") && scan.CompactTime() && scan.ZoneThenEnd())
    return kDate;
  if (Scan scan(s); scan.Time() && scan.ZoneThenEnd()) return kTime;
  return {};
}

// header.payload.signature (JWS) or five parts (JWE), base64url; a JSON header encodes to "ey...".
bool IsJwt(std::string_view s) {
  if (!s.starts_with("ey") || s.size() < 16) return false;
  // Header and payload are never empty; the signature is with "alg":"none", JWE parts may be.
  const size_t parts = CountParts(s, '.', [](std::string_view part, size_t i) {
    return (i >= 2 || !part.empty()) && AllOf(part, IsBase64Url);
  });
  return parts == 3 || parts == 5;
}

bool IsIpv4(std::string_view s) {
  return CountParts(s, '.', [](std::string_view part, size_t) {
           return !part.empty() && part.size() <= 3 && AllOf(part, IsDigit) &&
                  (part.size() < 3 || part <= "255");
         }) == 4;
}

// Base64 with '=' padding: no word ends in '='.
bool IsPaddedBase64(std::string_view s) {
  if (s.size() < 8 || s.size() % 4 != 0 || s.back() != '=') return false;
  s.remove_suffix(s.ends_with("==") ? 2 : 1);
  return AllOf(s, IsBase64);
}

// Random base64/base62 mixes cases and digits with short lowercase runs; camelCase words have long ones.
bool IsMixedCaseToken(std::string_view s) {
  if (s.ends_with('=')) s.remove_suffix(s.ends_with("==") ? 2 : 1);
  if (s.size() < 16 || !AllOf(s, IsBase64)) return false;
  bool upper = false, lower = false, digit = false;
  size_t run = 0, longest_lower_run = 0;
  for (const char c : s) {
    upper |= IsUpper(c), lower |= IsLower(c), digit |= IsDigit(c);
    run = IsLower(c) ? run + 1 : 0;
    longest_lower_run = std::max(longest_lower_run, run);
  }
  return upper && lower && digit && longest_lower_run <= 4;
}

// One maximal run of letters and digits.
bool IsGeneratedPiece(std::string_view piece) {
  size_t digits = 0, changes = 0;
  for (size_t i = 0; i < piece.size(); ++i) {
    digits += IsDigit(piece[i]);
    changes += i > 0 && IsDigit(piece[i]) != IsDigit(piece[i - 1]);
  }
  const size_t letters = piece.size() - digits;
  if (letters == 0) return digits >= 5;
  if (digits == 0) return false;
  return (piece.size() >= 8 && AllOf(piece, IsHex)) || changes >= 4 || piece.size() >= 16 ||
         (piece.size() >= 6 && digits > letters);
}

bool HasGeneratedPiece(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t begin = std::find_if(s.begin() + pos, s.end(), IsAlnum) - s.begin();
    const size_t end = std::find_if_not(s.begin() + begin, s.end(), IsAlnum) - s.begin();
    if (begin < end && IsGeneratedPiece(s.substr(begin, end - begin))) return true;
    pos = end;
  }
  return false;
}

// Rules 1-6 of the header: the segment as a whole.
std::string_view WholePlaceholder(std::string_view s) {
  if (s.empty()) return {};
  if (AllOf(s, IsDigit) || IsUuid(s) || (s.size() >= 8 && AllOf(s, IsHex))) return kId;
  if (IsEmail(s)) return kEmail;
  if (const std::string_view date = DateOrTime(s); !date.empty()) return date;
  if (IsJwt(s) || IsIpv4(s)) return kId;
  return {};
}

// Rules 8-10: tokens.
bool IsToken(std::string_view s) { return IsPaddedBase64(s) || IsMixedCaseToken(s) || HasGeneratedPiece(s); }

bool IsExtension(std::string_view ext) {
  return !ext.empty() && ext.size() <= 5 && AllOf(ext, IsAlnum) && !AllOf(ext, IsDigit);
}

// Where the last count extensions start ("a.tar.gz": 1 for two, 5 for one); npos if s has fewer.
size_t ExtensionStart(std::string_view s, size_t count) {
  size_t start = s.size();
  for (size_t i = 0; i < count; ++i) {
    const size_t dot = start == 0 ? std::string_view::npos : s.rfind('.', start - 1);
    if (dot == std::string_view::npos || dot == 0 || !IsExtension(s.substr(dot + 1, start - dot - 1)))
      return std::string_view::npos;
    start = dot;
  }
  return start;
}

// Without a digit, '@', '=' or '%' only the hex, UUID (also as a file name's stem) and JWT rules can hold:
// most segments are words, done with in one pass.
bool IsPlainWord(std::string_view s) {
  size_t hex_run = 0;
  for (const char c : s) {
    if (IsDigit(c) || c == '@' || c == '=' || c == '%') return false;
    hex_run = IsHex(c) || c == '-' ? hex_run + 1 : 0;  // a UUID may have no digit
    if (hex_run >= 8) return false;
  }
  return !s.starts_with("ey");
}

}  // namespace

void AppendTemplatedSegment(std::string_view segment, std::string& route) {
  if (IsPlainWord(segment)) {
    route += segment;
    return;
  }
  const std::string decoded_storage =
      segment.find('%') == std::string_view::npos ? std::string() : PercentDecoded(segment);
  const std::string_view s = decoded_storage.empty() ? segment : std::string_view(decoded_storage);

  if (const std::string_view placeholder = WholePlaceholder(s); !placeholder.empty()) {
    route += placeholder;
    return;
  }
  // Two extensions first: "{id}.tar.gz", not "{id}.gz".
  for (size_t count = 2; count >= 1; --count) {
    const size_t ext = ExtensionStart(s, count);
    if (ext == std::string_view::npos) continue;
    const std::string_view stem = s.substr(0, ext);
    std::string_view placeholder = WholePlaceholder(stem);
    if (placeholder.empty() && IsToken(stem)) placeholder = kId;
    if (!placeholder.empty()) {
      route.append(placeholder).append(s.substr(ext));
      return;
    }
  }
  route += IsToken(s) ? kId : segment;
}

}  // namespace l7tap::protocols
