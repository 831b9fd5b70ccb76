#include "agent/tls_discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "symbolizer/address_table.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_dwarf_offsets.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/tls_library.h"

namespace l7tap::agent {
namespace {

constexpr const char* kSystemLibraryDirs[] = {"/usr/lib/x86_64-linux-gnu",
                                              "/lib/x86_64-linux-gnu",
                                              "/usr/lib64",
                                              "/lib64",
                                              "/usr/lib",
                                              "/usr/local/lib"};
// After exec, the dynamic loader maps libraries within milliseconds; later dlopen()s are caught by the
// last rescan.
constexpr uint64_t kRescanDelaysNs[] = {20'000'000, 250'000'000, 2'000'000'000};

// OpenSSL's (and BoringSSL's) library; not NSS's libssl3.so, a different TLS library.
bool IsLibsslName(std::string_view name) { return name == "libssl.so" || name.starts_with("libssl.so."); }

// Holds a file open while it is inspected and attached: a process (and its /proc entries) may vanish
// meanwhile, the open file stays reachable through /proc/self/fd.
class OpenFile {
 public:
  explicit OpenFile(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~OpenFile() {
    if (fd_ >= 0) close(fd_);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// For log lines: the file's own name rather than a /proc link.
std::string Describe(const std::string& path) {
  std::error_code ec;
  auto real = std::filesystem::canonical(path, ec);
  return ec ? path : real.string();
}

std::string Root(uint32_t tgid) { return "/proc/" + std::to_string(tgid) + "/root"; }

}  // namespace

TlsDiscovery::TlsDiscovery(CaptureProbes& probes, const symbolizer::AddressTable* table, uint32_t self_tgid,
                           ProbePlacement placement)
    : probes_(probes), table_(table), self_tgid_(self_tgid), placement_(placement) {}

void TlsDiscovery::ScanNode() {
  for (const char* dir : kSystemLibraryDirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (IsLibsslName(entry.path().filename().string())) Consider(entry.path().string(), Kind::kLibrary);
    }
  }
  DIR* proc = opendir("/proc");
  if (!proc) return;
  while (dirent* d = readdir(proc)) {
    char* end = nullptr;
    unsigned long tgid = std::strtoul(d->d_name, &end, 10);
    if (end != d->d_name && *end == '\0') ScanProcess(uint32_t(tgid), /*executable=*/true);
  }
  closedir(proc);
}

void TlsDiscovery::OnExec(uint32_t tgid, const std::string& filename, uint64_t now_ns) {
  if (tgid == self_tgid_) return;
  ScanProcess(tgid, /*executable=*/true);
  // A short-lived process may be gone already: its binary is still worth attaching for its next run.
  struct stat st {};
  if (filename.starts_with("/") && stat(("/proc/" + std::to_string(tgid) + "/exe").c_str(), &st) != 0)
    Consider(filename, Kind::kExecutable);
  for (uint64_t delay : kRescanDelaysNs) due_.emplace(now_ns + delay, tgid);
}

int TlsDiscovery::RunDue(uint64_t now_ns) {
  while (!due_.empty() && due_.begin()->first <= now_ns) {
    uint32_t tgid = due_.begin()->second;
    due_.erase(due_.begin());
    ScanProcess(tgid, /*executable=*/false);
  }
  if (due_.empty()) return -1;
  return int((due_.begin()->first - now_ns) / 1'000'000) + 1;
}

void TlsDiscovery::ScanProcess(uint32_t tgid, bool executable) {
  if (tgid == self_tgid_) return;
  std::string proc = "/proc/" + std::to_string(tgid);
  if (executable) Consider(proc + "/exe", Kind::kExecutable);
  std::ifstream maps(proc + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos || line.ends_with(" (deleted)")) continue;
    std::string path = line.substr(slash);
    if (IsLibsslName(std::filesystem::path(path).filename().string()))
      Consider(Root(tgid) + path, Kind::kLibrary);
  }
}

void TlsDiscovery::Consider(const std::string& given_path, Kind kind) {
  OpenFile file_handle(given_path);
  struct stat st {};
  if (!file_handle.ok() || fstat(file_handle.fd(), &st) != 0 || !S_ISREG(st.st_mode))
    return;                                                 // gone, or no file
  if (!seen_.emplace(st.st_dev, st.st_ino).second) return;  // each file once, whoever maps it
  // An executable is shown by its own name rather than /proc/PID/exe; a library keeps the path it was found
  // at (through /proc/PID/root for containers), beside which its libcrypto is looked up.
  const std::string name = kind == Kind::kExecutable ? Describe(given_path) : given_path;
  const std::string path = file_handle.path();

  auto elf = symbolizer::ElfFile::Open(path, name);
  if (!elf) {
    if (kind == Kind::kLibrary) Skip(name, "unreadable", elf.error());
    return;
  }
  const symbolizer::ElfFile& file = **elf;
  if (kind == Kind::kExecutable && ConsiderGo(file, path, name)) return;
  if (kind == Kind::kExecutable) {
    // Most executables have no TLS library inside: leave them silently unless they carry OpenSSL.
    bool has_symbols = file.FunctionAddress("SSL_read").has_value() || file.FunctionAddress("SSL_write");
    bool in_table = table_ && !file.build_id().empty() && table_->Has(file.build_id());
    if (!has_symbols && !in_table) {
      if (!file.has_symtab() && symbolizer::DetectTlsFlavour(file)) {
        Skip(name, "stripped_no_table",
             "OpenSSL is linked in but the binary is stripped and its build-id " + file.build_id() +
                 " is not in --symbol-table; derive an entry with 'l7tap symbols --table' from an unstripped "
                 "build");
      }
      return;
    }
  }
  if (!file.is_x86_64()) {
    Skip(name, "not_x86_64", "not an x86_64 binary");
    return;
  }
  // A shared libssl's version text lives in the libcrypto beside it.
  std::unique_ptr<symbolizer::ElfFile> libcrypto;
  if (auto beside = symbolizer::SiblingLibcrypto(file)) {
    if (auto c = symbolizer::ElfFile::Open(*beside)) libcrypto = std::move(*c);
  }
  auto lib = symbolizer::InspectTlsLibrary(file, table_, libcrypto.get());
  if (!lib) {
    Skip(name, "no_symbols", lib.error());
    return;
  }
  auto plan = symbolizer::PlaceTlsProbes(file, lib->offsets, placement_ == ProbePlacement::kOptimized);
  if (!plan) {
    Skip(name, "no_symbols", plan.error());
    return;
  }
  auto attached = probes_.AttachTls(path, plan->offsets, name, plan->single_step);
  if (!attached) {
    Skip(name, "attach_failed", attached.error());
    return;
  }
  std::fprintf(stderr, "l7tap: TLS: attached %zu uprobes to %s (%s %s, functions from %s)\n", *attached,
               name.c_str(), lib->flavour.c_str(),
               lib->version.empty() ? "version unknown" : lib->version.c_str(), lib->source.c_str());
  std::lock_guard lock(mu_);
  attached_[{lib->flavour, lib->version.empty() ? "unknown" : lib->version}]++;
  probes_attached_ += *attached;
}

bool TlsDiscovery::ConsiderGo(const symbolizer::ElfFile& file, const std::string& path,
                              const std::string& name) {
  auto build = symbolizer::ReadGoBuildInfo(file);
  if (auto changed = file.Changed()) {  // cut or rewritten while being read: say so rather than "not Go"
    Skip(name, "unreadable", changed->message);
    return true;
  }
  if (!build || !build->is_go) return false;
  if (!file.is_x86_64()) {
    Skip(name, "not_x86_64",
         "Go binary for another architecture (e_machine " + std::to_string(file.machine()) +
             "); only x86-64 Go binaries are traced");
    return true;
  }
  if (symbolizer::IsGoTooOld(*build)) {
    Skip(name, "go_too_old",
         build->version +
             " is older than go1.17: its HTTPS is not traced (the probes read Go's register ABI); "
             "its plain HTTP still is");
    return true;
  }
  // Attach first with the table's offsets (fast), then check them against the binary's DWARF, if any.
  auto go = symbolizer::InspectGoBinary(file, symbolizer::GoOffsetsOrder::kTableFirst);
  if (!go) {
    Skip(name, "no_symbols", go.error());
    return true;
  }
  // No crypto/tls linked in: plain HTTP comes from the syscall probes; the binary may still carry OpenSSL
  // (cgo).
  if (go->functions.empty()) return false;
  auto attached = probes_.AttachGo(path, *go, placement_, name);
  if (!attached) {
    Skip(name, "attach_failed", attached.error());
    return true;
  }
  std::string offsets_source = go->fd_offsets.source;
  if (offsets_source != "dwarf") {
    auto dwarf = symbolizer::ReadGoFdOffsetsFromDwarf(file);
    const symbolizer::GoFdOffsets& t = go->fd_offsets;
    if (!dwarf) {
      std::fprintf(stderr, "l7tap: TLS: %s: keeping the %s struct offsets: %s\n", name.c_str(),
                   t.source.c_str(), dwarf.error().c_str());
    } else if (const auto& d = *dwarf; d) {
      if (d->tls_conn_conn != t.tls_conn_conn || d->net_conn_fd != t.net_conn_fd ||
          d->net_fd_pfd != t.net_fd_pfd || d->poll_fd_sysfd != t.poll_fd_sysfd) {
        if (auto set = probes_.SetGoOffsets(attached->slot, **dwarf); !set) {
          Skip(name, "attach_failed", set.error());
          return true;
        }
        std::fprintf(stderr, "l7tap: TLS: %s: its DWARF differs from the %s struct offsets; using DWARF\n",
                     name.c_str(), t.source.c_str());
      }
      offsets_source = "dwarf, checked after attaching";
    }
  }
  std::fprintf(
      stderr,
      "l7tap: TLS: attached %zu uprobes to %s (Go %s crypto/tls, functions from %s, fd offsets from %s)\n",
      attached->probes, name.c_str(), build->version.c_str(), go->functions.front().source.c_str(),
      offsets_source.c_str());
  std::lock_guard lock(mu_);
  attached_[{"Go crypto/tls", build->version}]++;
  probes_attached_ += attached->probes;
  return true;
}

void TlsDiscovery::Skip(const std::string& name, const std::string& reason, std::string why) {
  if (why.starts_with(name + ": ")) why.erase(0, name.size() + 2);  // the line names the file once
  std::fprintf(stderr, "l7tap: TLS: skipping %s: %s\n", name.c_str(), why.c_str());
  std::lock_guard lock(mu_);
  errors_[reason]++;
}

std::vector<Sample> TlsDiscovery::Samples() const {
  std::lock_guard lock(mu_);
  std::vector<Sample> s;
  for (const auto& [key, files] : attached_)
    s.push_back({"l7tap_tls_libraries_attached",
                 "TLS library files with uprobes attached, by library and version",
                 false,
                 {{"library", key.first}, {"version", key.second}},
                 double(files)});
  for (const char* reason :
       {"no_symbols", "stripped_no_table", "not_x86_64", "go_too_old", "unreadable", "attach_failed"}) {
    auto it = errors_.find(reason);
    s.push_back({"l7tap_attach_errors_total",
                 "Files l7tap could not attach to (skipped, not fatal), by reason",
                 true,
                 {{"reason", reason}},
                 double(it == errors_.end() ? 0 : it->second)});
  }
  s.push_back(
      {"l7tap_tls_probes_attached", "TLS library uprobes attached", false, {}, double(probes_attached_)});
  return s;
}

}  // namespace l7tap::agent
