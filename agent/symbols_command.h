#pragma once
// `l7tap symbols PATH [--table] [--symbol-table FILE]`: what the symbolizer finds in one file, without root
// or BPF. Prints "key: value" lines (stable, for grep); with --table only the address-table lines for the
// file's build, ready to redirect into a file for --symbol-table.
#include <iosfwd>
#include <string>
#include <vector>

namespace l7tap::agent {

// `args` are the words after "symbols". Exit status: 0 usable, 1 nothing to attach to (reason on stderr),
// 2 bad usage.
int RunSymbolsCommand(const std::vector<std::string>& args);
int RunSymbolsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

std::string SymbolsUsage();

}  // namespace l7tap::agent
