// The cost of statistics, paired: statistics off vs on over one shared backend, alternating.
// SPDX-License-Identifier: MIT
//
// Why paired: an earlier version timed three separately built caches and gave contradictory
// results ("on" faster than "off" on a quiet machine), because each cache's memory placement
// differed and moved the result by more than a counter costs. Here three Cache facades
// (statistics off, on, and on with in-process backend timing) share ONE MemoryBackend: the
// entries, their placement and the hash table are the same for every side, and only the
// recording differs.
//
// BM_paired/<workload>/<side>/<threads>: one iteration is one pair: a batch of operations
// through the "off" facade and the same batch through <side>, back to back, in alternating
// order. Machine noise (other builds on the 2 shared cores) hits both halves of a pair alike.
// Counters: `ratio` is the median over the pairs of side time / off time, `p10`/`p90` its
// spread, `off_ns`/`side_ns` the median CPU ns per operation. Times are the threads' CPU time
// (CLOCK_THREAD_CPUTIME_ID): time spent preempted is not counted. Run with
//   bench_stats --benchmark_filter=paired --benchmark_repetitions=3
//
// BM_get_hit/<side> etc. time each facade on its own (kept for scripts/bench's summary).
//
// Instruction counts, which machine load does not move: `bench_stats --only off|on|timed OPS`
// runs OPS get hits on one side and nothing else; under `valgrind --tool=callgrind`, the
// difference between two values of OPS divided by their difference is one get hit's cost.
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "paired.hpp"
#include "ttlcache/metrics_export.hpp"
#include "ttlcache/ttlcache.hpp"

namespace {
using ttlcache_bench::percentile;

using namespace std::chrono_literals;
using Key = std::uint64_t;
using IntCache = ttlcache::Cache<Key, Key>;

constexpr Key key_count = 1 << 14;
constexpr std::size_t pair_batch = 20000;  // operations per side per pair (and per thread)
constexpr int pair_count = 101;            // pairs per benchmark run

enum Side : int { off = 0, on = 1, timed = 2 };
enum Workload : int { get_hit = 0, get_miss = 1, get_or_load_hit = 2 };

// Three facades over one backend, built once.
IntCache& cache(int side) {
  static const auto backend = [] {
    ttlcache::MemoryOptions<Key, Key> memory;
    memory.max_entries = 2 * key_count;
    auto b = std::make_shared<ttlcache::MemoryBackend<Key, Key>>(memory);
    for (Key k = 0; k < key_count; ++k) b->set(k, k, 1h);
    return b;
  }();
  static const auto make = [](int s) {
    ttlcache::CacheOptions options;
    options.name = s == off ? "bench_off" : s == on ? "bench_on" : "bench_timed";
    options.stats.enabled = s != off;
    if (s == timed) options.stats.time_backend_calls = ttlcache::BackendTiming::always;
    return std::make_unique<IntCache>(backend, options);
  };
  static const std::unique_ptr<IntCache> caches[3] = {make(off), make(on), make(timed)};
  return *caches[side];
}

// One operation; `k` is the calling thread's cursor. Hits walk the resident keys with an odd
// stride (spreads over shards); misses walk as many absent keys; get_or_load hits never load.
inline void operate(IntCache& c, int workload, Key& k) {
  k = (k + 40503) & (key_count - 1);
  switch (workload) {
    case get_hit:
      benchmark::DoNotOptimize(c.get(k));
      break;
    case get_miss:
      benchmark::DoNotOptimize(c.get(key_count + k));
      break;
    default:
      benchmark::DoNotOptimize(c.get_or_load(
          k, [](Key key) { return key; }, 1h));
      break;
  }
}

// `batch` operations in each of `threads` threads at once; CPU ns per operation.
double run_batch(IntCache& c, int workload, std::size_t batch, int threads,
                 std::vector<Key>& cursors) {
  const auto work = [&c, workload, batch](Key& k) {
    const double start = ttlcache_bench::thread_cpu_ns();
    for (std::size_t i = 0; i < batch; ++i) operate(c, workload, k);
    return ttlcache_bench::thread_cpu_ns() - start;
  };
  return ttlcache_bench::cpu_ns_per_op(work, batch, threads, cursors);
}

void BM_paired(benchmark::State& state) {
  const auto workload = static_cast<int>(state.range(0));
  const auto side = static_cast<int>(state.range(1));
  const auto threads = static_cast<int>(state.range(2));
  std::vector<Key> cursors(static_cast<std::size_t>(threads));
  for (std::size_t t = 0; t < cursors.size(); ++t) cursors[t] = t * 7919;
  // Warm-up, untimed: thread-local counter stripes, code and data into the caches.
  run_batch(cache(off), workload, pair_batch, threads, cursors);
  run_batch(cache(side), workload, pair_batch, threads, cursors);
  std::vector<double> off_ns;
  std::vector<double> side_ns;
  std::vector<double> ratios;
  bool side_first = false;
  for (auto _ : state) {
    double t_off = 0;
    double t_side = 0;
    if (side_first) {
      t_side = run_batch(cache(side), workload, pair_batch, threads, cursors);
      t_off = run_batch(cache(off), workload, pair_batch, threads, cursors);
    } else {
      t_off = run_batch(cache(off), workload, pair_batch, threads, cursors);
      t_side = run_batch(cache(side), workload, pair_batch, threads, cursors);
    }
    side_first = !side_first;
    off_ns.push_back(t_off);
    side_ns.push_back(t_side);
    ratios.push_back(t_side / t_off);
    state.SetIterationTime((t_off + t_side) * static_cast<double>(pair_batch) * 1e-9);
  }
  state.counters["ratio"] = percentile(ratios, 0.5);
  state.counters["p10"] = percentile(ratios, 0.1);
  state.counters["p90"] = percentile(ratios, 0.9);
  state.counters["off_ns"] = percentile(off_ns, 0.5);
  state.counters["side_ns"] = percentile(side_ns, 0.5);
}

// Unpaired, one facade at a time (what scripts/bench's summary reads).
void BM_get_hit(benchmark::State& state) {
  IntCache& c = cache(static_cast<int>(state.range(0)));
  Key k = static_cast<Key>(state.thread_index()) * 7919;
  for (auto _ : state) operate(c, get_hit, k);
  state.SetItemsProcessed(state.iterations());
}

void BM_snapshot_and_export(benchmark::State& state) {
  IntCache& c = cache(on);
  for (auto _ : state) benchmark::DoNotOptimize(ttlcache::to_prometheus(c.stats()));
}

void paired_args(benchmark::internal::Benchmark* b) {
  for (const int threads : {1, 2}) {
    b->Args({get_hit, on, threads});
    b->Args({get_hit, timed, threads});
    b->Args({get_miss, on, threads});
    b->Args({get_or_load_hit, on, threads});
  }
  b->ArgNames({"workload", "side", "threads"});
}

}  // namespace

BENCHMARK(BM_paired)->Apply(paired_args)->Iterations(pair_count)->UseManualTime();
BENCHMARK(BM_get_hit)->Arg(off)->Arg(on)->Arg(timed)->Threads(1)->Threads(2);
BENCHMARK(BM_snapshot_and_export);

int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "--only") {
    const std::string_view name = argv[2];
    const int side = name == "off" ? off : name == "on" ? on : name == "timed" ? timed : -1;
    const std::size_t ops = std::strtoul(argv[3], nullptr, 10);
    if (side < 0 || ops == 0) {
      std::fprintf(stderr, "usage: bench_stats --only off|on|timed OPS\n");
      return 2;
    }
    std::vector<Key> cursors(1);
    run_batch(cache(side), get_hit, ops, 1, cursors);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
