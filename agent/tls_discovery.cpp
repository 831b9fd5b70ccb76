#include "agent/tls_discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/attach_planner.h"
#include "agent/log.h"
#include "agent/monotonic_clock.h"
#include "agent/process_alive.h"
#include "symbolizer/address_table.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_dwarf_offsets.h"
#include "symbolizer/probe_placement.h"
#include "symbolizer/tls_keylog_hook.h"
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
constexpr std::string_view kDeleted = " (deleted)";

// OpenSSL's (and BoringSSL's) library; not NSS's libssl3.so, a different TLS library.
bool IsLibsslName(std::string_view name) { return name == "libssl.so" || name.starts_with("libssl.so."); }

// Holds a file open while it is inspected and attached: a process (and its /proc entries) may vanish
// meanwhile, the open file stays reachable through /proc/self/fd.
class OpenFile {
 public:
  explicit OpenFile(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)), errno_(errno) {}
  ~OpenFile() {
    if (fd_ >= 0) close(fd_);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  int error() const { return errno_; }
  int fd() const { return fd_; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
  int errno_;
};

// For log lines: the file's own name rather than a /proc link.
std::string Describe(const std::string& path) {
  std::error_code ec;
  auto real = std::filesystem::canonical(path, ec);
  return ec ? path : real.string();
}

}  // namespace

// ", 4.2 ms after exec" while a scan that follows an exec runs.
std::string TlsDiscovery::AfterExec() const {
  if (!exec_ns_) return {};
  const uint64_t now = MonotonicNs();
  char text[48];
  std::snprintf(text, sizeof(text), ", %.1f ms after exec",
                now > exec_ns_ ? double(now - exec_ns_) / 1e6 : 0.0);
  return text;
}

namespace {

std::string Root(uint32_t tgid) { return "/proc/" + std::to_string(tgid) + "/root"; }

const char* EvictionText(Eviction why) {
  return why == Eviction::kFileGone ? "deleted or replaced, and no process known to run it is left"
                                    : "the least recently run of --max-traced-binaries files";
}

}  // namespace

TlsDiscovery::TlsDiscovery(CaptureProbes& probes, const symbolizer::AddressTable* table, uint32_t self_tgid,
                           TableRegistry& tables, ProbePlacement placement, TlsDiscoveryLimits limits,
                           TlsCaptureMode capture)
    : probes_(probes),
      table_(table),
      self_tgid_(self_tgid),
      placement_(placement),
      limits_(limits),
      capture_(capture),
      cache_(tables),
      traced_table_(tables.Add("tls_traced_files", limits.max_traced_files,
                               {Eviction::kLeastRecent, Eviction::kFileGone})),
      inspected_table_(tables.Add("inspected_files", limits.max_inspected_files, {Eviction::kLeastRecent})),
      rescans_table_(tables.Add("pending_rescans", limits.max_pending_rescans, {Eviction::kFull})) {}

TlsDiscovery::~TlsDiscovery() {
  for (auto& [key, t] : traced_)
    if (t.path_fd >= 0) close(t.path_fd);
}

void TlsDiscovery::ScanNode() {
  for (const char* dir : kSystemLibraryDirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (IsLibsslName(entry.path().filename().string()))
        Consider(entry.path().string(), Kind::kLibrary, 0, 0);
    }
  }
  DIR* proc = opendir("/proc");
  if (!proc) return;
  while (dirent* d = readdir(proc)) {
    char* end = nullptr;
    unsigned long tgid = std::strtoul(d->d_name, &end, 10);
    if (end != d->d_name && *end == '\0')
      ScanProcess(uint32_t(tgid), /*executable=*/true, 0, 0, /*learn_all=*/true);
  }
  closedir(proc);
}

void TlsDiscovery::OnExec(uint32_t tgid, const std::string& filename, uint64_t now_ns) {
  if (tgid == self_tgid_) return;
  ScanProcess(tgid, /*executable=*/true, now_ns, now_ns);
  // A short-lived process may be gone already: its binary is still worth attaching for its next run.
  struct stat st {};
  if (stat(("/proc/" + std::to_string(tgid) + "/exe").c_str(), &st) != 0) {
    exec_ns_ = now_ns;
    considering_ = "executable";
    const bool considered = filename.starts_with("/") && Consider(filename, Kind::kExecutable, 0, now_ns);
    exec_ns_ = 0;
    if (!considered) Skip(filename, "vanished", "", /*log=*/false);  // gone before its file could be opened
  }
  for (uint64_t delay : kRescanDelaysNs) {
    if (due_.size() >= limits_.max_pending_rescans) {
      rescans_table_.Evicted(Eviction::kFull);
      break;
    }
    due_.emplace(now_ns + delay, Rescan{tgid, now_ns});
  }
  rescans_table_.set_entries(due_.size());
}

void TlsDiscovery::OnExit(uint32_t tgid) {
  auto it = used_by_.find(tgid);
  if (it == used_by_.end()) return;
  for (const FileKey& key : it->second)
    if (auto t = traced_.find(key); t != traced_.end()) t->second.users.erase(tgid);
  used_by_.erase(it);
}

int TlsDiscovery::RunDue(uint64_t now_ns) {
  processes_followed_.store(used_by_.size(), std::memory_order_relaxed);  // the worker calls this often
  while (!due_.empty() && due_.begin()->first <= now_ns) {
    const Rescan r = due_.begin()->second;
    due_.erase(due_.begin());
    ScanProcess(r.tgid, /*executable=*/false, now_ns, r.exec_ns);
  }
  rescans_table_.set_entries(due_.size());
  if (due_.empty()) return -1;
  return int((due_.begin()->first - now_ns) / 1'000'000) + 1;
}

void TlsDiscovery::OnHold(uint32_t tgid, uint64_t held_ns, uint64_t now_ns) {
  ScanProcess(tgid, /*executable=*/true, now_ns);
  if (holds_) holds_->Release(tgid, held_ns, MonotonicNs());
}

void TlsDiscovery::ScanProcess(uint32_t tgid, bool executable, uint64_t now_ns, uint64_t exec_ns,
                               bool learn_all) {
  if (tgid == self_tgid_) return;
  // Read before the scan: files mapped meanwhile leave the process to be cleared again.
  const std::optional<ProcessHolds::Pending> pending = holds_ ? holds_->Begin(tgid) : std::nullopt;
  std::vector<KernelFileKey> mapped;
  exec_ns_ = exec_ns;
  std::string proc = "/proc/" + std::to_string(tgid);
  considering_ = "executable";
  if (executable) Consider(proc + "/exe", Kind::kExecutable, tgid, now_ns);
  considering_ = "library";
  std::ifstream maps(proc + "/maps");
  std::string line;
  std::set<std::string> done;
  while (std::getline(maps, line)) {
    if (holds_ && (pending || learn_all))
      if (auto k = KernelKeyFromMapsLine(line); k && (mapped.empty() || mapped.back() != *k))
        mapped.push_back(*k);
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    const bool deleted = path.ends_with(kDeleted);
    if (deleted) path.resize(path.size() - kDeleted.size());
    if (!IsLibsslName(std::filesystem::path(path).filename().string()) || !done.insert(path).second) continue;
    if (deleted) {
      // Replaced on disk (an upgrade) while this process still runs the old one: reachable only through the
      // mapping itself.
      const std::string range = line.substr(0, line.find(' '));
      Consider(proc + "/map_files/" + range, Kind::kLibrary, tgid, now_ns, path + std::string(kDeleted));
    } else {
      Consider(Root(tgid) + path, Kind::kLibrary, tgid, now_ns);
    }
  }
  exec_ns_ = 0;
  if (!holds_) return;
  if (pending) {
    holds_->Clear(tgid, *pending, mapped);
  } else if (learn_all) {
    for (const KernelFileKey& k : mapped) holds_->Learn(k);
  }
}

bool TlsDiscovery::Consider(const std::string& given_path, Kind kind, uint32_t user, uint64_t now_ns,
                            const std::string& shown_name) {
  OpenFile file_handle(given_path);
  if (!file_handle.ok()) {
    if (file_handle.error() == EACCES || file_handle.error() == EPERM)
      Skip(
          shown_name.empty() ? given_path : shown_name, "unreadable",
          std::string("cannot open: ") + std::strerror(file_handle.error()) +
              " (reading another process's files takes root with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH over "
              "it; a process in another user namespace, or not dumpable, refuses even root)");
    return false;  // gone (the process exited), or counted
  }
  struct stat st {};
  if (fstat(file_handle.fd(), &st) != 0 || !S_ISREG(st.st_mode)) return true;  // no file
  // Each file once, whoever maps it, through however many overlay mounts (containers of one image).
  auto identity = IdentifyFile(file_handle.fd(), pid_t(user));
  const FileKey key =
      identity ? identity->key : FileKey{FileKey::Kind::kPlain, uint64_t(st.st_dev), uint64_t(st.st_ino)};
  if (auto t = traced_.find(key); t != traced_.end()) {
    t->second.last_run_ns = std::max(t->second.last_run_ns, now_ns);
    if (user) {
      t->second.users.insert(user);
      used_by_[user].insert(key);
    }
    return true;
  }
  if (auto i = inspected_.find(key); i != inspected_.end()) {
    i->second = std::max(i->second, now_ns);
    return true;
  }
  // An executable is shown by its own name rather than /proc/PID/exe; a library keeps the path it was found
  // at (through /proc/PID/root for containers), beside which its libcrypto is looked up.
  const std::string name = !shown_name.empty()         ? shown_name
                           : kind == Kind::kExecutable ? Describe(given_path)
                                                       : given_path;
  // Uprobes go through the lower file itself where that is what the overlay shows.
  identity_ =
      identity && identity->real_fd >= 0 ? std::make_shared<FileIdentity>(std::move(*identity)) : nullptr;
  const std::string path = identity_ ? identity_->RealPath() : file_handle.path();

  auto elf = symbolizer::ElfFile::Open(path, name);
  if (!elf) {
    Skip(name, "unreadable", elf.error(), /*log=*/kind == Kind::kLibrary);
    Inspected(key, now_ns);
    return true;
  }
  const symbolizer::ElfFile& file = **elf;
  // A file with the same build as one inspected before: its decision again, without parsing.
  content_key_ = SymbolizationCache::KeyOf(file, uint64_t(st.st_size));
  if (!content_key_.empty()) {
    if (const CachedInspection* hit = cache_.Find(content_key_)) {
      const CachedInspection c = *hit;  // a copy: Keep may store into the cache
      if (!c.tls) {
        Inspected(key, now_ns);
        return true;
      }
      if (c.library == "Go crypto/tls") considering_ = "go";
      auto attached = probes_.Attach(path, c.plan, name);
      if (!attached) {
        Skip(name, "attach_failed", attached.error());
        Inspected(key, now_ns);
        return true;
      }
      Logf(LogLevel::kInfo,
           "TLS: attached %zu uprobe%s to %s (%s; inspected before under the same build id)%s",
           attached->probes, attached->probes == 1 ? "" : "s", name.c_str(), c.detail.c_str(),
           AfterExec().c_str());
      Keep(key, file_handle.fd(), *attached, name, c.library, c.version, user, now_ns, c.keys);
      return true;
    }
  }
  if (kind == Kind::kExecutable && ConsiderGo(file, file_handle.fd(), path, name, key, user, now_ns))
    return true;
  // A shared libssl's version text lives in the libcrypto beside it.
  std::unique_ptr<symbolizer::ElfFile> libcrypto;
  if (kind == Kind::kLibrary) {
    if (auto beside = symbolizer::SiblingLibcrypto(file)) {
      if (auto c = symbolizer::ElfFile::Open(*beside)) libcrypto = std::move(*c);
    }
  }
  bool has_symbols = file.FunctionAddress("SSL_read").has_value() || file.FunctionAddress("SSL_write");
  if (kind == Kind::kExecutable) {
    // Most executables have no TLS library inside: leave them silently unless they carry OpenSSL.
    bool in_table = table_ && !file.build_id().empty() && table_->Has(file.build_id());
    // Keys mode needs no table: the key-log hook is found from the code (the flavour text says OpenSSL).
    std::optional<symbolizer::TlsFlavour> flavour;
    if (!has_symbols && (capture_ != TlsCaptureMode::kPlaintext || !file.has_symtab()))
      flavour = symbolizer::DetectTlsFlavour(file);
    // An executable linked with a shared libssl (nginx names its OpenSSL in its version text): that library
    // is attached on its own.
    const auto needed = file.Needed();
    const bool shared_libssl = std::any_of(needed.begin(), needed.end(),
                                           [](const std::string& n) { return n.starts_with("libssl"); });
    if (!has_symbols && flavour && !shared_libssl && capture_ != TlsCaptureMode::kPlaintext &&
        file.is_x86_64() &&
        ConsiderKeyLog(file, file_handle.fd(), path, name, key, false, flavour->flavour, flavour->version,
                       user, now_ns))
      return true;
    if (!has_symbols && !in_table) {
      if (!flavour || shared_libssl) cache_.Store(content_key_, CachedInspection{});  // no TLS inside
      if (!file.has_symtab() && flavour && !shared_libssl) {
        Skip(name, "stripped_no_table",
             "OpenSSL is linked in but the binary is stripped and its build-id " + file.build_id() +
                 " is not in --symbol-table; derive an entry with 'l7tap symbols --table' from an unstripped "
                 "build");
      }
      Inspected(key, now_ns);
      return true;
    }
  }
  if (!file.is_x86_64()) {
    Skip(name, "not_x86_64", "not an x86_64 binary");
    Inspected(key, now_ns);
    return true;
  }
  auto lib = symbolizer::InspectTlsLibrary(file, table_, libcrypto.get());
  if (capture_ != TlsCaptureMode::kPlaintext) {
    std::string flavour = lib ? lib->flavour : "OpenSSL", version = lib ? lib->version : "";
    if (!lib) {
      auto f = symbolizer::DetectTlsFlavour(file);
      if (!f && libcrypto) f = symbolizer::DetectTlsFlavour(*libcrypto);
      if (f) flavour = f->flavour, version = f->version;
    }
    if (ConsiderKeyLog(file, file_handle.fd(), path, name, key, false, flavour,
                       version.empty() ? "unknown" : version, user, now_ns))
      return true;
  }
  auto plan = lib ? symbolizer::PlaceTlsProbes(file, lib->offsets, placement_ == ProbePlacement::kOptimized)
                  : Result<symbolizer::TlsPlacement>(Error{lib.error()});
  if (!plan) {
    Skip(name, "no_symbols", plan.error());
    Inspected(key, now_ns);
    return true;
  }
  auto attached = probes_.Attach(path, PlanOpenSslProbes(plan->offsets, plan->single_step), name);
  if (!attached) {
    Skip(name, "attach_failed", attached.error());
    Inspected(key, now_ns);
    return true;
  }
  const std::string detail = lib->flavour + " " + (lib->version.empty() ? "version unknown" : lib->version) +
                             ", functions from " + lib->source;
  Logf(LogLevel::kInfo, "TLS: attached %zu uprobes to %s (%s)%s", attached->probes, name.c_str(),
       detail.c_str(), AfterExec().c_str());
  cache_.Store(content_key_,
               CachedInspection{true, PlanOpenSslProbes(plan->offsets, plan->single_step), lib->flavour,
                                lib->version.empty() ? "unknown" : lib->version, false, detail});
  Keep(key, file_handle.fd(), *attached, name, lib->flavour, lib->version.empty() ? "unknown" : lib->version,
       user, now_ns);
  return true;
}

bool TlsDiscovery::ConsiderGo(const symbolizer::ElfFile& file, int fd, const std::string& path,
                              const std::string& name, const FileKey& key, uint32_t user, uint64_t now_ns) {
  auto build = symbolizer::ReadGoBuildInfo(file);
  if (auto changed = file.Changed()) {  // cut or rewritten while being read: say so rather than "not Go"
    Skip(name, "unreadable", changed->message);
    return true;
  }
  if (!build || !build->is_go) return false;
  considering_ = "go";
  if (!file.is_x86_64()) {
    Skip(name, "not_x86_64",
         "Go binary for another architecture (e_machine " + std::to_string(file.machine()) +
             "); only x86-64 Go binaries are traced");
    Inspected(key, now_ns);
    return true;
  }
  if (symbolizer::IsGoTooOld(*build)) {
    Skip(name, "go_too_old",
         build->version +
             " is older than go1.17: its HTTPS is not traced (the probes read Go's register ABI); "
             "its plain HTTP still is");
    Inspected(key, now_ns);
    return true;
  }
  if (capture_ != TlsCaptureMode::kPlaintext &&
      ConsiderKeyLog(file, fd, path, name, key, true, "Go crypto/tls", build->version, user, now_ns))
    return true;
  // Attach first with the table's offsets (fast), then check them against the binary's DWARF, if any.
  auto go = symbolizer::InspectGoBinary(file, symbolizer::GoOffsetsOrder::kTableFirst);
  if (!go) {
    Skip(name, "no_symbols", go.error());
    Inspected(key, now_ns);
    return true;
  }
  // No crypto/tls linked in: plain HTTP comes from the syscall probes; the binary may still carry OpenSSL
  // (cgo).
  if (go->functions.empty()) return false;
  auto go_plan = PlanGoProbes(*go, placement_);
  auto attached = go_plan ? probes_.Attach(path, *go_plan, name)
                          : Result<CaptureProbes::Attached>(Error{name + ": " + go_plan.error()});
  if (!attached) {
    Skip(name, "attach_failed", attached.error());
    Inspected(key, now_ns);
    return true;
  }
  std::string offsets_source = go->fd_offsets.source;
  std::optional<GoOffsetsPlan> dwarf_offsets;
  if (offsets_source != "dwarf") {
    auto dwarf = symbolizer::ReadGoFdOffsetsFromDwarf(file);
    const symbolizer::GoFdOffsets& t = go->fd_offsets;
    if (!dwarf) {
      Logf(LogLevel::kInfo, "TLS: %s: keeping the %s struct offsets: %s", name.c_str(), t.source.c_str(),
           dwarf.error().c_str());
    } else if (const auto& d = *dwarf; d) {
      if (d->tls_conn_conn != t.tls_conn_conn || d->net_conn_fd != t.net_conn_fd ||
          d->net_fd_pfd != t.net_fd_pfd || d->poll_fd_sysfd != t.poll_fd_sysfd) {
        auto planned = PlanGoOffsets(**dwarf);
        if (planned) dwarf_offsets = *planned;
        if (auto set =
                planned ? probes_.SetGoOffsets(attached->slot, *planned) : Result<Ok>(Error{planned.error()});
            !set) {
          probes_.Detach(attached->id);
          Skip(name, "attach_failed", set.error());
          Inspected(key, now_ns);
          return true;
        }
        Logf(LogLevel::kInfo, "TLS: %s: its DWARF differs from the %s struct offsets; using DWARF",
             name.c_str(), t.source.c_str());
      }
      offsets_source = "dwarf, checked after attaching";
    }
  }
  const std::string detail = "Go " + build->version + " crypto/tls, functions from " +
                             go->functions.front().source + ", fd offsets from " + offsets_source;
  Logf(LogLevel::kInfo, "TLS: attached %zu uprobes to %s (%s)%s", attached->probes, name.c_str(),
       detail.c_str(), AfterExec().c_str());
  // As attached, the offsets DWARF settled included.
  if (dwarf_offsets) go_plan->go_offsets = *dwarf_offsets;
  cache_.Store(content_key_,
               CachedInspection{true, *go_plan, "Go crypto/tls", build->version, false, detail});
  Keep(key, fd, *attached, name, "Go crypto/tls", build->version, user, now_ns);
  return true;
}

bool TlsDiscovery::ConsiderKeyLog(const symbolizer::ElfFile& file, int fd, const std::string& path,
                                  const std::string& name, const FileKey& key, bool go,
                                  const std::string& library, const std::string& version, uint32_t user,
                                  uint64_t now_ns) {
  auto hook = go ? symbolizer::FindGoKeyLogHook(file) : symbolizer::FindOpenSslKeyLogHook(file);
  if (!hook) {
    if (capture_ == TlsCaptureMode::kAuto) return false;  // the plaintext probes instead
    // Go without crypto/tls (plain HTTP only) is no TLS binary at all: not worth a line (the caller finds
    // no crypto/tls either and leaves it).
    if (go) {
      auto inspected = symbolizer::InspectGoBinary(file, symbolizer::GoOffsetsOrder::kTableFirst);
      if (inspected && inspected->functions.empty()) return false;
    }
    Skip(name, "no_keylog_hook", hook.error() + " (--tls-capture=auto traces it with plaintext probes)");
    Inspected(key, now_ns);
    return true;
  }
  const uint8_t kind = hook->kind == symbolizer::KeyLogHookKind::kNssKeylog ? L7TAP_HOOK_NSS_KEYLOG
                       : hook->kind == symbolizer::KeyLogHookKind::kSslLogSecret
                           ? L7TAP_HOOK_SSL_LOG_SECRET
                           : L7TAP_HOOK_GO_WRITE_KEY_LOG;
  auto keylog_plan = PlanKeyLogHook(hook->offset, kind, hook->single_step);
  auto attached = keylog_plan ? probes_.Attach(path, *keylog_plan, name)
                              : Result<CaptureProbes::Attached>(Error{keylog_plan.error()});
  if (!attached) {
    if (capture_ == TlsCaptureMode::kAuto) return false;
    Skip(name, "attach_failed", attached.error());
    Inspected(key, now_ns);
    return true;
  }
  char at[32];
  std::snprintf(at, sizeof(at), "0x%llx", static_cast<unsigned long long>(hook->offset));
  const std::string detail = library + " " + version + ", " + symbolizer::KeyLogHookFunction(hook->kind) +
                             " at " + at + " from " + hook->source;
  Logf(LogLevel::kInfo, "TLS: attached the key-log uprobe to %s (%s)%s", name.c_str(), detail.c_str(),
       AfterExec().c_str());
  cache_.Store(content_key_, CachedInspection{true, *keylog_plan, library, version, true, detail});
  Keep(key, fd, *attached, name, library, version, user, now_ns, /*keys=*/true);
  return true;
}

void TlsDiscovery::Keep(const FileKey& key, int fd, CaptureProbes::Attached attached, const std::string& name,
                        const std::string& library, const std::string& version, uint32_t user,
                        uint64_t now_ns, bool keys) {
  if (traced_.size() >= limits_.max_traced_files) {
    // The least recently run file that no running process is known to use makes room; a file in use
    // stays traced, and the new one is not when every traced file is in use.
    auto oldest = traced_.end();
    for (auto it = traced_.begin(); it != traced_.end(); ++it)
      if (it->second.users.empty() &&
          (oldest == traced_.end() || it->second.last_run_ns < oldest->second.last_run_ns))
        oldest = it;
    if (oldest == traced_.end()) {
      probes_.Detach(attached.id);
      traced_table_.Evicted(Eviction::kFull);
      Skip(name, "attach_failed",
           "every one of the --max-traced-binaries (" + std::to_string(limits_.max_traced_files) +
               ") traced files is in use; raise it to trace this one");
      Inspected(key, now_ns);
      return;
    }
    Detach(oldest, Eviction::kLeastRecent);
  }
  if (exec_ns_) {
    const uint64_t now = MonotonicNs();
    const double seconds = now > exec_ns_ ? double(now - exec_ns_) / 1e9 : 0;
    (considering_ == std::string_view("go")           ? attach_go_
     : considering_ == std::string_view("executable") ? attach_executable_
                                                      : attach_library_)
        .Observe(seconds);
  }
  Traced t{attached.id, name, library, version, keys, now_ns, {}, -1, identity_};
  // An O_PATH descriptor of the very file (not of /proc/self/fd: of what it points to).
  t.path_fd = open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_PATH | O_CLOEXEC);
  if (user) {
    t.users.insert(user);
    used_by_[user].insert(key);
  }
  traced_.emplace(key, std::move(t));
  traced_table_.set_entries(traced_.size());
  std::lock_guard lock(mu_);
  attached_[{library, version, keys}]++;
  files_[key] = {name, considering_, keys ? "keys" : "plaintext", library, version};
}

void TlsDiscovery::Inspected(const FileKey& key, uint64_t now_ns) {
  if (inspected_.size() >= limits_.max_inspected_files) {
    auto oldest = std::min_element(inspected_.begin(), inspected_.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    inspected_.erase(oldest);  // looked at again if it runs again
    inspected_table_.Evicted(Eviction::kLeastRecent);
  }
  inspected_.emplace(key, now_ns);
  inspected_table_.set_entries(inspected_.size());
}

void TlsDiscovery::Detach(std::map<FileKey, Traced>::iterator it, Eviction why) {
  Traced& t = it->second;
  probes_.Detach(t.id);
  if (t.path_fd >= 0) close(t.path_fd);
  for (uint32_t user : t.users) {
    if (auto u = used_by_.find(user); u != used_by_.end()) {
      u->second.erase(it->first);
      if (u->second.empty()) used_by_.erase(u);
    }
  }
  Logf(LogLevel::kInfo, "TLS: detached the uprobes of %s: %s", t.name.c_str(), EvictionText(why));
  traced_table_.Evicted(why);
  if (holds_)
    holds_->Forget(KernelKeyFromStat(dev_t(it->first.dev), ino_t(it->first.ino)));  // inspected anew
  {
    std::lock_guard lock(mu_);
    auto a = attached_.find({t.label, t.version, t.keys});
    if (a != attached_.end() && --a->second == 0) attached_.erase(a);
    files_.erase(it->first);
  }
  traced_.erase(it);
  traced_table_.set_entries(traced_.size());
}

void TlsDiscovery::Sweep(uint64_t now_ns) {
  // Processes that ended without an exit event seen.
  for (auto u = used_by_.begin(); u != used_by_.end();) {
    if (ProcessAlive(u->first)) {
      ++u;
      continue;
    }
    for (const FileKey& key : u->second)
      if (auto t = traced_.find(key); t != traced_.end()) t->second.users.erase(u->first);
    u = used_by_.erase(u);
  }
  for (auto it = traced_.begin(); it != traced_.end();) {
    Traced& t = it->second;
    if (!t.users.empty()) t.last_run_ns = std::max(t.last_run_ns, now_ns);  // a running file is recent
    struct stat st {};
    const bool deleted = t.path_fd >= 0 && fstat(t.path_fd, &st) == 0 && st.st_nlink == 0;
    auto next = std::next(it);
    if (deleted && t.users.empty()) Detach(it, Eviction::kFileGone);
    it = next;
  }
}

void TlsDiscovery::Skip(const std::string& name, const std::string& reason, std::string why, bool log) {
  if (why.starts_with(name + ": ")) why.erase(0, name.size() + 2);  // the line names the file once
  if (log) Logf(LogLevel::kInfo, "TLS: skipping %s: %s", name.c_str(), why.c_str());
  std::lock_guard lock(mu_);
  errors_[reason]++;
}

std::vector<TracedFileInfo> TlsDiscovery::TracedFiles() const {
  std::lock_guard lock(mu_);
  std::vector<TracedFileInfo> out;
  for (const auto& [key, file] : files_) out.push_back(file);
  return out;
}

std::vector<Sample> TlsDiscovery::Samples() const {
  std::lock_guard lock(mu_);
  std::vector<Sample> s;
  for (const auto& [key, files] : attached_)
    s.push_back(
        {"l7tap_tls_libraries_attached",
         "TLS library files with uprobes attached, by library, version and capture (keys: the key-log "
         "hook; plaintext: read/write probes)",
         false,
         {{"library", key.library}, {"version", key.version}, {"capture", key.keys ? "keys" : "plaintext"}},
         double(files)});
  for (Sample& c : cache_.Samples()) s.push_back(std::move(c));
  const char* help =
      "From a process's exec to its TLS uprobes attached, by what was attached (go: a Go binary; "
      "executable: OpenSSL linked into it; library: a shared libssl it maps)";
  s.push_back(attach_go_.ToSample("l7tap_attach_duration_seconds", help, {{"kind", "go"}}));
  s.push_back(attach_executable_.ToSample("l7tap_attach_duration_seconds", help, {{"kind", "executable"}}));
  s.push_back(attach_library_.ToSample("l7tap_attach_duration_seconds", help, {{"kind", "library"}}));
  for (const char* reason : {"no_symbols", "stripped_no_table", "not_x86_64", "go_too_old", "unreadable",
                             "vanished", "attach_failed", "no_keylog_hook"}) {
    auto it = errors_.find(reason);
    s.push_back({"l7tap_attach_errors_total",
                 "Files l7tap could not attach to (skipped, not fatal), by reason",
                 true,
                 {{"reason", reason}},
                 double(it == errors_.end() ? 0 : it->second)});
  }
  return s;
}

}  // namespace l7tap::agent
