#include "tests/symbolizer/test_tools.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

namespace l7tap::symbolizer::testing {

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci && std::string_view(ci) == "true";
}

std::string Run(const std::string& command) {
  const std::string full = "LC_ALL=C " + command;
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run: " << full;
    return "";
  }
  std::string output;
  char buffer[65536];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != 0) {
    ADD_FAILURE() << "command failed (status " << status << "): " << full;
    return "";
  }
  return output;
}

std::string Hex(uint64_t value) {
  std::ostringstream text;
  text << "0x" << std::hex << value;
  return text.str();
}

std::vector<ObjdumpLine> Objdump(const std::string& path, uint64_t start, uint64_t stop) {
  std::istringstream lines(Run("objdump -d --no-show-raw-insn --start-address=" + Hex(start) +
                               " --stop-address=" + Hex(stop) + " '" + path + "'"));
  std::vector<ObjdumpLine> out;
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(":\t");
    if (colon == std::string::npos) continue;
    std::istringstream rest(line.substr(colon + 2));
    ObjdumpLine l;
    l.address = std::stoull(line.substr(0, colon), nullptr, 16);
    rest >> l.mnemonic;
    std::getline(rest >> std::ws, l.operands);
    out.push_back(l);
  }
  return out;
}

std::string OpensslVersion() {
  std::istringstream words(Run("openssl version"));
  std::string name, version;
  words >> name >> version;
  EXPECT_EQ(name, "OpenSSL");
  EXPECT_FALSE(version.empty());
  return version;
}

FunctionSymbols ReadelfFunctions(const std::string& path, const std::string& table) {
  FunctionSymbols symbols;
  std::istringstream lines(Run("readelf -sW '" + path + "'"));
  std::map<std::string, std::set<uint64_t>> seen;
  bool in_table = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Symbol table '", 0) == 0) {
      in_table = line.rfind("Symbol table '" + table + "'", 0) == 0;
      continue;
    }
    if (!in_table) continue;
    // Num: Value Size Type Bind Vis Ndx Name
    std::istringstream fields(line);
    std::string num, value, size, type, bind, vis, ndx, name;
    if (!(fields >> num >> value >> size >> type >> bind >> vis >> ndx >> name)) continue;
    if ((type != "FUNC" && type != "IFUNC") || ndx == "UND") continue;
    if (const size_t at = name.find("@@"); at != std::string::npos) {
      name.resize(at);
    } else if (name.find('@') != std::string::npos) {
      continue;  // a hidden (non-default) version
    }
    const uint64_t address = std::stoull(value, nullptr, 16);
    if (address != 0) seen[name].insert(address);
  }
  for (const auto& [name, addresses] : seen) {
    if (addresses.size() == 1) {
      symbols.functions[name] = *addresses.begin();
    } else {
      symbols.ambiguous.insert(name);
    }
  }
  return symbols;
}

std::vector<LoadSegment> ReadelfLoads(const std::string& path) {
  std::vector<LoadSegment> loads;
  std::istringstream lines(Run("readelf -lW '" + path + "'"));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string type, offset, vaddr, paddr, filesz;
    if (!(fields >> type) || type != "LOAD") continue;
    fields >> offset >> vaddr >> paddr >> filesz;
    loads.push_back({std::stoull(offset, nullptr, 16), std::stoull(vaddr, nullptr, 16),
                     std::stoull(filesz, nullptr, 16)});
  }
  EXPECT_FALSE(loads.empty()) << path;
  return loads;
}

uint64_t SegmentOffset(const std::vector<LoadSegment>& loads, uint64_t vaddr) {
  for (const LoadSegment& load : loads) {
    if (vaddr >= load.vaddr && vaddr < load.vaddr + load.filesz) return load.offset + (vaddr - load.vaddr);
  }
  ADD_FAILURE() << "no PT_LOAD holds 0x" << std::hex << vaddr;
  return 0;
}

uint64_t SegmentAddress(const std::vector<LoadSegment>& loads, uint64_t offset) {
  for (const LoadSegment& load : loads) {
    if (offset >= load.offset && offset < load.offset + load.filesz)
      return load.vaddr + (offset - load.offset);
  }
  ADD_FAILURE() << "no PT_LOAD holds file offset 0x" << std::hex << offset;
  return 0;
}

std::string ReadelfBuildId(const std::string& path) {
  std::istringstream lines(Run("readelf -nW '" + path + "'"));
  for (std::string line; std::getline(lines, line);) {
    const std::string marker = "Build ID: ";
    if (const size_t at = line.find(marker); at != std::string::npos) return line.substr(at + marker.size());
  }
  return "";
}

std::vector<std::string> ReadelfNeeded(const std::string& path) {
  std::vector<std::string> needed;
  std::istringstream lines(Run("readelf -dW '" + path + "'"));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("(NEEDED)") == std::string::npos) continue;
    const size_t open = line.find('[');
    const size_t close = line.rfind(']');
    if (open != std::string::npos && close > open) needed.push_back(line.substr(open + 1, close - open - 1));
  }
  return needed;
}

bool ReadelfHasSymtab(const std::string& path) {
  return Run("readelf -SW '" + path + "'").find(" .symtab ") != std::string::npos;
}

namespace {

// "DW_AT_x   : value" -> "value"; readelf prefixes strings kept in .debug_str with "(indirect string, ...):
// ".
std::string AttributeValue(const std::string& line) {
  size_t colon = line.find(": ");
  if (colon == std::string::npos) return "";
  std::string value = line.substr(colon + 2);
  if (value.rfind("(indirect", 0) == 0) {
    colon = value.find("): ");
    value = colon == std::string::npos ? "" : value.substr(colon + 3);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  return value;
}

// A member location: a constant ("16"), or a DWARF 2 expression block ending "(DW_OP_plus_uconst: 16)".
std::optional<uint64_t> MemberLocation(const std::string& value) {
  const std::string op = "DW_OP_plus_uconst: ";
  const size_t at = value.find(op);
  const std::string number = at == std::string::npos ? value : value.substr(at + op.size());
  if (number.empty() || !std::isdigit(static_cast<unsigned char>(number[0]))) return std::nullopt;
  return std::stoull(number, nullptr, 0);
}

}  // namespace

StructMembers ReadelfStructMembers(const std::string& path, const std::set<std::string>& types) {
  StructMembers found;
  const std::string text = Run("readelf --debug-dump=info '" + path + "'");
  // DIE headers look like " <2><2b517>: Abbrev Number: 24 (DW_TAG_member)" (depth, offset, tag); their
  // attributes follow, one a line: "    <2b518>   DW_AT_name        : conn".
  int depth = -1;
  std::string tag, name;
  std::optional<uint64_t> location;
  std::string open_struct;  // the wanted structure type whose members are being read
  int struct_depth = -1;
  auto finish_die = [&] {
    if (!open_struct.empty() && depth == struct_depth + 1 && tag == "DW_TAG_member" && !name.empty() &&
        location) {
      found[open_struct].emplace(name, *location);
    }
  };
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t first = line.find_first_not_of(' ');
    if (first == std::string::npos || line[first] != '<') continue;
    if (line.find("Abbrev Number:") != std::string::npos) {
      finish_die();
      depth = std::stoi(line.substr(first + 1));
      const size_t open = line.rfind('(');
      tag = open == std::string::npos ? "" : line.substr(open + 1, line.size() - open - 2);
      name.clear();
      location.reset();
      if (!open_struct.empty() && depth <= struct_depth) open_struct.clear();
    } else if (line.find("DW_AT_name") != std::string::npos) {
      name = AttributeValue(line);
      if (tag == "DW_TAG_structure_type" && open_struct.empty() && types.contains(name) &&
          !found.contains(name)) {
        open_struct = name;
        struct_depth = depth;
        found[name];
      }
    } else if (line.find("DW_AT_data_member_location") != std::string::npos) {
      location = MemberLocation(AttributeValue(line));
    }
  }
  finish_die();
  return found;
}

std::vector<GoToolchain> GoToolchains() {
  std::vector<GoToolchain> found;
  std::istringstream list(L7TAP_GO_TOOLCHAINS);
  std::string item;
  while (std::getline(list, item, ',')) {
    const size_t eq = item.find('=');
    if (eq != std::string::npos) found.push_back({item.substr(0, eq), item.substr(eq + 1)});
  }
  return found;
}

std::string GoFixture(const GoToolchain& toolchain, const std::string& variant, const std::string& program) {
  return std::string(L7TAP_GO_FIXTURES_DIR) + "/go" + toolchain.version + "-" + variant + "-" + program;
}

std::string GoToolchainVersion(const GoToolchain& toolchain) {
  std::istringstream words(
      Run("GOROOT='" + toolchain.goroot + "' GOTOOLCHAIN=local '" + toolchain.goroot + "/bin/go' version"));
  std::string go, version_word, version;
  words >> go >> version_word >> version;
  EXPECT_EQ(version_word, "version");
  return version;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::string WriteTempFile(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "symbolizer_" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

std::unique_ptr<ElfFile> MustOpen(const std::string& path) {
  auto file = ElfFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.error();
  return file.ok() ? std::move(*file) : nullptr;
}

}  // namespace l7tap::symbolizer::testing
