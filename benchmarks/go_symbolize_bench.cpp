// Symbolizing a large Go binary (issue goal: <= 50 ms, <= 30 MB extra peak RSS): open the ELF file, read the
// build info, index the pclntab, find crypto/tls.(*Conn).Read/Write and their RETs. The binary is
// fixtures/go's go_fixture_big target (benchmarks/run.sh builds it); its size is reported as a counter.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_pclntab.h"

namespace {

using l7tap::symbolizer::ElfFile;

long PeakRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Extra peak RSS of the first symbolization in this process (later ones reuse freed memory and mapped pages,
// so only the first says what an agent pays once per binary).
double FirstRunPeakRssExtraMib(const char* path) {
  static const double extra = [path] {
    const long before = PeakRssKib();
    if (auto elf = ElfFile::Open(path))
      benchmark::DoNotOptimize(l7tap::symbolizer::InspectGoBinary(**elf).ok());
    return static_cast<double>(PeakRssKib() - before) / 1024.0;
  }();
  return extra;
}

template <bool kPclntabOnly>
void BM_GoSymbolize(benchmark::State& state) {
  const char* path = L7TAP_GO_BIG_FIXTURE;
  struct stat st {};
  if (path[0] == '\0' || stat(path, &st) != 0) {
    state.SkipWithError("no large Go binary: build the go_fixture_big target (make bench does)");
    return;
  }
  const double rss_extra_mib = FirstRunPeakRssExtraMib(path);
  for (auto _ : state) {
    auto elf = ElfFile::Open(path);
    if (!elf) {
      state.SkipWithError(elf.error().c_str());
      return;
    }
    if constexpr (kPclntabOnly) {
      auto table = l7tap::symbolizer::GoPclntab::Read(**elf);
      if (!table) {
        state.SkipWithError(table.error().c_str());
        return;
      }
      benchmark::DoNotOptimize((*table)->Find("crypto/tls.(*Conn).Read"));
    } else {
      auto binary = l7tap::symbolizer::InspectGoBinary(**elf);
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

// Everything `l7tap symbols` does for Go (symtab path: the binary has symbols).
BENCHMARK(BM_GoSymbolize<false>)->Name("BM_GoSymbolizeInspect")->Unit(benchmark::kMillisecond);
// The stripped-binary path alone: pclntab read and name index.
BENCHMARK(BM_GoSymbolize<true>)->Name("BM_GoSymbolizePclntab")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
