#include "tests/symbolizer/test_tools.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace l7tap::symbolizer::testing {

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
