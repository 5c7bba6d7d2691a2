// Issue 19's harness: the in-process hit, miss, set, memory and churn hit ratio against bare maps.
// SPDX-License-Identifier: MIT
//
// Workload: uint64 keys (scrambled ranks), 32-byte std::string values (heap-allocated: over the
// small-string buffer), 100,000 entries, Zipf(0.99) reads. Hits run with capacity = key count;
// set and the churn hit ratio with capacity 10,000 over the 100,000 keys, set on miss.
// Contestants, all in this binary: bare std::unordered_map find, find + copy, unordered_map +
// std::mutex, std::list + unordered_map LRU + std::mutex, ttlcache MemoryBackend with its
// default policy (TinyLFU) and with LruPolicy, and ttlcache's zero-copy visit() (with TinyLFU,
// with LruPolicy, and with no read bookkeeping at all: the floor of the read path), and the
// same hit with dependent reads (each key chosen by the previous result: latency, not
// throughput) for find and visit.
//
// Before the benchmarks it prints heap bytes per entry (mallinfo2, in-use chunks + mmapped
// blocks) and the churn hit ratios against the popularity bound; after them, the target
// ratios: medians over --benchmark_repetitions, with their min..max over repetitions; then the
// same ratios from paired rounds (both sides timed back to back, steadier on a shared machine),
// and for reference a minimal read that is not a cache (inline keys, no pin, no bookkeeping)
// with and without an expiry check against the kernel's coarse clock.
// Usage: bench_hit_path [--benchmark_repetitions=5] [--paired=15] [google benchmark flags]
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "paired.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/memory_backend.hpp"
#include "zipf.hpp"

namespace {

using Key = std::uint64_t;
using Value = std::string;
using namespace std::chrono_literals;

constexpr std::size_t key_count = 100'000;
constexpr std::size_t churn_capacity = 10'000;
constexpr std::size_t trace_length = 1 << 20;
constexpr double zipf_s = 0.99;

Key key_of(std::size_t rank) { return ttlcache::bench::scramble(rank); }

// 32 bytes: heap-allocated in std::string, so a copy costs an allocation, as for real values.
Value value_of(std::size_t rank) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "value-%026zu", rank);
  return Value(buf, 32);
}

const std::vector<Key>& hit_trace() {
  static const std::vector<Key> t = ttlcache::bench::zipf_keys(key_count, zipf_s, trace_length);
  return t;
}

// Keys never inserted (ranks past the key set), for misses.
const std::vector<Key>& miss_trace() {
  static const std::vector<Key> t = [] {
    std::vector<Key> out(4096);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = key_of(key_count + 1 + i);
    return out;
  }();
  return t;
}

// ---- contestants ----

struct BareMap {
  std::unordered_map<Key, Value> map;
  void put(Key k, Value v) { map.insert_or_assign(k, std::move(v)); }
};

class MapMutex {
 public:
  std::optional<Value> get(Key k) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(k);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  void put(Key k, Value v) {
    std::lock_guard<std::mutex> lock(mutex_);
    map_.insert_or_assign(k, std::move(v));
  }

 private:
  std::mutex mutex_;
  std::unordered_map<Key, Value> map_;
};

// The classic LRU: std::list of (key, value) in recency order, a map to list iterators.
class ListLru {
 public:
  explicit ListLru(std::size_t capacity) : capacity_(capacity) {}
  std::optional<Value> get(Key k) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(k);
    if (it == map_.end()) return std::nullopt;
    items_.splice(items_.begin(), items_, it->second);
    return it->second->second;
  }
  void put(Key k, Value v) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(k);
    if (it != map_.end()) {
      it->second->second = std::move(v);
      items_.splice(items_.begin(), items_, it->second);
      return;
    }
    items_.emplace_front(k, std::move(v));
    map_.emplace(k, items_.begin());
    if (map_.size() > capacity_) {
      map_.erase(items_.back().first);
      items_.pop_back();
    }
  }

 private:
  std::mutex mutex_;
  std::size_t capacity_;
  std::list<std::pair<Key, Value>> items_;
  std::unordered_map<Key, std::list<std::pair<Key, Value>>::iterator> map_;
};

template <class Policy>
struct Ttl {
  explicit Ttl(std::size_t capacity) : backend(options(capacity)) {}
  static ttlcache::MemoryOptions<Key, Value> options(std::size_t capacity) {
    ttlcache::MemoryOptions<Key, Value> o;
    o.max_entries = capacity;
    return o;
  }
  std::optional<Value> get(Key k) { return backend.get(k); }
  void put(Key k, Value v) { backend.set(k, std::move(v), 1h); }
  ttlcache::MemoryBackend<Key, Value, Policy> backend;
};
using TtlTinyLfu = Ttl<ttlcache::TinyLfuPolicy>;
using TtlLru = Ttl<ttlcache::LruPolicy>;

// Not a policy to use (it evicts in insertion order and ignores reads): the read path with no
// eviction bookkeeping at all, no log and no replay. Its visit() is the floor any policy can
// reach on this reader protocol, table and clock (issue 19's zero-copy target is measured
// against it in docs/performance.md).
struct NoReadBookkeeping : ttlcache::LruPolicy {
  static constexpr bool logs_reads = false;
  static void on_shared_read(Links& /*links*/) noexcept {}
};
using TtlFloor = Ttl<NoReadBookkeeping>;

// Not a cache (no pin, no eviction, one thread only): the least a read with an expiry check
// can do, to see what the clock alone costs against the 2x budget. Keys sit inline in an
// open-addressing table (one multiply for the hash, linear probing), each pointing to an entry
// with its expiry and value. The expiry is checked against the kernel's coarse clock (what
// MemoryBackend reads), against a cached tick (one atomic load; nothing here updates it), or
// not at all.
class MinimalRead {
 public:
  enum class Expiry { none, coarse_clock, cached_tick };

  MinimalRead() {
    std::size_t size = 1;
    while (size < 2 * key_count) size <<= 1;
    slots_.assign(size, Slot{});
    mask_ = size - 1;
    while ((std::size_t{1} << (64 - shift_)) < size) --shift_;
    for (std::size_t i = 0; i < key_count; ++i) {
      entries_.push_back(std::make_unique<Entry>(Entry{forever, value_of(i)}));
      std::size_t pos = home(key_of(i));
      while (slots_[pos].entry != nullptr) pos = (pos + 1) & mask_;
      slots_[pos] = Slot{key_of(i), entries_.back().get()};
    }
  }

  template <Expiry E>
  std::size_t size_of(Key k) const {
    for (std::size_t pos = home(k);; pos = (pos + 1) & mask_) {
      const Slot& s = slots_[pos];
      if (s.entry == nullptr) return 0;
      if (s.key != k) continue;
      if constexpr (E == Expiry::coarse_clock) {
        if (s.entry->expires_ns <= ttlcache::detail::coarse_now_ns()) return 0;
      } else if constexpr (E == Expiry::cached_tick) {
        if (s.entry->expires_ns <= tick_.load(std::memory_order_relaxed)) return 0;
      }
      return s.entry->value.size();
    }
  }

 private:
  static constexpr std::int64_t forever = std::int64_t{1} << 62;
  struct Entry {
    std::int64_t expires_ns;
    Value value;
  };
  struct Slot {
    Key key = 0;
    const Entry* entry = nullptr;
  };
  std::size_t home(Key k) const { return (k * 0x9e3779b97f4a7c15ULL) >> shift_; }

  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::size_t mask_ = 0;
  int shift_ = 64;
  std::atomic<std::int64_t> tick_{ttlcache::detail::coarse_now_ns()};
};

template <class C>
void fill(C& c) {
  for (std::size_t i = 0; i < key_count; ++i) c.put(key_of(i), value_of(i));
}

// Full caches (capacity = key count), built once and shared by the threads of a benchmark.
template <class C>
C& full() {
  static C* c = [] {
    C* out = nullptr;
    if constexpr (std::is_same_v<C, BareMap> || std::is_same_v<C, MapMutex>) {
      out = new C();
    } else {
      out = new C(key_count);
    }
    fill(*out);
    return out;
  }();
  return *c;
}

// ---- benchmarks ----

template <class Fn>
void run(benchmark::State& state, const std::vector<Key>& t, Fn&& fn) {
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (t.size() / 2 + 7);
  const std::size_t mask = t.size() - 1;  // both traces have a power-of-two length
  for (auto _ : state) {
    fn(t[i & mask]);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_hit_find(benchmark::State& state) {
  const auto& m = full<BareMap>().map;
  run(state, hit_trace(), [&](Key k) {
    auto it = m.find(k);
    benchmark::DoNotOptimize(it);
  });
}
void BM_hit_find_copy(benchmark::State& state) {
  const auto& m = full<BareMap>().map;
  run(state, hit_trace(), [&](Key k) {
    std::optional<Value> out;
    auto it = m.find(k);
    if (it != m.end()) out.emplace(it->second);
    benchmark::DoNotOptimize(out);
  });
}
template <class C>
void BM_hit(benchmark::State& state) {
  C& c = full<C>();
  run(state, hit_trace(), [&](Key k) {
    auto v = c.get(k);
    benchmark::DoNotOptimize(v);
  });
}
template <class C>
void BM_visit(benchmark::State& state) {
  auto& b = full<C>().backend;
  run(state, hit_trace(), [&](Key k) {
    std::size_t size = 0;
    b.visit(k, [&size](const Value& v) { size = v.size(); });
    benchmark::DoNotOptimize(size);
  });
}

// Dependent reads: each key's position in the trace depends on the previous read's result (a
// zero taken from the value's size), so reads cannot overlap and the time is the read's
// latency. The loops above measure throughput, where a bare find gains from the CPU running
// several independent lookups' cache misses at once (docs/performance.md, session 12).
template <class Fn>
void run_dependent(benchmark::State& state, const std::vector<Key>& t, Fn&& fn) {
  std::size_t i = 0;
  const std::size_t mask = t.size() - 1;
  for (auto _ : state) i += 1 + fn(t[i & mask]);
  benchmark::DoNotOptimize(i);
  state.SetItemsProcessed(state.iterations());
}
void BM_dependent_find(benchmark::State& state) {
  const auto& m = full<BareMap>().map;
  run_dependent(state, hit_trace(), [&](Key k) {
    auto it = m.find(k);
    return it == m.end() ? std::size_t{1} : it->second.size() - 32;
  });
}
template <class C>
void BM_dependent_visit(benchmark::State& state) {
  auto& b = full<C>().backend;
  run_dependent(state, hit_trace(), [&](Key k) {
    std::size_t zero = 1;
    b.visit(k, [&zero](const Value& v) { zero = v.size() - 32; });
    return zero;
  });
}

void BM_miss_find(benchmark::State& state) {
  const auto& m = full<BareMap>().map;
  run(state, miss_trace(), [&](Key k) {
    auto it = m.find(k);
    benchmark::DoNotOptimize(it);
  });
}
template <class C>
void BM_miss(benchmark::State& state) {
  C& c = full<C>();
  run(state, miss_trace(), [&](Key k) {
    auto v = c.get(k);
    benchmark::DoNotOptimize(v);
  });
}

// Set with churn: capacity 10,000, keys from the Zipf stream (overwrites, inserts, evictions).
// The value is copied from a prepared one inside the loop, as a caller's set would.
template <class C>
void BM_set(benchmark::State& state) {
  static C* c = [] {
    C* out = new C(churn_capacity);
    for (std::size_t i = 0; i < 4 * churn_capacity; ++i) out->put(hit_trace()[i], value_of(i));
    return out;
  }();
  const Value v = value_of(7);
  run(state, hit_trace(), [&](Key k) { c->put(k, v); });
}

BENCHMARK(BM_hit_find)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_hit_find_copy)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_hit, MapMutex)
    ->Name("BM_hit_map_mutex")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_hit, ListLru)->Name("BM_hit_list_lru")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_hit, TtlTinyLfu)
    ->Name("BM_hit_ttlcache_tinylfu")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_hit, TtlLru)
    ->Name("BM_hit_ttlcache_lru")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_visit, TtlTinyLfu)
    ->Name("BM_hit_ttlcache_visit")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_visit, TtlLru)->Name("BM_hit_ttlcache_visit_lru")->UseRealTime();
BENCHMARK_TEMPLATE(BM_visit, TtlFloor)->Name("BM_hit_visit_no_bookkeeping")->UseRealTime();
BENCHMARK(BM_dependent_find)->UseRealTime();
BENCHMARK_TEMPLATE(BM_dependent_visit, TtlTinyLfu)
    ->Name("BM_dependent_ttlcache_visit")
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_dependent_visit, TtlFloor)
    ->Name("BM_dependent_visit_no_bookkeeping")
    ->UseRealTime();
BENCHMARK(BM_miss_find)->UseRealTime();
BENCHMARK_TEMPLATE(BM_miss, MapMutex)->Name("BM_miss_map_mutex")->UseRealTime();
BENCHMARK_TEMPLATE(BM_miss, ListLru)->Name("BM_miss_list_lru")->UseRealTime();
BENCHMARK_TEMPLATE(BM_miss, TtlTinyLfu)->Name("BM_miss_ttlcache_tinylfu")->UseRealTime();
BENCHMARK_TEMPLATE(BM_miss, TtlLru)->Name("BM_miss_ttlcache_lru")->UseRealTime();
BENCHMARK_TEMPLATE(BM_set, ListLru)->Name("BM_set_list_lru")->UseRealTime();
BENCHMARK_TEMPLATE(BM_set, TtlTinyLfu)->Name("BM_set_ttlcache_tinylfu")->UseRealTime();
BENCHMARK_TEMPLATE(BM_set, TtlLru)->Name("BM_set_ttlcache_lru")->UseRealTime();

// ---- memory and churn hit ratio (deterministic, printed before the timings) ----

std::size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

template <class Build>
double bytes_per_entry(Build&& build) {
  const std::size_t before = heap_in_use();
  auto c = build();
  const std::size_t after = heap_in_use();
  return static_cast<double>(after - before) / static_cast<double>(key_count);
}

template <class C>
double churn_hit_ratio(const std::vector<Key>& stream, std::size_t warmup) {
  C c(churn_capacity);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    if (c.get(stream[i])) {
      if (i >= warmup) ++hits;
    } else {
      c.put(stream[i], value_of(i & 1023));
    }
  }
  return 100.0 * static_cast<double>(hits) / static_cast<double>(stream.size() - warmup);
}

void print_memory_and_churn() {
  const double bare = bytes_per_entry([] {
    auto m = std::make_unique<BareMap>();
    fill(*m);
    return m;
  });
  const double tiny = bytes_per_entry([] {
    auto m = std::make_unique<TtlTinyLfu>(key_count);
    fill(*m);
    return m;
  });
  const double lru = bytes_per_entry([] {
    auto m = std::make_unique<TtlLru>(key_count);
    fill(*m);
    return m;
  });
  const double list = bytes_per_entry([] {
    auto m = std::make_unique<ListLru>(key_count);
    fill(*m);
    return m;
  });
  std::printf("heap bytes per entry (100,000 entries, 32-byte values):\n");
  std::printf("  %-28s %7.1f  1.00x\n", "unordered_map", bare);
  std::printf("  %-28s %7.1f  %.2fx\n", "list + map LRU", list, list / bare);
  std::printf("  %-28s %7.1f  %.2fx  (target <= 1.15x)\n", "ttlcache default (TinyLFU)", tiny,
              tiny / bare);
  std::printf("  %-28s %7.1f  %.2fx\n", "ttlcache LruPolicy", lru, lru / bare);

  // A separate stream (other seed) of 3M requests; the first 1M warm the cache up.
  const auto stream = ttlcache::bench::zipf_keys(key_count, zipf_s, 3'000'000, 4242);
  const std::size_t warmup = 1'000'000;
  const double bound =
      100.0 * ttlcache::bench::Zipf(key_count, zipf_s).popularity_bound(churn_capacity);
  std::printf("churn hit %% (capacity 10,000, Zipf(0.99) over 100,000 keys, set on miss):\n");
  std::printf("  %-28s %6.2f\n", "popularity bound", bound);
  std::printf("  %-28s %6.2f\n", "list + map LRU", churn_hit_ratio<ListLru>(stream, warmup));
  const double t = churn_hit_ratio<TtlTinyLfu>(stream, warmup);
  std::printf("  %-28s %6.2f  (%.2f below the bound; target <= 1.5)\n",
              "ttlcache default (TinyLFU)", t, bound - t);
  std::printf("  %-28s %6.2f\n", "ttlcache LruPolicy", churn_hit_ratio<TtlLru>(stream, warmup));
  std::fflush(stdout);
}

// ---- the target ratios, from the runs of this process ----

struct Sample {
  double ns = 0;    // real time per operation (per thread)
  double cpu = 0;   // CPU time per operation (per thread)
  double rate = 0;  // operations per second, all threads together
};

class Collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      Sample s;
      s.ns = r.GetAdjustedRealTime();
      s.cpu = r.GetAdjustedCPUTime();
      const auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) s.rate = it->second.value;
      samples_[r.benchmark_name()].push_back(s);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  enum class By { real, cpu, rate };

  // Ratio num/den per repetition (paired by index), then median and range.
  void ratio(const std::string& label, const std::string& num, const std::string& den, By by,
             double target, bool at_most) const {
    const auto a = samples_.find(num);
    const auto b = samples_.find(den);
    if (a == samples_.end() || b == samples_.end()) {
      std::printf("  %-48s (not run)\n", label.c_str());
      return;
    }
    std::vector<double> r;
    for (std::size_t i = 0; i < std::min(a->second.size(), b->second.size()); ++i) {
      const Sample& x = a->second[i];
      const Sample& y = b->second[i];
      r.push_back(by == By::rate ? x.rate / y.rate : by == By::cpu ? x.cpu / y.cpu : x.ns / y.ns);
    }
    std::sort(r.begin(), r.end());
    const double median = r[r.size() / 2];
    const bool met = at_most ? median <= target : median >= target;
    std::printf("  %-48s %5.2fx  [%4.2f..%4.2f] n=%zu  target %s %.2fx: %s\n", label.c_str(),
                median, r.front(), r.back(), r.size(), at_most ? "<=" : ">=", target,
                met ? "met" : "NOT met");
  }

 private:
  std::map<std::string, std::vector<Sample>> samples_;
};

std::string one(const char* name) { return std::string(name) + "/real_time/threads:1"; }
std::string two(const char* name) { return std::string(name) + "/real_time/threads:2"; }
std::string plain(const char* name) { return std::string(name) + "/real_time"; }

// A time ratio twice: by wall-clock time, and by CPU time (steadier on a loaded machine, where
// a thread waits for a core between its operations).
void time_ratio(const Collector& c, const std::string& label, const std::string& num,
                const std::string& den, double target) {
  c.ratio(label + " (real)", num, den, Collector::By::real, target, true);
  c.ratio(label + " (cpu)", num, den, Collector::By::cpu, target, true);
}

// ---- paired rounds: the same ratios with both sides timed back to back ----

// Google Benchmark runs each contestant for its own second or so, one after another; on a
// shared VM the machine changes between them (a bare miss is 4-5 ns, so a neighbour's burst
// moves the ratio by half). Here each round times a batch of both sides back to back, in
// alternating order, by the thread's CPU time, and the ratio is taken per round.
template <class Fn>
double round_ns_per_op(const std::vector<Key>& t, std::size_t ops, Fn&& fn) {
  const std::size_t mask = t.size() - 1;
  const double start = ttlcache_bench::thread_cpu_ns();
  std::size_t sink = 0;
  for (std::size_t i = 0; i < ops; ++i) sink += fn(t[i & mask]);
  benchmark::DoNotOptimize(sink);
  return (ttlcache_bench::thread_cpu_ns() - start) / static_cast<double>(ops);
}

// target 0: a reference row, printed without a verdict.
template <class Num, class Den>
void paired_ratio(int rounds, const char* label, const std::vector<Key>& t, Num&& num, Den&& den,
                  double target) {
  constexpr std::size_t ops = std::size_t{1} << 20;
  round_ns_per_op(t, ops, num);  // warm both up
  round_ns_per_op(t, ops, den);
  std::vector<double> r;
  for (int i = 0; i < rounds; ++i) {
    double a = 0;
    double b = 0;
    if (i % 2 == 0) {
      a = round_ns_per_op(t, ops, num);
      b = round_ns_per_op(t, ops, den);
    } else {
      b = round_ns_per_op(t, ops, den);
      a = round_ns_per_op(t, ops, num);
    }
    r.push_back(a / b);
  }
  const double median = ttlcache_bench::percentile(r, 0.5);
  std::printf("  %-40s %5.2fx  [p25 %4.2f, p75 %4.2f] rounds=%d", label, median,
              ttlcache_bench::percentile(r, 0.25), ttlcache_bench::percentile(r, 0.75), rounds);
  if (target > 0) {
    std::printf("  target <= %.2fx: %s", target, median <= target ? "met" : "NOT met");
  }
  std::printf("\n");
}

void print_paired(int rounds) {
  if (rounds <= 0) return;
  const auto& m = full<BareMap>().map;
  auto& tiny = full<TtlTinyLfu>();
  auto& floor = full<TtlFloor>().backend;
  const auto find = [&](Key k) -> std::size_t { return m.find(k) != m.end() ? 1 : 0; };
  const auto find_copy = [&](Key k) -> std::size_t {
    std::optional<Value> out;
    auto it = m.find(k);
    if (it != m.end()) out.emplace(it->second);
    return out ? out->size() : 0;
  };
  const auto get = [&](Key k) -> std::size_t {
    auto v = tiny.get(k);
    return v ? v->size() : 0;
  };
  const auto visit = [&](Key k) -> std::size_t {
    std::size_t size = 0;
    tiny.backend.visit(k, [&size](const Value& v) { size = v.size(); });
    return size;
  };
  const auto visit_floor = [&](Key k) -> std::size_t {
    std::size_t size = 0;
    floor.visit(k, [&size](const Value& v) { size = v.size(); });
    return size;
  };
  std::printf("\npaired rounds (thread CPU time, both sides back to back; median [p25, p75]):\n");
  paired_ratio(rounds, "get hit: ttlcache / find+copy", hit_trace(), get, find_copy, 1.3);
  paired_ratio(rounds, "zero-copy visit hit / find", hit_trace(), visit, find, 2.0);
  paired_ratio(rounds, "  floor (no read bookkeeping) / find", hit_trace(), visit_floor, find, 0);
  paired_ratio(rounds, "miss: ttlcache / find miss", miss_trace(), get, find, 1.5);

  // The reference rows: how much of the 2x budget a minimal read spends before any pin or
  // eviction bookkeeping (docs/performance.md, session 14).
  static const MinimalRead minimal;
  using E = MinimalRead::Expiry;
  std::printf("minimal read, not a cache (inline keys; no pin, no bookkeeping), for reference:\n");
  paired_ratio(
      rounds, "  no expiry check / find", hit_trace(),
      [](Key k) { return minimal.size_of<E::none>(k); }, find, 0);
  paired_ratio(
      rounds, "  + kernel coarse clock / find", hit_trace(),
      [](Key k) { return minimal.size_of<E::coarse_clock>(k); }, find, 0);
  paired_ratio(
      rounds, "  + cached tick (atomic load) / find", hit_trace(),
      [](Key k) { return minimal.size_of<E::cached_tick>(k); }, find, 0);
}

}  // namespace

int main(int argc, char** argv) {
  // --paired=N: rounds of the paired ratios after the benchmarks (default 15, 0 to skip).
  int rounds = 15;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--paired=", 0) == 0) {
      rounds = std::stoi(arg.substr(9));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  print_memory_and_churn();
  // Build the shared caches before timing anything.
  full<BareMap>();
  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  std::printf("\ntarget ratios (median over repetitions [min..max]):\n");
  time_ratio(collector, "get hit: ttlcache / find+copy", one("BM_hit_ttlcache_tinylfu"),
             one("BM_hit_find_copy"), 1.3);
  time_ratio(collector, "get hit: ttlcache LRU / find+copy", one("BM_hit_ttlcache_lru"),
             one("BM_hit_find_copy"), 1.3);
  time_ratio(collector, "get hit: list LRU / find+copy", one("BM_hit_list_lru"),
             one("BM_hit_find_copy"), 1.3);
  time_ratio(collector, "zero-copy visit hit / find", one("BM_hit_ttlcache_visit"),
             one("BM_hit_find"), 2.0);
  time_ratio(collector, "  the same, LruPolicy (reference)", plain("BM_hit_ttlcache_visit_lru"),
             one("BM_hit_find"), 2.0);
  time_ratio(collector, "  no read bookkeeping at all (floor, reference)",
             plain("BM_hit_visit_no_bookkeeping"), one("BM_hit_find"), 2.0);
  time_ratio(collector, "  dependent reads (latency): visit / find",
             plain("BM_dependent_ttlcache_visit"), plain("BM_dependent_find"), 2.0);
  time_ratio(collector, "  dependent reads: floor / find (ref.)",
             plain("BM_dependent_visit_no_bookkeeping"), plain("BM_dependent_find"), 2.0);
  time_ratio(collector, "miss: ttlcache / find miss", plain("BM_miss_ttlcache_tinylfu"),
             plain("BM_miss_find"), 1.5);
  time_ratio(collector, "set (churn): ttlcache / list LRU", plain("BM_set_ttlcache_tinylfu"),
             plain("BM_set_list_lru"), 2.0);
  using By = Collector::By;
  collector.ratio("2 threads / 1: ttlcache (throughput)", two("BM_hit_ttlcache_tinylfu"),
                  one("BM_hit_ttlcache_tinylfu"), By::rate, 1.8, false);
  collector.ratio("2 threads / 1: ttlcache LRU", two("BM_hit_ttlcache_lru"),
                  one("BM_hit_ttlcache_lru"), By::rate, 1.8, false);
  collector.ratio("2 threads / 1: ttlcache visit", two("BM_hit_ttlcache_visit"),
                  one("BM_hit_ttlcache_visit"), By::rate, 1.8, false);
  collector.ratio("2 threads / 1: find+copy (reference)", two("BM_hit_find_copy"),
                  one("BM_hit_find_copy"), By::rate, 1.8, false);
  collector.ratio("2 threads / 1: list LRU (reference)", two("BM_hit_list_lru"),
                  one("BM_hit_list_lru"), By::rate, 1.8, false);
  print_paired(rounds);
  benchmark::Shutdown();
  return 0;
}
