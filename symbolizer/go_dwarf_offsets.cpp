#include "symbolizer/go_dwarf_offsets.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace l7tap::symbolizer {
namespace {

std::string DwarfError() {
  const char* message = dwarf_errmsg(-1);
  return message != nullptr ? message : "unknown libdw error";
}

struct DwarfCloser {
  void operator()(Dwarf* dwarf) const { dwarf_end(dwarf); }
};

// DIE names, checked: libdw does not check that an inline (DW_FORM_string) or .debug_str name ends inside its
// section, so on a malformed file strlen would read past the section's buffer. A name counts only if it is
// terminated within the data of a debug section, as libelf holds it once dwarf_begin_elf has read (and
// decompressed) it.
class DwarfNames {
 public:
  explicit DwarfNames(Elf* elf) {
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf, &shstrndx) != 0) return;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
      if (name == nullptr ||
          (std::strncmp(name, ".debug_", 7) != 0 && std::strncmp(name, ".zdebug_", 8) != 0))
        continue;
      for (Elf_Data* data = elf_getdata(scn, nullptr); data != nullptr; data = elf_getdata(scn, data)) {
        if (data->d_buf != nullptr && data->d_size > 0) {
          const auto start = reinterpret_cast<uintptr_t>(data->d_buf);
          sections_.push_back({start, start + data->d_size});
        }
      }
    }
  }

  // The DIE's DW_AT_name; nullopt when it has none or it runs past the end of its section.
  std::optional<std::string_view> Of(Dwarf_Die* die) const {
    const char* name = dwarf_diename(die);
    if (name == nullptr) return std::nullopt;
    const auto at = reinterpret_cast<uintptr_t>(name);
    for (const auto& [start, end] : sections_) {
      if (at < start || at >= end) continue;
      const void* nul = std::memchr(name, '\0', end - at);
      if (nul == nullptr) return std::nullopt;
      return std::string_view(name, static_cast<const char*>(nul) - name);
    }
    return std::nullopt;
  }

 private:
  struct Range {
    uintptr_t start, end;
  };
  std::vector<Range> sections_;
};

// A member's DW_AT_data_member_location: a constant (what Go writes), or the DWARF 2 form, an expression
// that is one DW_OP_plus_uconst.
std::optional<uint64_t> MemberLocation(Dwarf_Die* member) {
  Dwarf_Attribute attribute;
  if (dwarf_attr(member, DW_AT_data_member_location, &attribute) == nullptr) return std::nullopt;
  Dwarf_Word value = 0;
  if (dwarf_formudata(&attribute, &value) == 0) return value;
  Dwarf_Op* ops = nullptr;
  size_t count = 0;
  if (dwarf_getlocation(&attribute, &ops, &count) == 0 && count == 1 && ops[0].atom == DW_OP_plus_uconst) {
    return ops[0].number;
  }
  return std::nullopt;
}

// Member name -> offset of one structure type; members without a readable location map to nullopt.
using Members = std::map<std::string, std::optional<uint64_t>, std::less<>>;

Members ReadMembers(Dwarf_Die* structure, const DwarfNames& names) {
  Members members;
  Dwarf_Die child;
  if (dwarf_child(structure, &child) != 0) return members;
  do {
    if (dwarf_tag(&child) != DW_TAG_member) continue;
    if (auto name = names.Of(&child)) members.emplace(*name, MemberLocation(&child));
  } while (dwarf_siblingof(&child, &child) == 0);
  return members;
}

Result<std::optional<GoFdOffsets>> ReadOffsets(const ElfFile& elf) {
  if (!elf.FindSection({".debug_info", ".zdebug_info"})) return std::optional<GoFdOffsets>{};
  // Through the ElfFile's own libelf handle, which reads with pread: dwarf_begin(fd) would map the file.
  std::unique_ptr<Dwarf, DwarfCloser> dwarf(dwarf_begin_elf(elf.handle(), DWARF_C_READ, nullptr));
  if (!dwarf) return Error{elf.path() + ": unreadable DWARF: " + DwarfError()};
  const DwarfNames names(elf.handle());

  // The wanted structure types, among the top-level DIEs of every unit (wherever the Go linker put them; it
  // writes each type once). dwarf_get_units reads DWARF 4 and 5 unit headers alike.
  std::map<std::string, Members, std::less<>> found;
  const std::string_view wanted[] = {kGoTlsConnType, kGoNetConnType, kGoNetFdType, kGoPollFdType,
                                     kGoTcpConnType};
  Dwarf_CU* unit = nullptr;
  Dwarf_Die unit_die;
  while (found.size() < std::size(wanted) &&
         dwarf_get_units(dwarf.get(), unit, &unit, nullptr, nullptr, &unit_die, nullptr) == 0) {
    Dwarf_Die die;
    if (dwarf_child(&unit_die, &die) != 0) continue;
    do {
      if (dwarf_tag(&die) != DW_TAG_structure_type || !dwarf_haschildren(&die)) continue;
      const auto name = names.Of(&die);
      if (!name) continue;
      for (std::string_view type : wanted) {
        if (type == *name && !found.contains(type)) found.emplace(type, ReadMembers(&die, names));
      }
    } while (dwarf_siblingof(&die, &die) == 0);
  }

  for (std::string_view type : {kGoTlsConnType, kGoNetConnType, kGoNetFdType, kGoPollFdType}) {
    if (!found.contains(type)) return std::optional<GoFdOffsets>{};
  }
  std::string error;
  auto member = [&](std::string_view type, std::string_view name) -> uint64_t {
    const Members& members = found.find(type)->second;
    auto it = members.find(name);
    if (it == members.end() || !it->second) {
      if (error.empty()) {
        error = elf.path() + ": the DWARF type " + std::string(type) + " has no member " + std::string(name) +
                (it == members.end() ? "" : " with a constant offset") +
                "; this Go's layout is not one l7tap can follow to the socket fd";
      }
      return 0;
    }
    return *it->second;
  };
  GoFdOffsets offsets;
  offsets.tls_conn_conn = member(kGoTlsConnType, "conn");
  offsets.net_conn_fd = member(kGoNetConnType, "fd");
  offsets.net_fd_pfd = member(kGoNetFdType, "pfd");
  offsets.poll_fd_sysfd = member(kGoPollFdType, "Sysfd");
  if (found.contains(kGoTcpConnType)) {
    const uint64_t embedded = member(kGoTcpConnType, "conn");
    if (error.empty() && embedded != 0) {
      error = elf.path() + ": the DWARF type " + std::string(kGoTcpConnType) + " embeds " + kGoNetConnType +
              " at offset " + std::to_string(embedded) +
              ", not 0; this Go's layout is not one l7tap can follow to the socket fd";
    }
  }
  if (!error.empty()) return Error{error};
  offsets.source = "dwarf";
  return std::optional<GoFdOffsets>{offsets};
}

}  // namespace

Result<std::optional<GoFdOffsets>> ReadGoFdOffsetsFromDwarf(const ElfFile& elf) {
  return elf.Checked(ReadOffsets(elf));
}

}  // namespace l7tap::symbolizer
