// Concurrency tests for statistics: exact totals under contention, snapshots while recording.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ttlcache/metrics_export.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;

TEST_CASE("counters are exact under concurrent recording and reading", "[stats][concurrency]") {
  ttlcache::CacheOptions options;
  options.stats.time_backend_calls = ttlcache::BackendTiming::always;
  ttlcache::Cache<int, int> cache(ttlcache::MemoryOptions<int, int>{}, options);
  for (int k = 0; k < 100; k += 2) cache.set(k, k, 1h);

  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    // Snapshots and exports while the counters move: monotonic, never torn or crashing.
    std::uint64_t last = 0;
    while (!done.load()) {
      const auto s = cache.stats();
      CHECK(s.hits + s.misses >= last);
      last = s.hits + s.misses;
      (void)ttlcache::to_prometheus(s);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string ct = t % 2 == 0 ? "even" : "odd";
      for (int i = 0; i < per_thread; ++i) {
        (void)cache.get(i % 100, ct);
        if (i % 1000 == 0) {
          cache.stats_recorder()->record_breaker_state(
              "redis",
              i % 2000 == 0 ? ttlcache::BreakerState::open : ttlcache::BreakerState::closed);
          cache.stats_recorder()->record_tier_hit("tier" + std::to_string(i % 3));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  reader.join();

  const auto s = cache.stats();
  CHECK(s.hits == threads * per_thread / 2);
  CHECK(s.misses == threads * per_thread / 2);
  CHECK(s.content_types.at("even").hits + s.content_types.at("odd").hits == s.hits);
  CHECK(s.backend_latency.count == threads * per_thread + 50);
  CHECK(s.tiers.count("tier0") == 1);
  CHECK(s.tiers.count("redis") == 1);
}

TEST_CASE("loads and failures are exact under concurrent single-flight loading",
          "[stats][concurrency]") {
  ttlcache::Cache<int, int> cache;
  std::atomic<int> loader_calls{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int k = 0; k < 500; ++k) {
        try {
          (void)cache.get_or_load(k, [&](int key) {
            ++loader_calls;
            if (key % 10 == 0) throw std::runtime_error("fails");
            return key;
          });
        } catch (const std::runtime_error&) {
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const auto s = cache.stats();
  CHECK(s.loads + s.load_failures == static_cast<std::uint64_t>(loader_calls.load()));
  CHECK(s.loads == 450);
  CHECK(s.load_latency.count == s.loads + s.load_failures);
  CHECK(s.hits + s.misses == 2000);
}
