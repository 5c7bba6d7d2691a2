// Eviction strategies head to head: get hit and set cost of TinyLfuPolicy vs LruPolicy.
// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_keys.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/tinylfu_policy.hpp"

namespace {

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

}  // namespace

BENCHMARK_TEMPLATE(BM_GetHit, ttlcache::LruPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_GetHit, ttlcache::TinyLfuPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_Set, ttlcache::LruPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_Set, ttlcache::TinyLfuPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_ChurnMix, ttlcache::LruPolicy)->Threads(1)->Threads(2);
BENCHMARK_TEMPLATE(BM_ChurnMix, ttlcache::TinyLfuPolicy)->Threads(1)->Threads(2);

BENCHMARK_MAIN();
