#include "symbolizer/go_buildinfo.h"

#include <cstring>
#include <optional>
#include <string_view>

namespace l7tap::symbolizer {
namespace {

// Layout (the Go linker's, see debug/buildinfo): a 32-byte header aligned to 16 bytes,
//   [0,14)  "\xff Go buildinf:"
//   [14]    pointer size (4 or 8)
//   [15]    flags: bit 0 big-endian, bit 1 strings inline (Go >= 1.18)
//   [16]    with inline strings: unused; else the address of the runtime.buildVersion Go string header,
//   [16+p]  then the address of runtime.modinfo's
// With inline strings the header is followed by the version and the module info, each a uvarint length then
// the bytes.
constexpr std::string_view kMagic{"\xff Go buildinf:", 14};
constexpr size_t kHeaderSize = 32;
constexpr size_t kAlign = 16;
constexpr uint8_t kFlagBigEndian = 1;
constexpr uint8_t kFlagInline = 2;
constexpr uint64_t kMaxVersionLength = 256;

uint64_t ReadWord(std::string_view bytes, int size, bool big_endian) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i) {
    const auto byte = static_cast<uint8_t>(bytes[big_endian ? i : size - 1 - i]);
    value = (value << 8) | byte;
  }
  return value;
}

// A uvarint-prefixed string at the start of `bytes`; nullopt if truncated.
std::optional<std::string_view> InlineString(std::string_view bytes) {
  uint64_t length = 0;
  size_t used = 0;
  for (int shift = 0; used < bytes.size() && shift < 64; shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes[used++]);
    length |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      if (length > bytes.size() - used) return std::nullopt;
      return bytes.substr(used, length);
    }
  }
  return std::nullopt;
}

}  // namespace

bool ParseGoVersion(const std::string& version, int& major, int& minor) {
  for (size_t at = version.find("go"); at != std::string::npos; at = version.find("go", at + 1)) {
    size_t i = at + 2;
    auto number = [&](int& out) {
      const size_t start = i;
      out = 0;
      while (i < version.size() && version[i] >= '0' && version[i] <= '9' && i - start < 6) {
        out = out * 10 + (version[i++] - '0');
      }
      return i > start;
    };
    int ma = 0;
    int mi = 0;
    if (!number(ma) || i >= version.size() || version[i] != '.') continue;
    ++i;
    if (!number(mi)) continue;
    major = ma;
    minor = mi;
    return true;
  }
  return false;
}

namespace {

Result<GoBuildInfo> Read(const ElfFile& elf) {
  const ElfFile& image = elf;
  const std::string& path = elf.path();

  // Older linkers put the blob at the start of the writable data instead of its own section.
  auto section = image.FindSection({".go.buildinfo", ".data"});
  if (!section) return Error{path + ": not a Go binary (no .go.buildinfo section)"};
  std::string_view data = image.Bytes(*section);
  size_t at = 0;
  for (;;) {
    at = data.find(kMagic, at);
    if (at == std::string_view::npos || data.size() - at < kHeaderSize) {
      return Error{path + ": not a Go binary (no Go build information)"};
    }
    if ((section->addr + at) % kAlign == 0) break;
    ++at;
  }
  std::string_view header = data.substr(at);

  GoBuildInfo info;
  info.is_go = true;
  info.ptr_size = static_cast<uint8_t>(header[14]);
  const auto flags = static_cast<uint8_t>(header[15]);
  if (info.ptr_size != 4 && info.ptr_size != 8) {
    return Error{path + ": malformed Go build information (pointer size " + std::to_string(info.ptr_size) +
                 ")"};
  }
  std::optional<std::string_view> version;
  if ((flags & kFlagInline) != 0) {
    version = InlineString(header.substr(kHeaderSize));
  } else {
    // The address of a Go string header {data pointer, length}, both words of the target.
    const bool big = (flags & kFlagBigEndian) != 0;
    const uint64_t string_addr = ReadWord(header.substr(16), info.ptr_size, big);
    if (auto string_header = image.BytesAt(string_addr, 2ull * info.ptr_size)) {
      const uint64_t text = ReadWord(*string_header, info.ptr_size, big);
      const uint64_t length = ReadWord(string_header->substr(info.ptr_size), info.ptr_size, big);
      if (length <= kMaxVersionLength) version = image.BytesAt(text, length);
    }
  }
  if (!version || version->empty() || version->size() > kMaxVersionLength) {
    return Error{path + ": malformed Go build information (unreadable Go version)"};
  }
  info.version = std::string(*version);
  ParseGoVersion(info.version, info.major, info.minor);
  return info;
}

}  // namespace

Result<GoBuildInfo> ReadGoBuildInfo(const ElfFile& elf) { return elf.Checked(Read(elf)); }

}  // namespace l7tap::symbolizer
