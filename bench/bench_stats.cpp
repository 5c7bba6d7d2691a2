// The cost of statistics: the same cache operations with statistics off, on, and with timing on.
// SPDX-License-Identifier: MIT
//
// Baseline and contestants run in one binary, so they share the machine's state. Run with
//   --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true
//   --benchmark_report_aggregates_only=true
// and compare CPU-time medians (the machine is shared, so wall time is noisier).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "ttlcache/metrics_export.hpp"
#include "ttlcache/ttlcache.hpp"

namespace {

using namespace std::chrono_literals;
using IntCache = ttlcache::Cache<std::uint64_t, std::uint64_t>;

constexpr std::uint64_t key_count = 1 << 14;

enum Mode : int { stats_off = 0, stats_on = 1, stats_timed = 2 };

// One cache per mode, built once and shared by every thread of a benchmark (what a service does).
IntCache& cache_for(int mode) {
  static auto make = [](int m) {
    ttlcache::MemoryOptions<std::uint64_t, std::uint64_t> memory;
    memory.max_entries = 2 * key_count;
    ttlcache::CacheOptions options;
    options.name = "bench" + std::to_string(m);
    options.stats.enabled = m != stats_off;
    if (m == stats_timed) options.stats.time_backend_calls = ttlcache::BackendTiming::always;
    auto cache = std::make_unique<IntCache>(memory, options);
    for (std::uint64_t k = 0; k < key_count; ++k) cache->set(k, k, 1h);
    return cache;
  };
  static std::unique_ptr<IntCache> caches[3] = {make(0), make(1), make(2)};
  return *caches[mode];
}

const char* mode_name(int mode) {
  switch (mode) {
    case stats_off:
      return "stats_off";
    case stats_on:
      return "stats_on";
    default:
      return "stats_on_timed";
  }
}

void BM_get_hit(benchmark::State& state) {
  IntCache& cache = cache_for(static_cast<int>(state.range(0)));
  state.SetLabel(mode_name(static_cast<int>(state.range(0))));
  // Each thread walks the keys from its own offset with an odd stride (spreads over shards).
  std::uint64_t k = static_cast<std::uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    k = (k + 40503) & (key_count - 1);
    benchmark::DoNotOptimize(cache.get(k));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_get_miss(benchmark::State& state) {
  IntCache& cache = cache_for(static_cast<int>(state.range(0)));
  state.SetLabel(mode_name(static_cast<int>(state.range(0))));
  std::uint64_t k = key_count + static_cast<std::uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    k = key_count + ((k + 40503) & (key_count - 1));
    benchmark::DoNotOptimize(cache.get(k));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_get_or_load_hit(benchmark::State& state) {
  IntCache& cache = cache_for(static_cast<int>(state.range(0)));
  state.SetLabel(mode_name(static_cast<int>(state.range(0))));
  std::uint64_t k = static_cast<std::uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    k = (k + 40503) & (key_count - 1);
    benchmark::DoNotOptimize(cache.get_or_load(
        k, [](std::uint64_t key) { return key; }, 1h));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_snapshot_and_export(benchmark::State& state) {
  IntCache& cache = cache_for(stats_on);
  for (auto _ : state) benchmark::DoNotOptimize(ttlcache::to_prometheus(cache.stats()));
}

}  // namespace

BENCHMARK(BM_get_hit)->Arg(stats_off)->Arg(stats_on)->Arg(stats_timed)->Threads(1)->Threads(2);
BENCHMARK(BM_get_miss)->Arg(stats_off)->Arg(stats_on)->Threads(1)->Threads(2);
BENCHMARK(BM_get_or_load_hit)->Arg(stats_off)->Arg(stats_on)->Threads(1);
BENCHMARK(BM_snapshot_and_export);

BENCHMARK_MAIN();
