// In-process backend vs std::unordered_map and a mutex-guarded LRU, in one binary and one run.
// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_keys.hpp"
#include "ttlcache/ttlcache.hpp"

namespace {

using namespace std::chrono_literals;
using ttlcache::bench::key_count;
using ttlcache::bench::keys;
using ttlcache::bench::run_trace;
using ttlcache::bench::trace;
using ttlcache::bench::trace_length;
using ttlcache::bench::value_for;

// Misses: keys that are never inserted, of the same shape.
const std::vector<std::string>& missing_keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < 4096; ++i) out.push_back("user:" + std::to_string(i) + ":absent!");
    return out;
  }();
  return k;
}

// ---- baseline 1: a bare unordered_map (no locking, no TTL, no eviction) ----
std::unordered_map<std::string, std::string>& bare_map() {
  static std::unordered_map<std::string, std::string> m = [] {
    std::unordered_map<std::string, std::string> out;
    for (std::size_t i = 0; i < key_count; ++i) out.emplace(keys()[i], value_for(i));
    return out;
  }();
  return m;
}

// The baseline the issue names: the same map behind one std::mutex (what a hand-rolled
// thread-safe cache without TTL or eviction costs). Shared by the get and set baselines.
std::mutex& bare_map_mutex() {
  static std::mutex m;
  return m;
}

// ---- baseline 2: the classic header-only LRU (unordered_map + std::list under one mutex) ----
class MutexLru {
 public:
  explicit MutexLru(std::size_t capacity) : capacity_(capacity) {}
  std::optional<std::string> get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    items_.splice(items_.begin(), items_, it->second);
    return it->second->second;
  }
  void put(const std::string& key, std::string value) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->second = std::move(value);
      items_.splice(items_.begin(), items_, it->second);
      return;
    }
    items_.emplace_front(key, std::move(value));
    map_.emplace(key, items_.begin());
    if (map_.size() > capacity_) {
      map_.erase(items_.back().first);
      items_.pop_back();
    }
  }

 private:
  std::mutex mutex_;
  std::size_t capacity_;
  std::list<std::pair<std::string, std::string>> items_;
  std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> map_;
};

MutexLru& mutex_lru() {
  static MutexLru lru(key_count);
  static bool filled = [] {
    for (std::size_t i = 0; i < key_count; ++i) lru.put(keys()[i], value_for(i));
    return true;
  }();
  (void)filled;
  return lru;
}

// Ours: both contestants use the default eviction policy, TinyLfuPolicy (MemoryBackend's default
// template argument; Cache(MemoryOptions) builds the same MemoryBackend<K, V>). Capacity equals
// the key count, so no benchmark here evicts: the policy costs only its bookkeeping on each access.
using Memory = ttlcache::MemoryBackend<std::string, std::string>;
static_assert(Memory::policy_name() == ttlcache::TinyLfuPolicy::name);

Memory& memory_backend() {
  static Memory m{[] {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = key_count;
    return o;
  }()};
  static bool filled = [] {
    for (std::size_t i = 0; i < key_count; ++i) m.set(keys()[i], value_for(i), 1h);
    return true;
  }();
  (void)filled;
  return m;
}

ttlcache::Cache<std::string, std::string>& cache() {
  static ttlcache::Cache<std::string, std::string> c{[] {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = key_count;
    return o;
  }()};
  static bool filled = [] {
    for (std::size_t i = 0; i < key_count; ++i) c.set(keys()[i], value_for(i), 1h);
    return true;
  }();
  (void)filled;
  return c;
}

// ---- get hit ----
void BM_GetHit_UnorderedMapFind(benchmark::State& state) {
  auto& m = bare_map();
  run_trace(state, [&](const std::string& k) { benchmark::DoNotOptimize(m.find(k)); });
}
void BM_GetHit_UnorderedMapFindCopy(benchmark::State& state) {
  auto& m = bare_map();
  run_trace(state, [&](const std::string& k) {
    auto it = m.find(k);
    std::optional<std::string> v;
    if (it != m.end()) v = it->second;
    benchmark::DoNotOptimize(v);
  });
}
void BM_GetHit_UnorderedMapMutex(benchmark::State& state) {
  auto& m = bare_map();
  auto& mutex = bare_map_mutex();
  run_trace(state, [&](const std::string& k) {
    std::optional<std::string> v;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = m.find(k);
      if (it != m.end()) v = it->second;
    }
    benchmark::DoNotOptimize(v);
  });
}
void BM_GetHit_MutexLru(benchmark::State& state) {
  auto& lru = mutex_lru();
  run_trace(state, [&](const std::string& k) { benchmark::DoNotOptimize(lru.get(k)); });
}
void BM_GetHit_MemoryBackend(benchmark::State& state) {
  auto& b = memory_backend();
  run_trace(state, [&](const std::string& k) { benchmark::DoNotOptimize(b.get(k)); });
}
void BM_GetHit_Cache(benchmark::State& state) {
  auto& c = cache();
  run_trace(state, [&](const std::string& k) { benchmark::DoNotOptimize(c.get(k)); });
}

// ---- get miss ----
template <class Fn>
void run_misses(benchmark::State& state, Fn&& fn) {
  const auto& m = missing_keys();
  std::size_t i = 0;
  for (auto _ : state) fn(m[i++ & 4095]);
  state.SetItemsProcessed(state.iterations());
}
void BM_GetMiss_UnorderedMapFind(benchmark::State& state) {
  auto& m = bare_map();
  run_misses(state, [&](const std::string& k) { benchmark::DoNotOptimize(m.find(k)); });
}
void BM_GetMiss_UnorderedMapMutex(benchmark::State& state) {
  auto& m = bare_map();
  auto& mutex = bare_map_mutex();
  run_misses(state, [&](const std::string& k) {
    std::optional<std::string> v;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = m.find(k);
      if (it != m.end()) v = it->second;
    }
    benchmark::DoNotOptimize(v);
  });
}
void BM_GetMiss_MutexLru(benchmark::State& state) {
  auto& lru = mutex_lru();
  run_misses(state, [&](const std::string& k) { benchmark::DoNotOptimize(lru.get(k)); });
}
void BM_GetMiss_MemoryBackend(benchmark::State& state) {
  auto& b = memory_backend();
  run_misses(state, [&](const std::string& k) { benchmark::DoNotOptimize(b.get(k)); });
}
void BM_GetMiss_Cache(benchmark::State& state) {
  auto& c = cache();
  run_misses(state, [&](const std::string& k) { benchmark::DoNotOptimize(c.get(k)); });
}

// ---- set (overwrite of existing keys: no allocation of nodes, the steady state of a cache) ----
void BM_Set_UnorderedMapMutex(benchmark::State& state) {
  auto& mutex = bare_map_mutex();
  auto& m = bare_map();
  run_trace(state, [&](const std::string& k) {
    std::lock_guard<std::mutex> lock(mutex);
    m.insert_or_assign(k, std::string("new"));
  });
}
void BM_Set_MutexLru(benchmark::State& state) {
  auto& lru = mutex_lru();
  run_trace(state, [&](const std::string& k) { lru.put(k, std::string("new")); });
}
void BM_Set_MemoryBackend(benchmark::State& state) {
  auto& b = memory_backend();
  run_trace(state, [&](const std::string& k) { b.set(k, std::string("new"), 1h); });
}
void BM_Set_Cache(benchmark::State& state) {
  auto& c = cache();
  run_trace(state, [&](const std::string& k) { c.set(k, std::string("new"), 1h); });
}

}  // namespace

BENCHMARK(BM_GetHit_UnorderedMapFind)->Threads(1);
BENCHMARK(BM_GetHit_UnorderedMapFindCopy)->Threads(1);
BENCHMARK(BM_GetHit_UnorderedMapMutex)->Threads(1);
BENCHMARK(BM_GetHit_MutexLru)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_GetHit_MemoryBackend)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_GetHit_Cache)->Threads(1);
BENCHMARK(BM_GetMiss_UnorderedMapFind);
BENCHMARK(BM_GetMiss_UnorderedMapMutex);
BENCHMARK(BM_GetMiss_MutexLru);
BENCHMARK(BM_GetMiss_MemoryBackend);
BENCHMARK(BM_GetMiss_Cache);
BENCHMARK(BM_Set_UnorderedMapMutex)->Threads(1);
BENCHMARK(BM_Set_MutexLru)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Set_MemoryBackend)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Set_Cache)->Threads(1);

BENCHMARK_MAIN();
