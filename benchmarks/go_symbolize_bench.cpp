// Symbolizing a large Go binary (goal: <= 50 ms, <= 30 MB extra peak RSS): open the ELF file, read the
// build info, index the pclntab, find crypto/tls.(*Conn).Read/Write, their RETs and probe points, and the
// struct offsets: from the built-in table (what the agent does before attaching) or from DWARF (what
// `l7tap symbols` does, and what the agent checks after attaching). The binary is
// fixtures/go's go_fixture_big target (benchmarks/run.sh builds it); its size is reported as a counter.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_pclntab.h"

namespace {

using l7tap::symbolizer::ElfFile;
using l7tap::symbolizer::GoOffsetsOrder;

enum class Mode { kAttach, kDwarf, kPclntab };

long PeakRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Extra peak RSS of the first symbolization of each kind in this process (later ones reuse freed memory and
// mapped pages, so only the first says what an agent pays once per binary). Peak RSS is a high-water mark:
// the DWARF mode, measured after the attach mode, reports what it adds on top of it.
template <Mode kMode>
double FirstRunPeakRssExtraMib(const char* path) {
  static const double extra = [path] {
    const long before = PeakRssKib();
    if (auto elf = ElfFile::Open(path)) {
      const auto order = kMode == Mode::kDwarf ? GoOffsetsOrder::kDwarfFirst : GoOffsetsOrder::kTableFirst;
      benchmark::DoNotOptimize(l7tap::symbolizer::InspectGoBinary(**elf, order).ok());
    }
    return static_cast<double>(PeakRssKib() - before) / 1024.0;
  }();
  return extra;
}

template <Mode kMode>
void BM_GoSymbolize(benchmark::State& state) {
  const char* path = L7TAP_GO_BIG_FIXTURE;
  struct stat st {};
  if (path[0] == '\0' || stat(path, &st) != 0) {
    state.SkipWithError("no large Go binary: build the go_fixture_big target (make bench does)");
    return;
  }
  const double rss_extra_mib = FirstRunPeakRssExtraMib<kMode>(path);
  for (auto _ : state) {
    auto elf = ElfFile::Open(path);
    if (!elf) {
      state.SkipWithError(elf.error().c_str());
      return;
    }
    if constexpr (kMode == Mode::kPclntab) {
      auto table = l7tap::symbolizer::GoPclntab::Read(**elf);
      if (!table) {
        state.SkipWithError(table.error().c_str());
        return;
      }
      benchmark::DoNotOptimize((*table)->Find("crypto/tls.(*Conn).Read"));
    } else {
      auto binary = l7tap::symbolizer::InspectGoBinary(
          **elf, kMode == Mode::kDwarf ? GoOffsetsOrder::kDwarfFirst : GoOffsetsOrder::kTableFirst);
      if (!binary || binary->functions.size() != 2) {
        state.SkipWithError(binary ? "crypto/tls functions missing" : binary.error().c_str());
        return;
      }
      benchmark::DoNotOptimize(binary->functions.data());
    }
  }
  state.counters["file_mb"] = static_cast<double>(st.st_size) / 1e6;
  state.counters["first_run_peak_rss_extra_mib"] = rss_extra_mib;
}

// What the agent does before attaching a Go binary (struct offsets from the table).
BENCHMARK(BM_GoSymbolize<Mode::kAttach>)->Name("BM_GoSymbolizeForAttach")->Unit(benchmark::kMillisecond);
// Everything `l7tap symbols` does for Go, DWARF included (the agent's check after attaching costs the same).
BENCHMARK(BM_GoSymbolize<Mode::kDwarf>)->Name("BM_GoSymbolizeWithDwarf")->Unit(benchmark::kMillisecond);
// The stripped-binary path alone: pclntab read and name index.
BENCHMARK(BM_GoSymbolize<Mode::kPclntab>)->Name("BM_GoSymbolizePclntab")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
