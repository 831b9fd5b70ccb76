#include "symbolizer/address_table.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace l7tap::symbolizer {
namespace {

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

bool IsHex(std::string_view text) {
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return !text.empty();
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (true) {
    pos = line.find_first_not_of(" \t\r", pos);
    if (pos == std::string_view::npos) break;
    const size_t end = std::min(line.find_first_of(" \t\r", pos), line.size());
    fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

}  // namespace

Result<AddressTable> AddressTable::Parse(std::string_view text, std::string_view source_name) {
  AddressTable table;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const std::vector<std::string_view> fields = Fields(line);
    if (fields.empty()) continue;

    const std::string where = std::string(source_name) + ":" + std::to_string(line_number) + ": ";
    if (fields.size() != 3) {
      return Error{where + "expected '<build-id> <function> 0x<file-offset>', found " +
                   std::to_string(fields.size()) + " field" + (fields.size() == 1 ? "" : "s")};
    }
    const std::string_view build_id = fields[0];
    const std::string_view function = fields[1];
    const std::string_view offset_text = fields[2];
    if (!IsHex(build_id) || build_id.size() % 2 != 0) {
      return Error{where + "build-id '" + std::string(build_id) + "' is not an even number of hex digits"};
    }
    if (offset_text.size() < 3 || offset_text[0] != '0' || (offset_text[1] != 'x' && offset_text[1] != 'X') ||
        !IsHex(offset_text.substr(2))) {
      return Error{where + "file offset '" + std::string(offset_text) + "' is not 0x followed by hex digits"};
    }
    uint64_t offset = 0;
    const std::string_view digits = offset_text.substr(2);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset, 16);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      return Error{where + "file offset '" + std::string(offset_text) + "' does not fit in 64 bits"};
    }
    auto& functions = table.builds_[Lowercase(build_id)];
    auto [it, inserted] = functions.try_emplace(std::string(function), offset);
    if (!inserted && it->second != offset) {
      return Error{where + "second, different offset for " + std::string(function) + " in build " +
                   std::string(build_id)};
    }
  }
  return table;
}

Result<AddressTable> AddressTable::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ": cannot read symbol table: " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{path + ": cannot read symbol table: " + std::strerror(errno)};
  return Parse(text.str(), path);
}

const std::map<std::string, uint64_t>& AddressTable::Functions(std::string_view build_id) const {
  static const std::map<std::string, uint64_t> kNone;
  auto it = builds_.find(Lowercase(build_id));
  return it == builds_.end() ? kNone : it->second;
}

std::optional<uint64_t> AddressTable::Offset(std::string_view build_id, std::string_view function) const {
  const auto& functions = Functions(build_id);
  auto it = functions.find(std::string(function));
  if (it == functions.end()) return std::nullopt;
  return it->second;
}

bool AddressTable::Has(std::string_view build_id) const {
  return !build_id.empty() && builds_.find(Lowercase(build_id)) != builds_.end();
}

size_t AddressTable::size() const {
  size_t entries = 0;
  for (const auto& [build_id, functions] : builds_) entries += functions.size();
  return entries;
}

std::string AddressTable::FormatEntry(const std::string& build_id,
                                      const std::map<std::string, uint64_t>& offsets) {
  std::string text;
  const std::string id = Lowercase(build_id);
  for (const auto& [function, offset] : offsets) {
    char hex[2 + 16 + 1];
    std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(offset));
    text += id + " " + function + " " + hex + "\n";
  }
  return text;
}

}  // namespace l7tap::symbolizer
