#pragma once
// Read-only view of one ELF file through libelf: build-id, function symbols, file offsets of virtual
// addresses (what uprobes attach to), strings in read-only data, DT_NEEDED. A pure function of the file.
//
// The file is read with pread only, never through a mapping: a file truncated under a mapping raises SIGBUS
// on the next access (l7tap inspects every executable on the node, as root), and the kernel writes uprobe
// breakpoints into private mappings of probed files. pread reads the page cache, which is never patched.
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

struct Elf;  // libelf's handle; <libelf.h> stays out of this header.

namespace l7tap::symbolizer {

// Which symbol table a function symbol came from.
enum class SymbolTable { kSymtab, kDynsym };
const char* SymbolTableName(SymbolTable table);  // "symtab" / "dynsym"

struct FunctionSymbol {
  uint64_t address = 0;  // st_value: a virtual address in the file's own address space
  uint64_t size = 0;     // st_size
  SymbolTable table = SymbolTable::kSymtab;
};

// Immutable once opened. Not for concurrent use from several threads (libelf is built without its thread
// safety): give each thread its own ElfFile.
class ElfFile {
 public:
  // Errors name the path: missing, unreadable, not a regular file, not ELF, truncated (shorter than its
  // headers say, or truncated while being read), malformed.
  static Result<std::unique_ptr<ElfFile>> Open(const std::string& path);
  // Opens `path` (e.g. an open descriptor's /proc/self/fd/N) but knows the file as `name`: path() and every
  // message use `name`, and files beside it are looked up next to `name`.
  static Result<std::unique_ptr<ElfFile>> Open(const std::string& path, const std::string& name);

  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& path() const { return path_; }
  // Lowercase hex of the NT_GNU_BUILD_ID note; "" when the file has none.
  const std::string& build_id() const { return build_id_; }
  bool is_x86_64() const { return is_x86_64_; }
  bool has_symtab() const { return has_symtab_; }
  uint16_t machine() const { return machine_; }  // e_machine, for error messages
  // ET_DYN (a shared library or PIE): code reaches data only PC-relatively, never by absolute address.
  bool is_position_independent() const { return is_position_independent_; }
  // libelf's handle on the open file, for libraries that read it through libelf (libdw's dwarf_begin_elf), so
  // they read the very file opened here, without a mapping. Valid as long as this ElfFile.
  Elf* handle() const { return elf_; }

  // nullopt while the file is as Open found it (size, modification time) and every read got its bytes;
  // otherwise the error to report instead of anything computed from it: "<path>: truncated while being read
  // (size changed from N to M)", "<path>: rewritten while being read (...)", "<path>: read error: ...".
  // Checked() applies it to a result; the inspections (InspectTlsLibrary, InspectGoBinary, ReadGoBuildInfo,
  // GoPclntab::Read, ReadGoFdOffsetsFromDwarf, PlaceTlsProbes) return their results through it.
  std::optional<Error> Changed() const;
  template <typename T>
  Result<T> Checked(Result<T> result) const {
    if (auto changed = Changed()) return *changed;
    return result;
  }

  // A defined function (STT_FUNC or STT_GNU_IFUNC, st_shndx != SHN_UNDEF, st_value != 0), looked up in
  // .symtab and then in .dynsym. Versioned names resolve by their bare name ("SSL_read" finds
  // SSL_read@@OPENSSL_3.0.0); default versions win over hidden (non-default) ones and global symbols over
  // local ones.
  std::optional<FunctionSymbol> FindFunction(std::string_view name) const;
  std::optional<uint64_t> FunctionAddress(std::string_view name) const;

  // File offset of a virtual address through the PT_LOAD segments:
  // vaddr in [p_vaddr, p_vaddr + p_filesz) -> p_offset + (vaddr - p_vaddr).
  std::optional<uint64_t> FileOffset(uint64_t vaddr) const;
  // The inverse: virtual address of a file offset inside a PT_LOAD segment's file bytes.
  std::optional<uint64_t> VirtualAddress(uint64_t offset) const;
  // True if `offset` lies in the file bytes of an executable PT_LOAD segment.
  bool IsExecutableOffset(uint64_t offset) const;

  // Text from the first occurrence of `prefix` in read-only data (.rodata first, then every other SHF_ALLOC,
  // non-executable, non-writable PROGBITS section; the read-only non-executable PT_LOAD segments when the
  // file has no section headers) up to its terminating NUL, if that text is printable and at most
  // kMaxStringLength bytes long. The occurrence need not start a string: linkers merge a string into the tail
  // of a longer one.
  std::optional<std::string> FindString(std::string_view prefix) const;
  // Every such string, in file order, at most `max_results`.
  std::vector<std::string> FindStrings(std::string_view prefix, size_t max_results) const;
  // Like FindStrings, but only occurrences that start a string (at the start of a section or after a NUL).
  std::vector<std::string> FindWholeStrings(std::string_view prefix, size_t max_results) const;
  // Virtual addresses of the occurrences of `text` followed by a NUL, in file order, at most `max_results`:
  // where code loads that string from (a merged tail of a longer string counts).
  std::vector<uint64_t> FindStringAddresses(std::string_view text, size_t max_results) const;
  // The string stored right after the first whole string equal to `text` (a key and its value, when a
  // compiler lays them out together), if it is printable and terminated.
  std::optional<std::string> StringAfter(std::string_view text) const;
  static constexpr size_t kMaxStringLength = 512;

  // DT_NEEDED entries, in order.
  std::vector<std::string> Needed() const;

  struct Section {
    std::string name;
    uint64_t addr = 0;    // sh_addr
    uint64_t offset = 0;  // sh_offset
    uint64_t size = 0;    // file bytes (0 for SHT_NOBITS)
  };
  // The first section named one of `names`, in the order given.
  std::optional<Section> FindSection(std::initializer_list<std::string_view> names) const;
  // A section's file bytes (empty when out of the file or unreadable). Read once, then cached: valid as long
  // as this ElfFile.
  std::string_view Bytes(const Section& section) const;
  // `size` file bytes at virtual address `vaddr`, within one PT_LOAD segment; nullopt otherwise (or when
  // unreadable). Cached like Bytes.
  std::optional<std::string_view> BytesAt(uint64_t vaddr, uint64_t size) const;

  // The file bytes of each executable PT_LOAD segment, in program header order: all the code there is, with
  // or without section headers.
  struct CodeRange {
    uint64_t vaddr = 0;
    uint64_t size = 0;
  };
  std::vector<CodeRange> ExecutableRanges() const;

 private:
  struct Segment {
    uint64_t vaddr, offset, filesz;
    uint32_t flags;
  };
  struct Region {  // file bytes searched by FindString
    uint64_t offset, size;
  };
  struct Candidate {
    FunctionSymbol symbol;
    int rank;
  };
  // Names point into the string tables libelf read, which live as long as elf_.
  using SymbolMap = std::unordered_map<std::string_view, Candidate>;
  struct Chunk {  // file bytes read into memory
    uint64_t size;
    std::unique_ptr<char[]> bytes;
  };
  struct Identity {  // what fstat says; compared before and after reading
    uint64_t size;
    int64_t mtime_sec, mtime_nsec;
  };

  ElfFile(std::string path, int fd, Elf* elf, const Identity& identity);
  // Reads headers, notes; on failure returns "truncated: ..." or "malformed ELF file: ...".
  std::optional<std::string> Load();
  // "truncated: ..." when the program or section header table runs past the end of the file.
  std::optional<std::string> HeaderTablesPastTheEnd() const;
  // File bytes [offset, offset + size), from the cache or read with pread (nullopt past the end as opened,
  // or when the read comes up short, which Changed() then reports).
  std::optional<std::string_view> Read(uint64_t offset, uint64_t size) const;
  const SymbolMap& Index(SymbolTable table) const;  // built on first use, once per table
  // Calls `found(text, next)` for each printable, terminated string from an occurrence of `prefix` (only
  // those starting a string when `whole`); `next` is the region's bytes after the terminating NUL. Stops when
  // `found` returns false.
  template <typename Found>
  void ScanStrings(std::string_view prefix, bool whole, Found&& found) const;
  void IndexTable(SymbolTable table, SymbolMap& map) const;

  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;  // reads with pread (ELF_C_READ); what it reads it owns until elf_end
  Identity opened_;     // the file as Open found it

  // Read file bytes by start offset. A range inside a cached chunk is served from it; small reads fetch a
  // whole aligned block, so the disassembler's many small windows cost one read per block.
  mutable std::map<uint64_t, Chunk> chunks_;
  mutable std::vector<Chunk> superseded_;  // chunks replaced in chunks_ by a longer one: views still use them
  mutable std::string read_error_;         // the first failed read, for Changed()

  std::string build_id_;
  bool is_x86_64_ = false;
  bool has_symtab_ = false;
  bool is_position_independent_ = false;
  uint16_t machine_ = 0;
  std::vector<Segment> segments_;
  std::vector<Region> rodata_;
  std::vector<Section> sections_;

  mutable std::once_flag symtab_indexed_;
  mutable std::once_flag dynsym_indexed_;
  mutable SymbolMap symtab_;
  mutable SymbolMap dynsym_;
};

}  // namespace l7tap::symbolizer
