// Route label cost per transaction: user patterns matched first, the heuristic templating as fallback.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "protocols/http_route.h"

namespace {

using l7tap::protocols::RouteFor;
using l7tap::protocols::RoutePatterns;
using l7tap::protocols::TemplateRoute;

// n patterns of one REST API, the same length and prefix as the paths: each costs a few segment compares.
RoutePatterns ApiPatterns(int n) {
  std::vector<std::string> texts;
  for (int i = 0; i < n - 1; ++i) texts.push_back("/api/v1/resource" + std::to_string(i) + "/{id}/items");
  texts.push_back("/api/v1/users/{name}/orders");
  auto parsed = RoutePatterns::Parse(texts);
  if (!parsed.ok()) std::abort();
  return std::move(parsed.value());
}

// The last pattern matches: all others are tried first.
void BM_RoutePatternsMatchLast(benchmark::State& state) {
  const RoutePatterns patterns = ApiPatterns(int(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(patterns.Match("/api/v1/users/alice/orders"));
}
BENCHMARK(BM_RoutePatternsMatchLast)->Arg(1)->Arg(10)->Arg(100);

// No pattern matches.
void BM_RoutePatternsMatchNone(benchmark::State& state) {
  const RoutePatterns patterns = ApiPatterns(int(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(patterns.Match("/api/v1/groups/admins/orders"));
}
BENCHMARK(BM_RoutePatternsMatchNone)->Arg(10)->Arg(100);

// What the metrics code calls: the label string included.
void BM_RouteForMatched(benchmark::State& state) {
  const RoutePatterns patterns = ApiPatterns(100);
  for (auto _ : state) benchmark::DoNotOptimize(RouteFor("/api/v1/users/alice/orders?page=2", patterns));
}
BENCHMARK(BM_RouteForMatched);

void BM_RouteForFallback(benchmark::State& state) {
  const RoutePatterns patterns = ApiPatterns(100);
  for (auto _ : state) benchmark::DoNotOptimize(RouteFor("/api/v1/groups/42/orders?page=2", patterns));
}
BENCHMARK(BM_RouteForFallback);

void BM_TemplateRoute(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(TemplateRoute("/repos/octocat/Hello-World/issues/1347/comments?per_page=100"));
}
BENCHMARK(BM_TemplateRoute);

}  // namespace

BENCHMARK_MAIN();
