// Which read to use (docs/reading.md): get() copies the value, visit() runs a function on it in
// place, and a Cache of shared values (std::shared_ptr<const V>) hands out a pointer. Measured
// through the front door (CacheBuilder, in process, TinyLFU), on 1 and 2 threads, for small
// (32-byte) and large (4 KB) string values.
// SPDX-License-Identifier: MIT
//
// Workload: 10,000 keys (scrambled uint64 ranks), all resident (max_entries = key count),
// Zipf(0.99) reads. Every contestant looks at the value the same way (its size and one byte), so
// the difference is what it costs to get hold of it. With 2 threads a shared value's reference
// count is written by both threads on every read of a popular key.
// Usage: bench_reads [--benchmark_repetitions=5] [google benchmark flags]
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ttlcache/builder.hpp"
#include "zipf.hpp"

namespace {

using Key = std::uint64_t;
using Shared = std::shared_ptr<const std::string>;

constexpr std::size_t key_count = 10'000;
constexpr std::size_t trace_length = 1 << 20;

const std::vector<Key>& trace() {
  static const std::vector<Key> t = ttlcache::bench::zipf_keys(key_count, 0.99, trace_length);
  return t;
}

std::string value(std::size_t size, std::size_t rank) {
  return std::string(size, static_cast<char>('a' + rank % 26));
}

template <class V>
ttlcache::Cache<Key, V>* make(std::size_t size) {
  auto* c = new ttlcache::Cache<Key, V>(
      ttlcache::CacheBuilder<Key, V>("reads").max_entries(key_count).build());
  for (std::size_t i = 0; i < key_count; ++i) {
    if constexpr (std::is_same_v<V, Shared>) {
      c->set(ttlcache::bench::scramble(i), std::make_shared<const std::string>(value(size, i)));
    } else {
      c->set(ttlcache::bench::scramble(i), value(size, i));
    }
  }
  return c;
}

// One cache per (value type, value size), filled once and shared by the threads of a benchmark.
template <class V>
ttlcache::Cache<Key, V>& cache(std::size_t size) {
  static auto* small = make<V>(32);
  static auto* large = make<V>(4096);
  return size == 32 ? *small : *large;
}
std::size_t look(const std::string& v) { return v.size() + static_cast<unsigned char>(v[17]); }

template <class Read>
void run(benchmark::State& state, Read&& read) {
  const auto& t = trace();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (t.size() / 2 + 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(read(t[i & (t.size() - 1)]));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_get_copy(benchmark::State& state) {
  auto& c = cache<std::string>(static_cast<std::size_t>(state.range(0)));
  run(state, [&](Key k) {
    const auto v = c.get(k);
    return v ? look(*v) : 0;
  });
}
void BM_visit(benchmark::State& state) {
  auto& c = cache<std::string>(static_cast<std::size_t>(state.range(0)));
  run(state, [&](Key k) {
    std::size_t seen = 0;
    c.visit(k, [&seen](const std::string& v) { seen = look(v); });
    return seen;
  });
}
void BM_get_shared(benchmark::State& state) {
  auto& c = cache<Shared>(static_cast<std::size_t>(state.range(0)));
  run(state, [&](Key k) {
    const auto v = c.get(k);
    return v ? look(**v) : 0;
  });
}

BENCHMARK(BM_get_copy)->Arg(32)->Arg(4096)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_visit)->Arg(32)->Arg(4096)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_get_shared)->Arg(32)->Arg(4096)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
