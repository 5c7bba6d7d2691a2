// Near-cache hit (TieredBackend kept coherent by CLIENT TRACKING) vs in-process hit vs Redis get.
// SPDX-License-Identifier: MIT
//
// Needs a running Redis; its address comes from --redis-url=URL or TTLCACHE_BENCH_REDIS_URL
// (redis://host:port/db, standalone). For example:
//
//   redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes
//   TTLCACHE_BENCH_REDIS_URL=redis://127.0.0.1:16379/0 build/default/bench/bench_near_cache
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
//   redis-cli -p 16379 shutdown nosave
//
// Three Cache<std::string, std::string> objects, each get() a hit on one of 1000 keys of 100
// bytes, keys taken in turn:
//   BM_Get/in_process   Cache over a MemoryBackend (the baseline);
//   BM_Get/near         Cache over make_tracked_backend (keys_read mode), every key in L1;
//   BM_Get/redis        Cache over the RedisStore alone: one round trip per get.
// Compare real time; the ratios near/in_process and redis/near are the figures.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ttlcache/redis.hpp"
#include "ttlcache/ttlcache.hpp"

namespace {

using namespace std::chrono_literals;
using StringCache = ttlcache::Cache<std::string, std::string>;

constexpr int key_count = 1000;
std::string g_url;  // set once in main, before any benchmark runs

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    for (int i = 0; i < key_count; ++i) out.push_back("k" + std::to_string(i));
    return out;
  }();
  return k;
}

const std::string& value() {
  static const std::string v(100, 'v');
  return v;
}

std::shared_ptr<ttlcache::redis::RedisStore> store() {
  static const auto s = [] {
    auto options = ttlcache::redis::RedisOptions::from_url(g_url);
    options.key_namespace = "benchnear";
    return std::make_shared<ttlcache::redis::RedisStore>(options);
  }();
  return s;
}

StringCache& in_process() {
  static StringCache c{[] {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = 4 * key_count;  // room to spare: every get is a hit
    return o;
  }()};
  return c;
}

// Held for the process's life: the bus thread must outlive every benchmark.
ttlcache::redis::NearCache<std::string, std::string>& near_parts() {
  static auto parts = [] {
    ttlcache::TieredOptions tiered;
    tiered.l1_max_ttl = 1h;  // tracking keeps L1 coherent; no L1 expiry during the run
    ttlcache::MemoryOptions<std::string, std::string> l1;
    l1.max_entries = 4 * key_count;
    return ttlcache::redis::make_tracked_backend<std::string, std::string>(
        store(), {ttlcache::redis::TrackingMode::keys_read, 1000ms}, tiered, l1);
  }();
  return parts;
}

StringCache& near() {
  static StringCache c{near_parts().backend};
  return c;
}

StringCache& remote() {
  static StringCache c{ttlcache::redis::make_backend<std::string, std::string>(store())};
  return c;
}

void populate() {
  for (const auto& k : keys()) {
    in_process().set(k, value(), 1h);
    remote().set(k, value(), 1h);
  }
  if (!near_parts().bus->wait_until_subscribed(10s)) {
    throw std::runtime_error("the tracking connection did not subscribe within 10 s");
  }
  // One read per key fills L1 (and registers the key with Redis's tracking table).
  for (const auto& k : keys()) {
    if (!near().get(k)) throw std::runtime_error("near cache: key " + k + " missing");
  }
  const auto stats = near_parts().backend->stats();
  if (stats.l1_fills < static_cast<std::uint64_t>(key_count)) {
    throw std::runtime_error("near cache: L1 did not fill");
  }
}

void run(benchmark::State& state, StringCache& cache) {
  std::size_t i = 0;
  std::size_t misses = 0;
  for (auto _ : state) {
    auto value = cache.get(keys()[i]);
    if (!value) ++misses;
    benchmark::DoNotOptimize(value);
    if (++i == keys().size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["misses"] = static_cast<double>(misses);  // must be 0: the figures are hits
}

void BM_Get_in_process(benchmark::State& state) { run(state, in_process()); }
void BM_Get_near(benchmark::State& state) {
  const auto before = near_parts().backend->stats();
  run(state, near());
  const auto after = near_parts().backend->stats();
  // A figure for L1 hits only: any L2 read during the run is reported, not hidden.
  state.counters["l2_reads"] = static_cast<double>(after.l1_misses - before.l1_misses);
}
void BM_Get_redis(benchmark::State& state) { run(state, remote()); }

BENCHMARK(BM_Get_in_process)->Name("BM_Get/in_process")->UseRealTime();
BENCHMARK(BM_Get_near)->Name("BM_Get/near")->UseRealTime();
BENCHMARK(BM_Get_redis)->Name("BM_Get/redis")->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // Our own flag first; everything else belongs to Google Benchmark.
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.substr(0, 12) == "--redis-url=") {
      g_url = std::string(arg.substr(12));
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (g_url.empty()) {
    if (const char* env = std::getenv("TTLCACHE_BENCH_REDIS_URL")) g_url = env;
  }
  if (g_url.empty()) {
    std::fprintf(stderr,
                 "bench_near_cache needs a Redis server: pass --redis-url=redis://127.0.0.1:PORT/0 "
                 "or set TTLCACHE_BENCH_REDIS_URL (see the top of bench_near_cache.cpp)\n");
    return 2;
  }
  try {
    populate();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_near_cache: cannot prepare: %s\n", e.what());
    return 1;
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
