#pragma once
// User-supplied function offsets for stripped binaries, keyed by GNU build-id. Text format, one entry a line:
//   <build-id-hex> <function-name> 0x<file-offset-hex>
// '#' starts a comment (whole line or after the fields); blank lines are ignored. `l7tap symbols --table
// <unstripped twin>` prints these lines for a build, so a table is derived, never written by hand.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace l7tap::symbolizer {

class AddressTable {
 public:
  // Errors name "<source_name>:<line>" and what is wrong with that line.
  static Result<AddressTable> Parse(std::string_view text, std::string_view source_name);
  static Result<AddressTable> Load(const std::string& path);

  // Build-ids compare case-insensitively.
  std::optional<uint64_t> Offset(std::string_view build_id, std::string_view function) const;
  bool Has(std::string_view build_id) const;
  // All functions of one build (empty map when the build is unknown).
  const std::map<std::string, uint64_t>& Functions(std::string_view build_id) const;
  size_t size() const;  // number of entries
  bool empty() const { return builds_.empty(); }

  // Entry lines for one build, sorted by function name, each ending in '\n'. Parse reads them back.
  static std::string FormatEntry(const std::string& build_id, const std::map<std::string, uint64_t>& offsets);

 private:
  std::map<std::string, std::map<std::string, uint64_t>, std::less<>> builds_;
};

}  // namespace l7tap::symbolizer
