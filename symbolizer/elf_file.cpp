#include "symbolizer/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace l7tap::symbolizer {
namespace {

bool LibelfReady() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

std::string LibelfError() {
  const char* message = elf_errmsg(-1);
  return message != nullptr ? message : "unknown libelf error";
}

std::string HexString(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0xf]);
  }
  return hex;
}

// The NT_GNU_BUILD_ID descriptor in a block of notes, as hex; "" when absent.
std::string BuildIdFromNotes(Elf_Data* data) {
  if (data == nullptr || data->d_buf == nullptr) return "";
  GElf_Nhdr header;
  size_t name_offset = 0;
  size_t desc_offset = 0;
  size_t offset = 0;
  while (offset < data->d_size) {
    const size_t next = gelf_getnote(data, offset, &header, &name_offset, &desc_offset);
    if (next == 0) break;
    const auto* bytes = static_cast<const unsigned char*>(data->d_buf);
    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 && header.n_descsz > 0 &&
        std::memcmp(bytes + name_offset, "GNU", 4) == 0) {
      return HexString(bytes + desc_offset, header.n_descsz);
    }
    offset = next;
  }
  return "";
}

bool IsTextByte(unsigned char c) { return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r'; }

// The printable text at the start of `bytes` up to its NUL terminator; nullopt if too long, unterminated or
// binary.
std::optional<std::string_view> TerminatedText(std::string_view bytes) {
  const size_t limit = std::min(bytes.size(), ElfFile::kMaxStringLength + 1);
  size_t length = 0;
  while (length < limit && bytes[length] != '\0' && IsTextByte(bytes[length])) ++length;
  if (length == limit || bytes[length] != '\0') return std::nullopt;
  return bytes.substr(0, length);
}

// Ranks competing definitions of one name: higher wins, ties keep the first seen.
constexpr int kRankHiddenVersion = 0;  // name@VERSION (non-default) or a hidden .gnu.version entry
constexpr int kRankLocal = 1;
constexpr int kRankGlobal = 2;

}  // namespace

const char* SymbolTableName(SymbolTable table) { return table == SymbolTable::kSymtab ? "symtab" : "dynsym"; }

ElfFile::ElfFile(std::string path, int fd, Elf* elf, const Identity& identity)
    : path_(std::move(path)), fd_(fd), elf_(elf), opened_(identity) {}

ElfFile::~ElfFile() {
  if (elf_ != nullptr) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<ElfFile>> ElfFile::Open(const std::string& path) { return Open(path, path); }

Result<std::unique_ptr<ElfFile>> ElfFile::Open(const std::string& open_path, const std::string& path) {
  if (!LibelfReady()) return Error{"libelf is too old for this program (elf_version failed)"};
  const int fd = open(open_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return Error{path + ": no such file"};
    if (err == EACCES) return Error{path + ": permission denied; run as a user that can read it"};
    return Error{path + ": cannot open: " + std::strerror(err)};
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Error{path + ": not a regular file"};
  }
  if (st.st_size == 0) {
    close(fd);
    return Error{path + ": not an ELF file (empty file)"};
  }
  // ELF_C_READ: libelf reads what it is asked for with pread into memory it owns (ELF_C_READ_MMAP and
  // elf_memory over a mapping would raise SIGBUS if the file were truncated while being read).
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (elf == nullptr) {
    const std::string reason = LibelfError();
    close(fd);
    return Error{path + ": not an ELF file (" + reason + ")"};
  }
  const Identity identity{uint64_t(st.st_size), int64_t(st.st_mtim.tv_sec), int64_t(st.st_mtim.tv_nsec)};
  std::unique_ptr<ElfFile> file(new ElfFile(path, fd, elf, identity));
  if (elf_kind(elf) == ELF_K_AR) return Error{path + ": not an ELF file (an ar archive of object files)"};
  if (elf_kind(elf) != ELF_K_ELF) {
    if (auto changed = file->Changed()) return *changed;
    // libelf calls a file too short for its ELF header no ELF at all.
    const uint64_t header = sizeof(Elf64_Ehdr);
    const auto ident = file->Read(0, std::min<uint64_t>(identity.size, header));
    if (ident && ident->substr(0, SELFMAG) == ELFMAG && identity.size < header) {
      return Error{path + ": truncated: the file has " + std::to_string(identity.size) +
                   " bytes, fewer than an ELF header"};
    }
    return Error{path + ": not an ELF file"};
  }
  auto error = file->Load();
  // Whatever Load found, a file that changed meanwhile is reported as such.
  if (auto changed = file->Changed()) return *changed;
  if (error) return Error{path + ": " + *error};
  return file;
}

std::optional<Error> ElfFile::Changed() const {
  struct stat st {};
  if (fstat(fd_, &st) != 0) return Error{path_ + ": cannot stat while being read: " + std::strerror(errno)};
  const auto size = uint64_t(st.st_size);
  const std::string sizes =
      " (size changed from " + std::to_string(opened_.size) + " to " + std::to_string(size) + ")";
  if (size < opened_.size) return Error{path_ + ": truncated while being read" + sizes};
  if (size > opened_.size) return Error{path_ + ": rewritten while being read" + sizes};
  if (st.st_mtim.tv_sec != opened_.mtime_sec || st.st_mtim.tv_nsec != opened_.mtime_nsec) {
    return Error{path_ + ": rewritten while being read (modified since it was opened)"};
  }
  if (!read_error_.empty()) return Error{path_ + ": " + read_error_};
  return std::nullopt;
}

std::optional<std::string_view> ElfFile::Read(uint64_t offset, uint64_t size) const {
  if (offset > opened_.size || size > opened_.size - offset) return std::nullopt;
  if (size == 0) return std::string_view();
  if (auto it = chunks_.upper_bound(offset); it != chunks_.begin()) {
    --it;
    if (offset - it->first <= it->second.size && size <= it->second.size - (offset - it->first)) {
      return std::string_view(it->second.bytes.get() + (offset - it->first), size);
    }
  }
  // Small reads (the disassembler's windows, string headers) fetch the aligned block around them.
  constexpr uint64_t kBlock = 64 << 10;
  uint64_t start = offset;
  uint64_t end = offset + size;
  if (size < kBlock) {
    start = offset / kBlock * kBlock;
    end = std::min(opened_.size, (end + kBlock - 1) / kBlock * kBlock);
  }
  Chunk chunk{end - start, std::make_unique_for_overwrite<char[]>(end - start)};
  for (uint64_t done = 0; done < chunk.size;) {
    const ssize_t n = pread(fd_, chunk.bytes.get() + done, chunk.size - done, off_t(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      // Past the end as opened only if the file shrank; Changed() tells which.
      if (read_error_.empty()) {
        read_error_ = n < 0 ? std::string("read error: ") + std::strerror(err)
                            : "read error: the file ended at byte " + std::to_string(start + done) +
                                  ", before its size when opened (" + std::to_string(opened_.size) + ")";
      }
      return std::nullopt;
    }
    done += uint64_t(n);
  }
  auto [it, inserted] = chunks_.try_emplace(start);
  if (!inserted) superseded_.push_back(std::move(it->second));  // views into it stay valid
  it->second = std::move(chunk);
  return std::string_view(it->second.bytes.get() + (offset - start), size);
}

namespace {

// "the file has N bytes, but its <what> end at byte M" when [offset, offset + size) runs past `file_size`.
std::optional<std::string> PastTheEnd(uint64_t file_size, const std::string& what, uint64_t offset,
                                      uint64_t size) {
  if (offset <= file_size && size <= file_size - offset) return std::nullopt;
  const uint64_t end = offset + size < offset ? UINT64_MAX : offset + size;
  return "truncated: the file has " + std::to_string(file_size) + " bytes, but its " + what +
         " end at byte " + std::to_string(end);
}

// An unsigned `size`-byte field at `offset` of `bytes` (which holds it).
uint64_t Field(std::string_view bytes, size_t offset, size_t size, bool big_endian) {
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[offset + (big_endian ? i : size - 1 - i)]);
  }
  return value;
}

uint64_t SaturatingProduct(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}

}  // namespace

std::optional<std::string> ElfFile::HeaderTablesPastTheEnd() const {
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf_, &ehdr) == nullptr) return std::nullopt;  // Load reports it
  // The counts as the headers give them: libelf quietly lowers them to what fits in the file.
  uint64_t shnum = ehdr.e_shnum;
  uint64_t phnum = ehdr.e_phnum;
  const bool elf64 = ehdr.e_ident[EI_CLASS] == ELFCLASS64;
  if (ehdr.e_shoff != 0 && (shnum == 0 || phnum == PN_XNUM)) {
    // Extended numbering: counts too large for the ELF header are section header 0's sh_size and sh_info.
    const size_t shdr_size = elf64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    if (auto past = PastTheEnd(opened_.size, "section headers", ehdr.e_shoff, shdr_size)) return past;
    const auto first = Read(ehdr.e_shoff, shdr_size);
    if (!first) return std::nullopt;  // the file changed: Changed() says so
    const bool big = ehdr.e_ident[EI_DATA] == ELFDATA2MSB;
    if (shnum == 0) {
      shnum = elf64 ? Field(*first, offsetof(Elf64_Shdr, sh_size), 8, big)
                    : Field(*first, offsetof(Elf32_Shdr, sh_size), 4, big);
    }
    if (phnum == PN_XNUM) {
      phnum = Field(*first, elf64 ? offsetof(Elf64_Shdr, sh_info) : offsetof(Elf32_Shdr, sh_info), 4, big);
    }
  }
  if (phnum > 0) {
    if (auto past = PastTheEnd(opened_.size, "program headers", ehdr.e_phoff,
                               SaturatingProduct(phnum, ehdr.e_phentsize)))
      return past;
  }
  if (shnum > 0 && ehdr.e_shoff != 0) {
    if (auto past = PastTheEnd(opened_.size, "section headers", ehdr.e_shoff,
                               SaturatingProduct(shnum, ehdr.e_shentsize)))
      return past;
  }
  return std::nullopt;
}

std::optional<std::string> ElfFile::Load() {
  const std::string malformed = "malformed ELF file: ";
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf_, &ehdr) == nullptr) return malformed + "no ELF header: " + LibelfError();
  machine_ = ehdr.e_machine;
  is_position_independent_ = ehdr.e_type == ET_DYN;
  is_x86_64_ = gelf_getclass(elf_) == ELFCLASS64 && ehdr.e_machine == EM_X86_64;
  const uint64_t file_size = opened_.size;

  // Headers that point past the end: a file cut short (a copy or download interrupted), not a malformed one.
  if (auto past = HeaderTablesPastTheEnd()) return past;
  size_t phnum = 0;
  if (elf_getphdrnum(elf_, &phnum) != 0) return malformed + "unreadable program headers: " + LibelfError();

  std::vector<GElf_Phdr> notes;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf_, static_cast<int>(i), &phdr) == nullptr) continue;
    if (phdr.p_type == PT_NULL) continue;
    if (auto past =
            PastTheEnd(file_size, "segment " + std::to_string(i) + "'s bytes", phdr.p_offset, phdr.p_filesz))
      return past;
    if (phdr.p_type == PT_LOAD) {
      segments_.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz, phdr.p_flags});
    } else if (phdr.p_type == PT_NOTE) {
      notes.push_back(phdr);
    }
  }

  size_t shstrndx = 0;
  const bool have_names = elf_getshdrstrndx(elf_, &shstrndx) == 0;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* name = have_names ? elf_strptr(elf_, shstrndx, shdr.sh_name) : nullptr;
    if (shdr.sh_type != SHT_NOBITS && shdr.sh_type != SHT_NULL && shdr.sh_size > 0) {
      const std::string what =
          "section " +
          (name != nullptr && *name != '\0' ? std::string(name) : std::to_string(elf_ndxscn(scn)));
      if (auto past = PastTheEnd(file_size, what + "'s bytes", shdr.sh_offset, shdr.sh_size)) return past;
    }
    if (name != nullptr)
      sections_.push_back(
          {name, shdr.sh_addr, shdr.sh_offset, shdr.sh_type == SHT_NOBITS ? 0 : shdr.sh_size});
    if (shdr.sh_type == SHT_SYMTAB && shdr.sh_size > 0) {
      has_symtab_ = true;
    } else if (shdr.sh_type == SHT_NOTE && build_id_.empty()) {
      build_id_ = BuildIdFromNotes(elf_getdata(scn, nullptr));
    } else if (shdr.sh_type == SHT_PROGBITS && (shdr.sh_flags & SHF_ALLOC) != 0 &&
               (shdr.sh_flags & (SHF_EXECINSTR | SHF_WRITE)) == 0) {
      const Region region{shdr.sh_offset, shdr.sh_size};
      if (name != nullptr && std::strcmp(name, ".rodata") == 0) {
        rodata_.insert(rodata_.begin(), region);
      } else {
        rodata_.push_back(region);
      }
    }
  }

  // Files without section headers (sstrip) still have program headers.
  for (const GElf_Phdr& note : notes) {
    if (!build_id_.empty()) break;
    const Elf_Type type = note.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR;
    build_id_ = BuildIdFromNotes(
        elf_getdata_rawchunk(elf_, static_cast<int64_t>(note.p_offset), note.p_filesz, type));
  }
  if (elf_getscn(elf_, 1) == nullptr) {
    for (const Segment& segment : segments_) {
      if ((segment.flags & (PF_X | PF_W)) == 0) rodata_.push_back({segment.offset, segment.filesz});
    }
  }
  return std::nullopt;
}

void ElfFile::IndexTable(SymbolTable table, SymbolMap& map) const {
  const Elf64_Word wanted = table == SymbolTable::kSymtab ? SHT_SYMTAB : SHT_DYNSYM;
  Elf_Scn* symbols = nullptr;
  Elf_Scn* versions = nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type == wanted && symbols == nullptr) symbols = scn;
    if (shdr.sh_type == SHT_GNU_versym) versions = scn;
  }
  if (symbols == nullptr) return;
  GElf_Shdr shdr;
  if (gelf_getshdr(symbols, &shdr) == nullptr || shdr.sh_entsize == 0) return;
  Elf_Data* data = elf_getdata(symbols, nullptr);
  Elf_Scn* strings_scn = elf_getscn(elf_, shdr.sh_link);
  Elf_Data* strings = strings_scn != nullptr ? elf_getdata(strings_scn, nullptr) : nullptr;
  if (data == nullptr || strings == nullptr || strings->d_buf == nullptr) return;
  const char* names = static_cast<const char*>(strings->d_buf);
  const size_t names_size = strings->d_size;

  // .gnu.version parallels .dynsym; bit 15 marks a hidden (non-default) version.
  const uint16_t* versym = nullptr;
  size_t versym_count = 0;
  if (table == SymbolTable::kDynsym && versions != nullptr) {
    Elf_Data* version_data = elf_getdata(versions, nullptr);
    if (version_data != nullptr && version_data->d_buf != nullptr) {
      versym = static_cast<const uint16_t*>(version_data->d_buf);
      versym_count = version_data->d_size / sizeof(uint16_t);
    }
  }

  // ELFCLASS64 symbols are read in place (gelf_getsym copies and checks each one: 2x slower on big tables).
  const Elf64_Sym* native =
      gelf_getclass(elf_) == ELFCLASS64 && data->d_type == ELF_T_SYM && data->d_buf != nullptr
          ? static_cast<const Elf64_Sym*>(data->d_buf)
          : nullptr;
  const size_t count = std::min<size_t>(shdr.sh_size / shdr.sh_entsize,
                                        native != nullptr ? data->d_size / sizeof(Elf64_Sym) : SIZE_MAX);
  for (size_t i = 1; i < count; ++i) {
    GElf_Sym sym;
    if (native != nullptr) {
      sym = native[i];
    } else if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) {
      break;
    }
    const unsigned type = GELF_ST_TYPE(sym.st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0 ||
        sym.st_name >= names_size) {
      continue;
    }
    const char* start = names + sym.st_name;
    std::string_view name(start, strnlen(start, names_size - sym.st_name));
    int rank = GELF_ST_BIND(sym.st_info) == STB_LOCAL ? kRankLocal : kRankGlobal;
    if (versym != nullptr && i < versym_count && (versym[i] & 0x8000) != 0) rank = kRankHiddenVersion;
    // .symtab spells versions into the name: name@@VERSION is the default, name@VERSION a hidden one.
    if (const size_t at = name.find('@'); at != std::string_view::npos) {
      if (name.substr(at, 2) != "@@") rank = kRankHiddenVersion;
      name = name.substr(0, at);
    }
    if (name.empty()) continue;
    const Candidate candidate{{sym.st_value, sym.st_size, table}, rank};
    auto [it, inserted] = map.try_emplace(name, candidate);
    if (!inserted && rank > it->second.rank) it->second = candidate;
  }
}

const ElfFile::SymbolMap& ElfFile::Index(SymbolTable table) const {
  if (table == SymbolTable::kSymtab) {
    std::call_once(symtab_indexed_, [this] { IndexTable(SymbolTable::kSymtab, symtab_); });
    return symtab_;
  }
  std::call_once(dynsym_indexed_, [this] { IndexTable(SymbolTable::kDynsym, dynsym_); });
  return dynsym_;
}

std::optional<FunctionSymbol> ElfFile::FindFunction(std::string_view name) const {
  for (const SymbolTable table : {SymbolTable::kSymtab, SymbolTable::kDynsym}) {
    const SymbolMap& map = Index(table);
    if (auto it = map.find(name); it != map.end()) return it->second.symbol;
  }
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::FunctionAddress(std::string_view name) const {
  if (auto symbol = FindFunction(name)) return symbol->address;
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::FileOffset(uint64_t vaddr) const {
  for (const Segment& segment : segments_) {
    if (vaddr >= segment.vaddr && vaddr - segment.vaddr < segment.filesz) {
      return segment.offset + (vaddr - segment.vaddr);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::VirtualAddress(uint64_t offset) const {
  for (const Segment& segment : segments_) {
    if (offset >= segment.offset && offset - segment.offset < segment.filesz) {
      return segment.vaddr + (offset - segment.offset);
    }
  }
  return std::nullopt;
}

std::vector<ElfFile::CodeRange> ElfFile::ExecutableRanges() const {
  std::vector<CodeRange> ranges;
  for (const Segment& segment : segments_) {
    if ((segment.flags & PF_X) != 0 && segment.filesz > 0) ranges.push_back({segment.vaddr, segment.filesz});
  }
  return ranges;
}

bool ElfFile::IsExecutableOffset(uint64_t offset) const {
  for (const Segment& segment : segments_) {
    if ((segment.flags & PF_X) != 0 && offset >= segment.offset && offset - segment.offset < segment.filesz) {
      return true;
    }
  }
  return false;
}

template <typename Found>
void ElfFile::ScanStrings(std::string_view prefix, bool whole, Found&& found) const {
  if (prefix.empty()) return;
  for (const Region& region : rodata_) {
    const auto read = Read(region.offset, region.size);
    if (!read) continue;
    const std::string_view bytes = *read;
    for (size_t pos = bytes.find(prefix); pos != std::string_view::npos; pos = bytes.find(prefix, pos + 1)) {
      if (whole && pos > 0 && bytes[pos - 1] != '\0') continue;
      const auto text = TerminatedText(bytes.substr(pos));
      if (!text) continue;
      if (!found(*text, bytes.substr(pos + text->size() + 1))) return;
      pos += text->size();
    }
  }
}

std::vector<std::string> ElfFile::FindStrings(std::string_view prefix, size_t max_results) const {
  std::vector<std::string> strings;
  if (max_results == 0) return strings;
  ScanStrings(prefix, /*whole=*/false, [&](std::string_view text, std::string_view) {
    strings.emplace_back(text);
    return strings.size() < max_results;
  });
  return strings;
}

std::vector<std::string> ElfFile::FindWholeStrings(std::string_view prefix, size_t max_results) const {
  std::vector<std::string> strings;
  if (max_results == 0) return strings;
  ScanStrings(prefix, /*whole=*/true, [&](std::string_view text, std::string_view) {
    strings.emplace_back(text);
    return strings.size() < max_results;
  });
  return strings;
}

std::vector<uint64_t> ElfFile::FindStringAddresses(std::string_view text, size_t max_results) const {
  std::vector<uint64_t> addresses;
  if (text.empty() || max_results == 0) return addresses;
  const std::string terminated = std::string(text) + '\0';
  for (const Region& region : rodata_) {
    const auto read = Read(region.offset, region.size);
    if (!read) continue;
    for (size_t pos = read->find(terminated); pos != std::string_view::npos;
         pos = read->find(terminated, pos + 1)) {
      const auto vaddr = VirtualAddress(region.offset + pos);
      if (!vaddr) continue;  // a section outside every PT_LOAD: no code can load it
      addresses.push_back(*vaddr);
      if (addresses.size() == max_results) return addresses;
    }
  }
  return addresses;
}

std::optional<std::string> ElfFile::StringAfter(std::string_view text) const {
  std::optional<std::string> after;
  ScanStrings(text, /*whole=*/true, [&](std::string_view found, std::string_view next) {
    if (found != text) return true;
    if (auto value = TerminatedText(next)) after = std::string(*value);
    return false;
  });
  return after;
}

std::optional<std::string> ElfFile::FindString(std::string_view prefix) const {
  std::vector<std::string> found = FindStrings(prefix, 1);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::vector<std::string> ElfFile::Needed() const {
  std::vector<std::string> needed;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC || shdr.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) continue;
    const size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr || dyn.d_tag == DT_NULL) break;
      if (dyn.d_tag != DT_NEEDED) continue;
      if (const char* name = elf_strptr(elf_, shdr.sh_link, dyn.d_un.d_val)) needed.emplace_back(name);
    }
  }
  return needed;
}

std::optional<ElfFile::Section> ElfFile::FindSection(std::initializer_list<std::string_view> names) const {
  for (std::string_view name : names) {
    for (const Section& section : sections_) {
      if (section.name == name) return section;
    }
  }
  return std::nullopt;
}

std::string_view ElfFile::Bytes(const Section& section) const {
  return Read(section.offset, section.size).value_or(std::string_view());
}

std::optional<std::string_view> ElfFile::BytesAt(uint64_t vaddr, uint64_t size) const {
  auto offset = FileOffset(vaddr);
  if (!offset) return std::nullopt;
  if (size > 0) {
    // The whole range must lie in one segment's file bytes.
    auto last = FileOffset(vaddr + size - 1);
    if (!last || *last != *offset + size - 1) return std::nullopt;
  }
  return Read(*offset, size);
}

}  // namespace l7tap::symbolizer
