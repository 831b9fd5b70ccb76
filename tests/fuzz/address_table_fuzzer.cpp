// AddressTable::Parse on arbitrary text. A table that parses must format back (FormatEntry) to text that
// parses to the same entries.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "symbolizer/address_table.h"

using l7tap::symbolizer::AddressTable;

namespace {

constexpr std::string_view kBlanks = " \t\r";

// The first field of each line (the build-id of an entry line), comments removed, as the format has it.
std::set<std::string> FirstFields(std::string_view text) {
  std::set<std::string> fields;
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    line = line.substr(0, line.find('#'));
    const size_t start = line.find_first_not_of(kBlanks);
    if (start == std::string_view::npos) continue;
    line.remove_prefix(start);
    fields.emplace(line.substr(0, line.find_first_of(kBlanks)));
  }
  return fields;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = AddressTable::Parse(text, "fuzz");
  if (!table.ok()) {
    if (table.error().rfind("fuzz:", 0) != 0) std::abort();  // errors name the source and line
    return 0;
  }
  std::string formatted;
  for (const std::string& id : FirstFields(text)) {
    if (table->Has(id)) formatted += AddressTable::FormatEntry(id, table->Functions(id));
  }
  auto again = AddressTable::Parse(formatted, "formatted");
  if (!again.ok() || again->size() != table->size()) std::abort();
  for (const std::string& id : FirstFields(formatted)) {
    if (again->Functions(id) != table->Functions(id)) std::abort();
  }
  return 0;
}
