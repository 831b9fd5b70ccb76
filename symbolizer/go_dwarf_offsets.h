#pragma once
// The Go struct offsets from *crypto/tls.Conn to its socket fd (GoFdOffsets), read from the binary's own
// DWARF with libdw. Go writes its DWARF sections zlib-compressed (SHF_COMPRESSED); libdw inflates them.
#include <optional>

#include "common/result.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"

namespace l7tap::symbolizer {

// The DWARF structure types read, by their Go DWARF names.
inline constexpr const char* kGoTlsConnType = "crypto/tls.Conn";
inline constexpr const char* kGoNetConnType = "net.conn";
inline constexpr const char* kGoNetFdType = "net.netFD";
inline constexpr const char* kGoPollFdType = "internal/poll.FD";
inline constexpr const char* kGoTcpConnType = "net.TCPConn";

// Offsets with source "dwarf": crypto/tls.Conn.conn, net.conn.fd, net.netFD.pfd, internal/poll.FD.Sysfd
// (DW_AT_data_member_location of each DW_TAG_member). net.TCPConn, when described, must embed net.conn at
// offset 0 (that is what makes net.conn.fd the fd's offset in the *net.TCPConn a tls.Conn holds).
//
// nullopt when there is nothing to read: no .debug_info (a -ldflags=-w or stripped build), or DWARF that does
// not describe all four structure types (a binary without crypto/tls or without sockets).
// Errors name the path: DWARF that libdw cannot read, or a described type that lacks one of the members or
// has net.conn elsewhere than offset 0 of net.TCPConn (a Go whose layout these offsets do not fit; no
// version table can be trusted for it either).
Result<std::optional<GoFdOffsets>> ReadGoFdOffsetsFromDwarf(const ElfFile& elf);

}  // namespace l7tap::symbolizer
