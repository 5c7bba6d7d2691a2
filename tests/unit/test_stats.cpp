// Tests for cache statistics: every counter and cause, windows, histograms, listeners, JSON.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/memory_byte_store.hpp"
#include "ttlcache/metrics_export.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::BackendTiming;
using ttlcache::BreakerState;
using ttlcache::Cache;
using ttlcache::CacheOptions;
using ttlcache::CacheStats;
using ttlcache::FakeClock;
using ttlcache::HistogramStats;
using ttlcache::InvalidationKind;
using ttlcache::MemoryOptions;
using ttlcache::RemovalCause;

namespace {

using StringCache = Cache<std::string, std::string>;

MemoryOptions<std::string, std::string> memory_with(const std::shared_ptr<FakeClock>& clock,
                                                    std::size_t max_entries = 1000) {
  MemoryOptions<std::string, std::string> memory;
  memory.clock = clock;
  memory.max_entries = max_entries;
  memory.shards = 1;
  return memory;
}

// A remote-looking backend whose calls fail on demand (and is not in-process, so timed).
class FlakyBackend final : public ttlcache::Backend<std::string, std::string> {
 public:
  std::atomic<bool> failing{false};
  std::string_view name() const noexcept override { return "flaky"; }
  std::optional<std::string> get(const std::string& key) override {
    check("GET", key);
    return inner_.get(key);
  }
  void set(const std::string& key, std::string value, std::chrono::milliseconds ttl) override {
    check("SET", key);
    inner_.set(key, std::move(value), ttl);
  }
  bool erase(const std::string& key) override {
    check("UNLINK", key);
    return inner_.erase(key);
  }
  bool contains(const std::string& key) override { return inner_.contains(key); }
  std::optional<std::chrono::milliseconds> ttl(const std::string& key) override {
    return inner_.ttl(key);
  }
  void clear() override { inner_.clear(); }
  std::size_t size() override { return inner_.size(); }

 private:
  void check(const char* command, const std::string& key) {
    if (failing)
      throw ttlcache::connection_error("flaky", std::string(command) + " " + key + ": down");
  }
  ttlcache::MemoryBackend<std::string, std::string> inner_;
};

struct FakeRedis {
  std::uint64_t bytes = 0;
  bool fail = false;
  std::uint64_t used_memory() const {
    if (fail) throw ttlcache::connection_error("redis", "INFO memory: down");
    return bytes;
  }
};

}  // namespace

TEST_CASE("hits, misses and the lifetime hit rate", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  StringCache cache(memory_with(clock));
  cache.set("a", "1");
  CHECK(cache.get("a"));
  CHECK(cache.get("a"));
  CHECK_FALSE(cache.get("b"));
  const auto batch = cache.get_many({"a", "b", "c"});
  CHECK(batch.size() == 3);

  const CacheStats s = cache.stats();
  CHECK(s.enabled);
  CHECK(s.cache == "default");
  CHECK(s.backend == "memory");
  CHECK(s.hits == 3);
  CHECK(s.misses == 3);
  CHECK(s.hit_rate() == Approx(0.5));
  CHECK(s.entries == std::optional<std::uint64_t>(1));
  // contains() and ttl() are not reads of a value: not counted.
  CHECK(cache.contains("a"));
  CHECK(cache.ttl("a"));
  CHECK(cache.stats().hits == 3);
}

TEST_CASE("loads, load failures and load latency", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::string> failures;
  CacheOptions options;
  options.name = "files";
  options.listeners.on_load_failure = [&](const ttlcache::LoadFailureEvent& e) {
    failures.push_back(std::string(e.cache) + "|" + std::string(e.message) + "|" +
                       std::to_string(e.duration.count()));
    CHECK(e.error);
  };
  StringCache cache(memory_with(clock), options);

  // The loader advances the fake clock: the recorded latency is exact.
  CHECK(cache.get_or_load("k", [&] {
    clock->advance(5ms);
    return std::string("v");
  }) == "v");
  CHECK(cache.get_or_load("k", [] { return std::string("unused"); }) == "v");
  CHECK_THROWS_AS(cache.get_or_load("bad",
                                    [&]() -> std::string {
                                      clock->advance(2ms);
                                      throw std::runtime_error("db down");
                                    }),
                  std::runtime_error);

  const CacheStats s = cache.stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 2);
  CHECK(s.loads == 1);
  CHECK(s.load_failures == 1);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] == "files|db down|2000000");
  CHECK(s.load_latency.count == 2);
  CHECK(s.load_latency.sum_ns == 7'000'000);
  // 5 ms is in (2^22, 2^23] ns, 2 ms in (2^20, 2^21].
  const std::size_t five = ttlcache::detail::LatencyBuckets::index_of(5'000'000);
  const std::size_t two = ttlcache::detail::LatencyBuckets::index_of(2'000'000);
  CHECK(HistogramStats::upper_bound_ns(five) == (1ULL << 23));
  CHECK(HistogramStats::upper_bound_ns(two) == (1ULL << 21));
  CHECK(s.load_latency.buckets[five] == 1);
  CHECK(s.load_latency.buckets[two] == 1);
  CHECK(s.load_latency.p99_ns > 4'194'304.0);
  CHECK(s.load_latency.p99_ns <= 8'388'608.0);
  CHECK(s.load_latency.p50_ns > 1'048'576.0);
  CHECK(s.load_latency.p50_ns <= 2'097'152.0);
}

TEST_CASE("histogram bucket edges and percentiles", "[stats]") {
  using B = ttlcache::detail::LatencyBuckets;
  CHECK(B::index_of(0) == 0);
  CHECK(B::index_of(1) == 0);
  CHECK(B::index_of(128) == 0);
  CHECK(B::index_of(129) == 1);
  CHECK(B::index_of(256) == 1);
  CHECK(B::index_of(257) == 2);
  CHECK(B::upper_bound_ns(0) == 128);
  CHECK(B::lower_bound_ns(1) == 128);
  for (std::size_t i = 1; i < B::finite; ++i) {
    const std::uint64_t ub = B::upper_bound_ns(i);
    CHECK(B::index_of(ub) == i);          // the bound itself is in its bucket (le)
    CHECK(B::index_of(ub + 1) == i + 1);  // one more is in the next
    CHECK(ub == 2 * B::upper_bound_ns(i - 1));
  }
  CHECK(B::upper_bound_ns(B::finite - 1) == (1ULL << 35));
  CHECK(B::index_of(1ULL << 35) == B::finite - 1);
  CHECK(B::index_of((1ULL << 35) + 1) == B::finite);  // overflow bucket
  CHECK(B::index_of(~0ULL) == B::finite);

  HistogramStats h;
  CHECK(h.percentile(0.5) == 0);
  // 100 values in (1024, 2048]: the median interpolates to the middle of the bucket.
  h.buckets[B::index_of(2000)] = 100;
  h.count = 100;
  CHECK(h.percentile(0.5) == Approx(1536));
  CHECK(h.percentile(1.0) == Approx(2048));
  // Overflow reports its lower bound.
  HistogramStats o;
  o.buckets[B::finite] = 1;
  o.count = 1;
  CHECK(o.percentile(0.99) == Approx(static_cast<double>(1ULL << 35)));

  ttlcache::detail::LatencyHistogram live;
  live.record(100);
  live.record(1000);
  live.record(1'000'000);
  const auto cells = live.read();
  CHECK(cells[0] == 1);
  CHECK(cells[B::index_of(1000)] == 1);
  CHECK(cells[ttlcache::detail::LatencyHistogram::sum_index] == 1'001'100);
}

TEST_CASE("statistics by content type", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.ttl_policy =
      std::make_shared<ttlcache::DynamicTTL>(ttlcache::DynamicTtlConfig::defaults(), clock);
  StringCache cache(memory_with(clock), options);

  cache.set("t1", "png", "thumbnail");
  CHECK(cache.get("t1", "thumbnail"));
  CHECK_FALSE(cache.get("t2", "thumbnail"));
  CHECK(cache.get_or_load(
            "l1", [] { return std::string("[]"); }, "file_list") == "[]");
  CHECK(cache.get_or_load(
            "l1", [] { return std::string("x"); }, "file_list") == "[]");
  CHECK_THROWS(cache.get_or_load(
      "l2", []() -> std::string { throw std::runtime_error("no"); }, "file_list"));

  const CacheStats s = cache.stats();
  REQUIRE(s.content_types.count("thumbnail") == 1);
  REQUIRE(s.content_types.count("file_list") == 1);
  const auto& thumb = s.content_types.at("thumbnail");
  CHECK(thumb.sets == 1);
  CHECK(thumb.hits == 1);
  CHECK(thumb.misses == 1);
  const auto& list = s.content_types.at("file_list");
  CHECK(list.hits == 1);
  CHECK(list.misses == 2);
  CHECK(list.loads == 1);
  CHECK(list.load_failures == 1);
  CHECK(list.load_latency.count == 2);
  CHECK(list.hit_rate() == Approx(1.0 / 3.0));
  // Content-type reads are in the totals too.
  CHECK(s.hits == 2);
  CHECK(s.misses == 3);
}

TEST_CASE("content types past max_labels count as 'other'", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.stats.max_labels = 2;
  StringCache cache(memory_with(clock), options);
  for (const char* ct : {"a", "b", "c", "d", "a"}) CHECK_FALSE(cache.get("x", ct));
  const CacheStats s = cache.stats();
  CHECK(s.content_types.size() == 3);
  CHECK(s.content_types.at("a").misses == 2);
  CHECK(s.content_types.at("b").misses == 1);
  CHECK(s.content_types.at("other").misses == 2);
}

TEST_CASE("removals by cause: expired, evicted, erased, replaced", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::string> events;
  CacheOptions options;
  options.listeners.on_removal = [&](const ttlcache::RemovalEvent& e) {
    events.push_back(std::string(ttlcache::to_string(e.cause)) + ":" + std::string(e.key));
  };
  int typed_calls = 0;
  auto memory = memory_with(clock, 2);
  memory.removal_listener = [&](const std::string&, const std::string&, RemovalCause) {
    ++typed_calls;
  };
  StringCache cache(memory, options);

  cache.set("a", "1", 1s);
  cache.set("a", "2", 1s);  // replaced
  cache.set("b", "1", 10s);
  cache.set("c", "1", 10s);  // evicts the least recently used: a
  CHECK(cache.erase("b"));   // erased
  cache.set("d", "1", 1s);
  clock->advance(2s);
  dynamic_cast<ttlcache::MemoryBackend<std::string, std::string>&>(cache.backend())
      .purge_expired();  // d expired

  const CacheStats s = cache.stats();
  REQUIRE(s.removals);
  CHECK(s.removed(RemovalCause::replaced) == 1);
  CHECK(s.evictions() == 1);
  CHECK(s.removed(RemovalCause::erased) == 1);
  CHECK(s.expirations() == 1);
  CHECK(s.entries == std::optional<std::uint64_t>(1));
  CHECK(events == std::vector<std::string>{"replaced:a", "evicted:a", "erased:b", "expired:d"});
  CHECK(typed_calls == 4);
}

TEST_CASE("invalidations by kind and the invalidation listener", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::string> seen;
  CacheOptions options;
  options.listeners.on_invalidation = [&](const ttlcache::InvalidationEvent& e) {
    seen.push_back(std::string(ttlcache::to_string(e.kind)) + ":" + std::string(e.target) + ":" +
                   std::to_string(e.count));
  };
  Cache<int, std::string> cache(MemoryOptions<int, std::string>{}, options);
  cache.set(7, "x");
  CHECK(cache.erase(7));
  CHECK_FALSE(cache.erase(8));  // a request is counted even when the key was absent
  auto* rec = cache.stats_recorder();
  REQUIRE(rec);
  rec->record_invalidation(InvalidationKind::tag, "user:42", 3);
  rec->record_invalidation(InvalidationKind::version, "files");
  rec->record_invalidation(InvalidationKind::pattern, "files:*", 10);
  rec->record_invalidation(InvalidationKind::remote, "files:1");

  const CacheStats s = cache.stats();
  CHECK(s.invalidated(InvalidationKind::key) == 2);
  CHECK(s.invalidated(InvalidationKind::tag) == 1);  // requests; the event has the count
  CHECK(s.invalidated(InvalidationKind::version) == 1);
  CHECK(s.invalidated(InvalidationKind::pattern) == 1);
  CHECK(s.invalidated(InvalidationKind::remote) == 1);
  CHECK(seen == std::vector<std::string>{"key:7:1", "key:8:1", "tag:user:42:3", "version:files:1",
                                         "pattern:files:*:10", "remote:files:1:1"});
}

TEST_CASE("stale values served (hook for the fail-safe layer)", "[stats]") {
  StringCache cache;
  auto* rec = cache.stats_recorder();
  rec->record_stale_served();
  rec->record_stale_served(&rec->content_type("thumbnail"));
  const CacheStats s = cache.stats();
  CHECK(s.stale_served == 2);
  CHECK(s.content_types.at("thumbnail").stale_served == 1);
}

TEST_CASE("backend errors are counted, reported and rethrown, and remote calls are timed",
          "[stats]") {
  auto backend = std::make_shared<FlakyBackend>();
  std::vector<std::string> errors;
  CacheOptions options;
  options.name = "remote";
  options.listeners.on_backend_error = [&](const ttlcache::BackendErrorEvent& e) {
    errors.push_back(std::string(e.backend) + "/" + std::string(e.operation) + "/" +
                     std::string(e.message));
  };
  StringCache cache(backend, options);
  cache.set("a", "1");
  CHECK(cache.get("a"));
  backend->failing = true;
  CHECK_THROWS_AS(cache.get("a"), ttlcache::connection_error);
  CHECK_THROWS_AS(cache.set("a", "2"), ttlcache::connection_error);
  CHECK_THROWS_AS(cache.get_or_load("z", [] { return std::string("v"); }),
                  ttlcache::connection_error);
  // A loader's own exception is a load failure, not a backend error.
  backend->failing = false;
  CHECK_THROWS(cache.get_or_load("y", []() -> std::string { throw std::logic_error("bug"); }));

  const CacheStats s = cache.stats();
  CHECK(s.backend_errors == 3);
  CHECK(s.load_failures == 1);
  // backend_error prefixes its message with the backend's name.
  CHECK(errors == std::vector<std::string>{"flaky/get/ttlcache flaky backend: GET a: down",
                                           "flaky/set/ttlcache flaky backend: SET a: down",
                                           "flaky/get/ttlcache flaky backend: GET z: down"});
  // Not an in-process backend: every call was timed (2 ok + 3 failed + 2 for the failed load).
  CHECK(s.backend_latency.count == 7);
  CHECK_FALSE(s.entries);
  CHECK_FALSE(s.removals);
}

TEST_CASE("backend timing: off for in-process backends unless asked for", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  SECTION("automatic") {
    StringCache cache(memory_with(clock));
    cache.set("a", "1");
    (void)cache.get("a");
    CHECK(cache.stats().backend_latency.count == 0);
  }
  SECTION("always") {
    CacheOptions options;
    options.stats.time_backend_calls = BackendTiming::always;
    StringCache cache(memory_with(clock), options);
    cache.set("a", "1");
    (void)cache.get("a");
    CHECK(cache.stats().backend_latency.count == 2);
  }
  SECTION("never, on a remote backend") {
    CacheOptions options;
    options.stats.time_backend_calls = BackendTiming::never;
    StringCache cache(std::make_shared<FlakyBackend>(), options);
    (void)cache.get("a");
    CHECK(cache.stats().backend_latency.count == 0);
  }
}

TEST_CASE("corrupt values from a codec backend", "[stats]") {
  auto store = std::make_shared<ttlcache::testing::MemoryByteStore>();
  auto backend = std::make_shared<ttlcache::CodecBackend<std::string, int>>(store);
  Cache<std::string, int> cache(backend);
  store->set("k", "not json", 1min);
  CHECK_FALSE(cache.get("k"));
  const CacheStats s = cache.stats();
  CHECK(s.corrupt_values == 1);
  CHECK(s.misses == 1);
  CHECK(s.backend == "memory-bytes");
}

TEST_CASE("circuit breaker state and tiers (hooks)", "[stats]") {
  std::vector<std::string> changes;
  CacheOptions options;
  options.listeners.on_breaker_change = [&](const ttlcache::BreakerStateEvent& e) {
    changes.push_back(std::string(e.tier) + ":" + std::string(ttlcache::to_string(e.from)) + "->" +
                      std::string(ttlcache::to_string(e.to)));
  };
  StringCache cache(MemoryOptions<std::string, std::string>{}, options);
  auto* rec = cache.stats_recorder();
  rec->record_breaker_state("redis", BreakerState::closed);  // where it starts: no change
  rec->record_breaker_state("redis", BreakerState::open);
  rec->record_breaker_state("redis", BreakerState::open);  // same state again: nothing
  rec->record_breaker_state("redis", BreakerState::half_open);
  rec->record_breaker_state("redis", BreakerState::closed);
  rec->record_tier_hit("memory");
  rec->record_tier_miss("memory");
  rec->record_tier_hit("redis");
  rec->record_tier_error("redis");

  const CacheStats s = cache.stats();
  CHECK(changes == std::vector<std::string>{"redis:closed->open", "redis:open->half_open",
                                            "redis:half_open->closed"});
  const auto& redis = s.tiers.at("redis");
  CHECK(redis.breaker == BreakerState::closed);
  CHECK(redis.breaker_transitions == 3);
  CHECK(redis.hits == 1);
  CHECK(redis.errors == 1);
  const auto& mem = s.tiers.at("memory");
  CHECK_FALSE(mem.breaker);
  CHECK(mem.hit_rate() == Approx(0.5));
}

TEST_CASE("listener exceptions are contained", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.listeners.on_removal = [](const ttlcache::RemovalEvent&) {
    throw std::runtime_error("x");
  };
  options.listeners.on_invalidation = [](const ttlcache::InvalidationEvent&) { throw 42; };
  options.listeners.on_load_failure = [](const ttlcache::LoadFailureEvent&) {
    throw std::runtime_error("logger broke");
  };
  options.listeners.on_breaker_change = [](const ttlcache::BreakerStateEvent&) { throw 1; };
  StringCache cache(memory_with(clock, 1), options);
  cache.set("a", "1");
  cache.set("b", "1");  // evicts a: the removal listener throws
  CHECK(cache.erase("b"));
  // The loader's exception reaches the caller, not the listener's.
  CHECK_THROWS_WITH(cache.get_or_load("c", []() -> std::string { throw std::runtime_error("db"); }),
                    "db");
  CHECK_NOTHROW(cache.stats_recorder()->record_breaker_state("", BreakerState::open));
  const CacheStats s = cache.stats();
  CHECK(s.evictions() == 1);
  CHECK(s.load_failures == 1);
}

TEST_CASE("sliding window over time, with the fake clock", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.stats.window = 60s;  // sampled at least every 60 s / 16 = 3.75 s
  options.stats.window_operations = 100;
  StringCache cache(memory_with(clock), options);
  cache.set("hot", "1", 1h);

  // Ten minutes of 100 % hits, observed every 5 s as a scraper would.
  for (int i = 0; i < 120; ++i) {
    for (int j = 0; j < 10; ++j) (void)cache.get("hot");
    clock->advance(5s);
    (void)cache.stats();
  }
  CacheStats s = cache.stats();
  CHECK(s.window.hit_rate() == 1.0);
  CHECK(s.window.hits == 120);  // the last 60 s: 12 scrapes of 10 reads
  CHECK(s.window.span == 60s);

  // Then the hit rate drops to 0: the window shows it within one window, the lifetime rate not.
  for (int i = 0; i < 12; ++i) {
    for (int j = 0; j < 10; ++j) (void)cache.get("cold");
    clock->advance(5s);
    (void)cache.stats();
  }
  s = cache.stats();
  CHECK(s.window.hit_rate() == 0.0);
  CHECK(s.window.misses == 120);
  CHECK(s.hit_rate() == Approx(1200.0 / 1320.0));
  // The last 100 operations (at least): all misses.
  CHECK(s.recent.hit_rate() == 0.0);
  CHECK(s.recent.misses >= 100);
  CHECK(s.recent.misses <= 110);

  // Half and half within the window.
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 10; ++j) (void)cache.get("hot");
    clock->advance(5s);
    (void)cache.stats();
  }
  s = cache.stats();
  CHECK(s.window.hit_rate() == Approx(0.5));
}

TEST_CASE("sliding window is sampled from the read path without a scraper", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.stats.window = 16s;  // 1 s spacing
  StringCache cache(memory_with(clock), options);
  cache.set("hot", "1", 1h);
  // One thread, so one stripe: a sample every 256 reads. 256 reads per simulated second.
  for (int sec = 0; sec < 40; ++sec) {
    const bool hit = sec < 20;
    for (int j = 0; j < 256; ++j) (void)cache.get(hit ? "hot" : "cold");
    clock->advance(1s);
  }
  const CacheStats s = cache.stats();
  // The window ends now and starts at a sample taken 16-17 s ago, all in the miss phase.
  CHECK(s.window.hit_rate() == 0.0);
  CHECK(s.window.span >= 16s);
  CHECK(s.window.span <= 18s);
}

TEST_CASE("sizes: entries, weight and a remote used_memory probe", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  auto memory = memory_with(clock);
  memory.weigher = [](const std::string& k, const std::string& v) { return k.size() + v.size(); };
  memory.max_weight = 10'000;
  auto redis = std::make_shared<FakeRedis>();
  redis->bytes = 123456;
  CacheOptions options;
  options.stats.used_memory = ttlcache::used_memory_of(redis);
  StringCache cache(memory, options);
  cache.set("ab", "cdef");
  cache.set("x", "y");
  CacheStats s = cache.stats();
  CHECK(s.entries == std::optional<std::uint64_t>(2));
  CHECK(s.weight_bytes == std::optional<std::uint64_t>(8));
  CHECK(s.remote_used_memory == std::optional<std::uint64_t>(123456));
  redis->fail = true;
  s = cache.stats();
  CHECK_FALSE(s.remote_used_memory);
}

TEST_CASE("statistics off", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.stats.enabled = false;
  StringCache cache(memory_with(clock), options);
  cache.set("a", "1");
  (void)cache.get("a");
  (void)cache.get("b");
  CHECK(cache.stats_recorder() == nullptr);
  const CacheStats s = cache.stats();
  CHECK_FALSE(s.enabled);
  CHECK(s.hits == 0);
  CHECK(s.misses == 0);
  CHECK(s.entries == std::optional<std::uint64_t>(1));  // the backend's figures remain
}

TEST_CASE("JSON export", "[stats]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.name = "files";
  StringCache cache(memory_with(clock), options);
  cache.set("a", "1");
  (void)cache.get("a");
  (void)cache.get("b");
  (void)cache.get_or_load(
      "c",
      [&] {
        clock->advance(3ms);
        return std::string("v");
      },
      1min);
  cache.stats_recorder()->record_tier_hit("memory");

  const nlohmann::json j = ttlcache::to_json(cache.stats());
  CHECK(j["cache"] == "files");
  CHECK(j["backend"] == "memory");
  CHECK(j["hits"] == 1);
  CHECK(j["misses"] == 2);
  CHECK(j["hit_rate"].get<double>() == Approx(1.0 / 3.0));
  CHECK(j["loads"] == 1);
  CHECK(j["removals"]["evicted"] == 0);
  CHECK(j["invalidations"]["key"] == 0);
  CHECK(j["size"]["entries"] == 2);
  CHECK(j["size"]["remote_used_memory"].is_null());
  CHECK(j["load_latency"]["count"] == 1);
  CHECK(j["load_latency"]["sum_seconds"].get<double>() == Approx(0.003));
  CHECK(j["load_latency"]["p50_seconds"].get<double>() > 0.002);
  CHECK(j["load_latency"]["buckets"].size() == HistogramStats::bucket_count - 1);
  CHECK(j["window"]["hits"] == 1);
  CHECK(j["tiers"]["memory"]["hits"] == 1);
  CHECK(j["tiers"]["memory"]["breaker"].is_null());
  const nlohmann::json via_adl = cache.stats();
  CHECK(via_adl["cache"] == "files");
  // Round-trips through text.
  CHECK(nlohmann::json::parse(j.dump())["misses"] == 2);
}

TEST_CASE("tag, version and pattern invalidations through Cache are counted", "[stats][tags]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::MemoryStampOptions so;
  so.clock = clock;
  auto stamps = std::make_shared<ttlcache::MemoryStampStore>(so);
  MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
  memory.clock = clock;
  auto backend = ttlcache::make_tagged_memory_backend<std::string, std::string>(memory, {}, stamps);
  std::vector<std::string> seen;
  CacheOptions options;
  options.listeners.on_invalidation = [&](const ttlcache::InvalidationEvent& e) {
    seen.push_back(std::string(ttlcache::to_string(e.kind)) + ":" + std::string(e.target) + ":" +
                   std::to_string(e.count));
  };
  StringCache cache(backend, options);
  cache.set("file:1", "a", 1h, {"user:42"});
  cache.set("file:2", "b", 1h, {"user:7"});
  CHECK(cache.get_or_load("file:3", [] { return std::string("c"); }, 1h, {"user:42"}) == "c");
  CHECK(cache.get_or_load("file:3", [] { return std::string("x"); }, 1h, {"user:42"}) == "c");
  cache.invalidate_tag("user:42");
  cache.invalidate_tags({"user:7", "user:8"});
  (void)cache.bump_version("file");
  CHECK(cache.invalidate_matching("file:") == 3);

  const CacheStats s = cache.stats();
  CHECK(s.invalidated(InvalidationKind::tag) == 3);
  CHECK(s.invalidated(InvalidationKind::version) == 1);
  CHECK(s.invalidated(InvalidationKind::pattern) == 1);
  CHECK(s.loads == 1);
  CHECK(s.hits == 1);
  CHECK(s.misses == 1);
  CHECK(seen == std::vector<std::string>{"tag:user:42:1", "tag:user:7:1", "tag:user:8:1",
                                         "version:file:1", "pattern:file::3"});
}
