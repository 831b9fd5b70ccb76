#pragma once
// From what the symbolizer found in a file to what the loader attaches (attach_plan.h). Pure functions.
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "agent/attach_plan.h"
#include "agent/config.h"
#include "common/result.h"
#include "symbolizer/go_binary.h"

namespace l7tap::agent {

// OpenSSL read/write probes: an entry probe and a uretprobe per function found (SSL_read, SSL_read_ex,
// SSL_write, SSL_write_ex, the internal workers, SSL_do_handshake). `single_step`: functions whose probed
// instruction the kernel single-steps.
AttachPlan PlanOpenSslProbes(const std::map<std::string, uint64_t>& offsets,
                             const std::set<std::string>& single_step);
// One key-log hook (enum l7tap_keylog_hook).
Result<AttachPlan> PlanKeyLogHook(uint64_t offset, uint8_t hook, bool single_step);
// Go crypto/tls: (*Conn).Write past its stack check, (*Conn).Read there and at every RET.
Result<AttachPlan> PlanGoProbes(const symbolizer::GoBinary& binary, ProbePlacement placement);
// The struct offsets as the probes read them (checked to fit).
Result<GoOffsetsPlan> PlanGoOffsets(const symbolizer::GoFdOffsets& offsets);

}  // namespace l7tap::agent
