#include "agent/attach_planner.h"

#include "probes/events.h"
#include "symbolizer/probe_placement.h"

namespace l7tap::agent {

AttachPlan PlanOpenSslProbes(const std::map<std::string, uint64_t>& offsets,
                             const std::set<std::string>& single_step) {
  struct Pair {
    const char* function;
    UprobeProgram entry;
    UprobeProgram exit;
  };
  // The workers take the _ex arguments (ssl, buf, num, &bytes) whichever wrapper called them.
  const Pair pairs[] = {
      {"SSL_read", UprobeProgram::kSslReadEnter, UprobeProgram::kSslDataExit},
      {"SSL_read_ex", UprobeProgram::kSslReadExEnter, UprobeProgram::kSslDataExit},
      {"SSL_write", UprobeProgram::kSslWriteEnter, UprobeProgram::kSslDataExit},
      {"SSL_write_ex", UprobeProgram::kSslWriteExEnter, UprobeProgram::kSslDataExit},
      {symbolizer::kTlsReadWorker, UprobeProgram::kSslReadExEnter, UprobeProgram::kSslDataExit},
      {symbolizer::kTlsWriteWorker, UprobeProgram::kSslWriteExEnter, UprobeProgram::kSslDataExit},
      {"SSL_do_handshake", UprobeProgram::kSslHandshakeEnter, UprobeProgram::kSslHandshakeExit},
  };
  AttachPlan plan;
  for (const Pair& p : pairs) {
    auto it = offsets.find(p.function);
    if (it == offsets.end()) continue;
    const uint64_t cookie = single_step.contains(p.function) ? L7TAP_COOKIE_SINGLE_STEP : 0;
    plan.probes.push_back({p.entry, it->second, cookie, false, p.function});
    plan.probes.push_back({p.exit, it->second, cookie, true, p.function});
  }
  return plan;
}

Result<AttachPlan> PlanKeyLogHook(uint64_t offset, uint8_t hook, bool single_step) {
  const UprobeProgram program = hook == L7TAP_HOOK_NSS_KEYLOG         ? UprobeProgram::kKeyLogNss
                                : hook == L7TAP_HOOK_SSL_LOG_SECRET   ? UprobeProgram::kKeyLogSsl
                                : hook == L7TAP_HOOK_GO_WRITE_KEY_LOG ? UprobeProgram::kKeyLogGo
                                                                      : UprobeProgram::kGoTls;
  if (program == UprobeProgram::kGoTls) return Error{"unknown key-log hook " + std::to_string(hook)};
  AttachPlan plan;
  plan.probes.push_back(
      {program, offset, single_step ? L7TAP_COOKIE_SINGLE_STEP : 0, false, "the key-log hook"});
  return plan;
}

Result<GoOffsetsPlan> PlanGoOffsets(const symbolizer::GoFdOffsets& o) {
  if (o.tls_conn_conn > 0xffff || o.net_conn_fd > 0xffff || o.net_fd_pfd + o.poll_fd_sysfd > 0xffff)
    return Error{"Go struct offsets out of range (" + o.source + ")"};
  return GoOffsetsPlan{uint32_t(o.tls_conn_conn), uint32_t(o.net_conn_fd),
                       uint32_t(o.net_fd_pfd + o.poll_fd_sysfd)};
}

Result<AttachPlan> PlanGoProbes(const symbolizer::GoBinary& binary, ProbePlacement placement) {
  AttachPlan plan;
  auto offsets = PlanGoOffsets(binary.fd_offsets);
  if (!offsets) return Error{offsets.error()};
  plan.go_offsets = *offsets;
  // Write: one probe past the stack check. Read: there, and at every RET. Cookies: probes/events.h.
  const bool optimized = placement == ProbePlacement::kOptimized;
  for (const symbolizer::GoTlsFunction& f : binary.functions) {
    const bool read = f.name.ends_with(".Read");
    if (read && f.return_offsets.empty()) return Error{f.name + " has no RET instruction to probe"};
    plan.probes.push_back(
        {UprobeProgram::kGoTls, optimized ? f.probe_offset : f.body_offset,
         (uint64_t(read ? L7TAP_GO_PROBE_READ_ENTER : L7TAP_GO_PROBE_WRITE) << L7TAP_COOKIE_GO_PROBE_SHIFT) |
             ((optimized ? f.probe_emulated : f.body_emulated) ? 0 : L7TAP_COOKIE_SINGLE_STEP),
         false, f.name});
    if (!read) continue;
    for (uint64_t offset : f.return_offsets)  // RET: always single-stepped
      plan.probes.push_back(
          {UprobeProgram::kGoTls, offset,
           (uint64_t(L7TAP_GO_PROBE_READ_RETURN) << L7TAP_COOKIE_GO_PROBE_SHIFT) | L7TAP_COOKIE_SINGLE_STEP,
           false, f.name + " RET"});
  }
  return plan;
}

}  // namespace l7tap::agent
