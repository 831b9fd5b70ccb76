#include "agent/symbols_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "symbolizer/address_table.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/tls_keylog_hook.h"
#include "symbolizer/tls_library.h"

namespace l7tap::agent {
namespace {

using symbolizer::AddressTable;
using symbolizer::ElfFile;

struct SymbolsArgs {
  std::string path;
  bool table_only = false;
  std::string symbol_table;
  bool help = false;
};

Result<SymbolsArgs> ParseSymbolsArgs(const std::vector<std::string>& args) {
  SymbolsArgs parsed;
  CLI::App app("", "l7tap symbols");
  app.set_help_flag();  // SymbolsUsage() is the help
  app.add_flag("-h,--help", parsed.help);
  app.add_flag("--table", parsed.table_only);
  app.add_option("--symbol-table", parsed.symbol_table);
  app.add_option("PATH", parsed.path);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
    app.parse(reversed);
  } catch (const CLI::Error& e) {
    return Error{e.what()};
  }
  if (parsed.path.empty() && !parsed.help) return Error{"missing PATH"};
  return parsed;
}

std::string Hex(uint64_t value) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

std::string Joined(const std::vector<std::string>& words) {
  if (words.empty()) return "none";
  std::string joined;
  for (const std::string& word : words) joined += (joined.empty() ? "" : " ") + word;
  return joined;
}

// Source names as single words, so every function line splits into the same four fields.
std::string SourceWord(std::string source) {
  for (char& c : source) {
    if (c == ' ') c = '-';
  }
  return source;
}

// "'push r13' emulated": the instruction under the probe and whether the kernel emulates it.
std::string Placement(const symbolizer::Instruction& at) {
  return "'" + at.text + "' " + (at.emulated ? "emulated" : "single-step");
}

// The key-log hook, on one line, then the registers its arguments are in; a reason when there is none. It
// does not decide the exit status: the agent's probes do not use it yet.
void PrintKeyLogHook(const Result<symbolizer::KeyLogHook>& hook, std::ostream& out) {
  if (!hook) {
    out << "keylog: none (" << hook.error() << ")\n";
    return;
  }
  const symbolizer::KeyLogHook& found = hook.value();
  out << "keylog: " << symbolizer::KeyLogHookFunction(found.kind) << " " << Hex(found.offset) << " "
      << found.source << " " << Placement({0, found.instruction, !found.single_step});
  if (found.thunk_offset) out << " (tail-called by ssl_log_secret at " << Hex(*found.thunk_offset) << ")";
  out << "\n";
  out << "keylog-registers: " << symbolizer::KeyLogHookRegisters(found.kind) << "\n";
}

}  // namespace

std::string SymbolsUsage() {
  return "usage: l7tap symbols PATH [--table] [--symbol-table FILE]\n"
         "  Shows where l7tap would attach in PATH (a libssl, a statically linked binary): build-id, "
         "symbols,\n"
         "  TLS library flavour and version, the file offset of each SSL function, and the key-log hook\n"
         "  (the one function that sees every TLS secret of a handshake) with its argument registers.\n"
         "  --table               print only address-table lines for PATH's build (redirect into a file)\n"
         "  --symbol-table FILE   resolve a stripped PATH through an address table made with --table\n";
}

int RunSymbolsCommand(const std::vector<std::string>& args) {
  return RunSymbolsCommand(args, std::cout, std::cerr);
}

int RunSymbolsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = ParseSymbolsArgs(args);
  if (!parsed) {
    err << "l7tap symbols: " << parsed.error() << "\n" << SymbolsUsage();
    return 2;
  }
  if (parsed->help) {
    out << SymbolsUsage();
    return 0;
  }

  std::optional<AddressTable> table;
  if (!parsed->symbol_table.empty()) {
    auto loaded = AddressTable::Load(parsed->symbol_table);
    if (!loaded) {
      err << "l7tap symbols: " << loaded.error() << "\n";
      return 1;
    }
    table = std::move(*loaded);
  }

  auto opened = ElfFile::Open(parsed->path);
  if (!opened) {
    err << "l7tap symbols: " << opened.error() << "\n";
    return 1;
  }
  const ElfFile& elf = **opened;

  // A shared libssl keeps its version text in the libcrypto beside it.
  std::unique_ptr<ElfFile> libcrypto;
  if (auto sibling = symbolizer::SiblingLibcrypto(elf)) {
    if (auto crypto = ElfFile::Open(*sibling)) libcrypto = std::move(*crypto);
  }
  auto tls = symbolizer::InspectTlsLibrary(elf, table ? &*table : nullptr, libcrypto.get());

  if (parsed->table_only) {
    if (!tls) {
      err << "l7tap symbols: " << tls.error() << "\n";
      return 1;
    }
    if (tls->build_id.empty()) {
      err << "l7tap symbols: " << elf.path() << ": no GNU build-id, so an address table cannot name it\n";
      return 1;
    }
    out << AddressTable::FormatEntry(tls->build_id, tls->offsets);
    return 0;
  }

  out << "path: " << elf.path() << "\n";
  out << "build-id: " << (elf.build_id().empty() ? "none" : elf.build_id()) << "\n";
  out << "x86_64: " << (elf.is_x86_64() ? "yes" : "no") << "\n";
  out << "symtab: " << (elf.has_symtab() ? "yes" : "no") << "\n";
  out << "needed: " << Joined(elf.Needed()) << "\n";
  if (libcrypto) out << "libcrypto: " << libcrypto->path() << "\n";

  bool usable = false;
  if (tls) {
    usable = true;
    out << "tls: " << tls->flavour << (tls->version.empty() ? "" : " " + tls->version) << "\n";
    for (const char* function : symbolizer::kTlsFunctions) {
      auto it = tls->offsets.find(function);
      if (it == tls->offsets.end()) continue;
      out << "function: " << function << " " << Hex(it->second) << " " << SourceWord(tls->source) << "\n";
    }
    // Where the probes go (--probe-placement=optimized), and what the kernel does there.
    if (auto plan = symbolizer::PlaceTlsProbes(elf, tls->offsets, /*optimized=*/true)) {
      for (const auto& [function, offset] : plan->offsets) {
        const symbolizer::Instruction& at = plan->at.at(function);
        out << "placement: " << function << " " << Hex(offset) << " " << Placement(at) << " ("
            << plan->reason.at(function) << ")\n";
      }
    } else {
      out << "placement: none (" << plan.error() << ")\n";
    }
  } else {
    out << "tls: none\n";
  }

  // Go: version, then crypto/tls.(*Conn).Read/Write entry, RET and probe file offsets, then the struct
  // offsets from a *tls.Conn to its socket fd and where they came from.
  std::string go_reason;
  bool go_binary = false;
  if (auto go = symbolizer::InspectGoBinary(elf)) {
    go_binary = true;
    out << "go: " << go->build.version << "\n";
    for (const auto& function : go->functions) {
      out << "function: " << function.name << " " << Hex(function.offset) << " " << function.source << "\n";
      std::string returns;
      for (uint64_t offset : function.return_offsets) returns += (returns.empty() ? "" : ",") + Hex(offset);
      out << "returns: " << function.name << " " << (returns.empty() ? "none" : returns) << "\n";
      out << "placement: " << function.name << " " << Hex(function.probe_offset) << " "
          << Placement({0, function.probe_instruction, function.probe_emulated})
          << (function.probe_offset == function.offset ? " (entry: no stack check)\n"
                                                       : " (past the stack check)\n");
      // Past the stack-growth check (which morestack re-runs): where --probe-placement=entry puts the probe.
      out << "probe: " << function.name << " " << Hex(function.body_offset)
          << (function.body_offset != function.offset ? " past-stack-check" : " entry") << "\n";
    }
    if (!go->functions.empty()) {
      const symbolizer::GoFdOffsets& fd = go->fd_offsets;
      out << "fd offsets: tls.Conn.conn=" << Hex(fd.tls_conn_conn) << " net.conn.fd=" << Hex(fd.net_conn_fd)
          << " netFD.pfd=" << Hex(fd.net_fd_pfd) << " poll.FD.Sysfd=" << Hex(fd.poll_fd_sysfd) << " ("
          << fd.source << ")\n";
    }
    if (go->functions.size() == std::size(symbolizer::kGoTlsFunctions)) {
      usable = true;
    } else {
      go_reason = elf.path() + ": Go binary without crypto/tls.(*Conn).Read/Write (no HTTPS to trace)";
    }
  } else if (go.error().find("not a Go binary") == std::string::npos) {
    go_binary = true;
    go_reason = go.error();
  }
  PrintKeyLogHook(go_binary ? symbolizer::FindGoKeyLogHook(elf) : symbolizer::FindOpenSslKeyLogHook(elf),
                  out);

  if (!usable) {
    // A Go binary's reason is Go's; anything else's is the TLS library's.
    err << "l7tap symbols: " << (go_reason.empty() ? tls.error() : go_reason) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace l7tap::agent
