// Eviction strategies head to head: get hit and set cost of TinyLfuPolicy vs LruPolicy.
// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_keys.hpp"
#include "paired.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/tinylfu_policy.hpp"

namespace {
using ttlcache_bench::percentile;

using namespace std::chrono_literals;
using ttlcache::bench::key_count;
using ttlcache::bench::keys;
using ttlcache::bench::run_trace;
using ttlcache::bench::trace;
using ttlcache::bench::trace_length;
using ttlcache::bench::value_for;

// One full backend per strategy (every key fits: gets are hits, sets overwrite).
template <class Policy>
ttlcache::MemoryBackend<std::string, std::string, Policy>& backend() {
  static ttlcache::MemoryBackend<std::string, std::string, Policy> b{[] {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = key_count;
    return o;
  }()};
  static const bool filled = [] {
    for (std::size_t i = 0; i < key_count; ++i) b.set(keys()[i], value_for(i), 1h);
    return true;
  }();
  (void)filled;
  return b;
}

template <class Policy>
void BM_GetHit(benchmark::State& state) {
  auto& b = backend<Policy>();
  run_trace(state, [&](const std::string& k) { benchmark::DoNotOptimize(b.get(k)); });
}

template <class Policy>
void BM_Set(benchmark::State& state) {
  auto& b = backend<Policy>();
  run_trace(state, [&](const std::string& k) { b.set(k, std::string("new"), 1h); });
}

// Timings are CPU time (the default): the machine is shared, so wall time would count waits.
// A write-heavy mix with misses: 90% gets over twice the capacity's keys, a set on every miss,
// so the strategy's eviction and admission work is on the measured path.
template <class Policy>
void BM_ChurnMix(benchmark::State& state) {
  static ttlcache::MemoryBackend<std::string, std::string, Policy> b{[] {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = key_count / 2;
    return o;
  }()};
  run_trace(state, [&](const std::string& k) {
    if (!b.get(k)) b.set(k, std::string("v"), 1h);
  });
}

// `batch` get hits along trace() in each of `threads` threads at once; CPU ns per get.
template <class Policy>
double get_batch(std::size_t batch, int threads, std::vector<std::size_t>& cursors) {
  auto& b = backend<Policy>();
  const auto work = [&b, batch](std::size_t& i) {
    const auto& t = trace();
    const double start = ttlcache_bench::thread_cpu_ns();
    for (std::size_t n = 0; n < batch; ++n, ++i) {
      benchmark::DoNotOptimize(b.get(keys()[t[i & (trace_length - 1)]]));
    }
    return ttlcache_bench::thread_cpu_ns() - start;
  };
  return ttlcache_bench::cpu_ns_per_op(work, batch, threads, cursors);
}

// Paired get hit: one iteration runs the same batch of gets on the LRU and the TinyLFU backend
// back to back, in alternating order, so machine noise (other builds on the shared cores) hits
// both halves of a pair alike. Counters: `ratio` = median over pairs of TinyLFU / LRU CPU time
// (p10, p90: its spread), `lru_ns` / `tinylfu_ns` = median CPU ns per get. The two backends are
// separate instances (their node layouts differ), filled the same way.
void BM_PairedGetHit(benchmark::State& state) {
  constexpr std::size_t batch = 20000;
  const auto threads = static_cast<int>(state.range(0));
  std::vector<std::size_t> cursors(static_cast<std::size_t>(threads));
  for (std::size_t t = 0; t < cursors.size(); ++t) cursors[t] = t * (trace_length / 8);
  get_batch<ttlcache::LruPolicy>(batch, threads, cursors);  // warm-up, untimed
  get_batch<ttlcache::TinyLfuPolicy>(batch, threads, cursors);
  std::vector<double> lru;
  std::vector<double> tiny;
  std::vector<double> ratios;
  bool tiny_first = false;
  for (auto _ : state) {
    double l = 0;
    double t = 0;
    if (tiny_first) {
      t = get_batch<ttlcache::TinyLfuPolicy>(batch, threads, cursors);
      l = get_batch<ttlcache::LruPolicy>(batch, threads, cursors);
    } else {
      l = get_batch<ttlcache::LruPolicy>(batch, threads, cursors);
      t = get_batch<ttlcache::TinyLfuPolicy>(batch, threads, cursors);
    }
    tiny_first = !tiny_first;
    lru.push_back(l);
    tiny.push_back(t);
    ratios.push_back(t / l);
    state.SetIterationTime((l + t) * static_cast<double>(batch) * 1e-9);
  }
  state.counters["ratio"] = percentile(ratios, 0.5);
  state.counters["p10"] = percentile(ratios, 0.1);
  state.counters["p90"] = percentile(ratios, 0.9);
  state.counters["lru_ns"] = percentile(lru, 0.5);
  state.counters["tinylfu_ns"] = percentile(tiny, 0.5);
}

}  // namespace

BENCHMARK(BM_PairedGetHit)->ArgName("threads")->Arg(1)->Arg(2)->Iterations(101)->UseManualTime();
BENCHMARK_TEMPLATE(BM_GetHit, ttlcache::LruPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_GetHit, ttlcache::TinyLfuPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_Set, ttlcache::LruPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_Set, ttlcache::TinyLfuPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_ChurnMix, ttlcache::LruPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_ChurnMix, ttlcache::TinyLfuPolicy)->Threads(1)->Threads(2);

BENCHMARK_MAIN();
