#pragma once
// Start-up checks of every privilege and kernel feature the agent needs (the capabilities of
// agent/required_capabilities.h, BTF, bpf(), BPF map types and helpers, tracefs, RLIMIT_MEMLOCK), so that a
// missing piece is named with its fix instead of surfacing as a generic load or attach failure.
// `l7tap check` prints them all; the agent runs them before loading anything and stops on a missing one.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "agent/config.h"

namespace l7tap::agent {

struct PreflightItem {
  enum class State { kOk, kMissing, kSkipped };
  State state = State::kOk;
  std::string line;  // "ok: ...", "missing ...: why; fix" or "skipped: ..." (no "l7tap: " prefix)
};

// The capabilities in effect: bit N set = capability N (CapEff of /proc/self/status).
uint64_t EffectiveCapabilities();

// Pure part: one line per capability of the list `config` needs, given the effective set.
std::vector<PreflightItem> CheckCapabilities(const Config& config, uint64_t effective);

// Everything: capabilities, then the kernel features (probed only when bpf() may be used).
std::vector<PreflightItem> RunPreflight(const Config& config);

bool AllPassed(const std::vector<PreflightItem>& items);

// `l7tap check [--capabilities] [agent flags]`: prints one line per item; exit 0 only when all pass (2: bad
// usage). --capabilities prints just the names of the capabilities the flags need, one a line.
int RunCheckCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace l7tap::agent
