// The [concurrency] cases of Cache and its loading (single-flight, early refresh, timeouts,
// distributed single-flight, warm) and of its statistics, apart from the other tests so that the
// TSan build (scripts/test) compiles only these (their other tests: test_cache.cpp,
// test_loading.cpp, test_stats.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"
#include "support/loading.hpp"
#include "ttlcache/metrics_export.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::Cache;
using ttlcache::CacheOptions;
using ttlcache::FakeClock;
using ttlcache::MemoryOptions;

namespace {

using StringCache = Cache<std::string, std::string>;
using ttlcache_test::CountingBackend;
using ttlcache_test::fail_safe_backend;
using ttlcache_test::Gate;
using ttlcache_test::with_clock;

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

}  // namespace

// ---- single-flight in Cache (test_cache.cpp) ----

TEST_CASE("64 threads on one cold key run the loader exactly once", "[cache][load][concurrency]") {
  StringCache cache;
  std::atomic<int> loads{0};
  std::atomic<int> arrived{0};
  constexpr int threads = 64;
  std::vector<std::thread> workers;
  std::vector<std::string> results(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ++arrived;
      while (arrived.load() < threads) std::this_thread::yield();
      results[t] = cache.get_or_load(
          "hot",
          [&] {
            ++loads;
            // Long enough that every thread arrives while the load runs.
            std::this_thread::sleep_for(100ms);
            return std::string("loaded");
          },
          1min);
    });
  }
  for (auto& w : workers) w.join();
  CHECK(loads.load() == 1);
  for (const auto& r : results) CHECK(r == "loaded");
}

namespace {

// A key that reports when a thread finds it already in a map. SingleFlight keeps in-flight
// loads in an unordered_map under a lock: a caller whose lookup finds the running load (its
// key compares equal) has joined it, and the load cannot be forgotten before that lock is
// released. So "every other thread compared equal" means "every other thread is a waiter".
struct JoinKey {
  std::string name;
  bool operator==(const JoinKey& other) const;
};

struct JoinCounter {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<bool> joined;  // by worker index
  int count = 0;
};
JoinCounter join_counter;
thread_local int worker_index = -1;

bool JoinKey::operator==(const JoinKey& other) const {
  const bool equal = name == other.name;
  if (equal && worker_index >= 0) {
    std::lock_guard<std::mutex> lock(join_counter.mutex);
    if (!join_counter.joined[static_cast<std::size_t>(worker_index)]) {
      join_counter.joined[static_cast<std::size_t>(worker_index)] = true;
      ++join_counter.count;
      join_counter.cv.notify_all();
    }
  }
  return equal;
}

}  // namespace

template <>
struct std::hash<JoinKey> {
  std::size_t operator()(const JoinKey& k) const noexcept {
    return std::hash<std::string>{}(k.name);
  }
};

TEST_CASE("every waiter receives the loader's exception", "[cache][load][concurrency]") {
  // No sleep: the loader holds the load open until every other thread has joined it, so a late
  // thread can never start a second load, however slow the machine (TSan, load).
  Cache<JoinKey, std::string> cache;
  constexpr int threads = 16;
  {
    std::lock_guard<std::mutex> lock(join_counter.mutex);
    join_counter.joined.assign(threads, false);
    join_counter.count = 0;
  }
  std::atomic<int> loads{0};
  std::atomic<int> failures{0};
  std::atomic<bool> all_joined{true};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      worker_index = t;
      try {
        cache.get_or_load(
            JoinKey{"hot"},
            [&]() -> std::string {
              ++loads;
              std::unique_lock<std::mutex> lock(join_counter.mutex);
              // Bounded, so a change in how loads are joined fails the test instead of hanging.
              const bool joined = join_counter.cv.wait_for(lock, std::chrono::seconds(30), [&] {
                const int self = join_counter.joined[static_cast<std::size_t>(t)] ? 1 : 0;
                return join_counter.count - self == threads - 1;
              });
              if (!joined) all_joined = false;
              throw std::runtime_error("boom");
            },
            1min);
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "boom") ++failures;
      }
      worker_index = -1;
    });
  }
  for (auto& w : workers) w.join();
  CHECK(all_joined.load());
  CHECK(loads.load() == 1);
  CHECK(failures.load() == threads);
  CHECK(cache.get(JoinKey{"hot"}) == std::nullopt);  // a failed load caches nothing
}

TEST_CASE("loads of different keys run in parallel", "[cache][load][concurrency]") {
  StringCache cache;
  Gate b_loaded;
  // The loader for "a" can only finish once "b" has been loaded: if loads were serialised
  // across keys, this would deadlock.
  std::thread a([&] {
    cache.get_or_load(
        "a",
        [&] {
          b_loaded.wait();
          return std::string("A");
        },
        1min);
  });
  std::this_thread::sleep_for(20ms);
  CHECK(cache.get_or_load(
            "b", [] { return std::string("B"); }, 1min) == "B");
  b_loaded.open();
  a.join();
  CHECK(cache.get("a") == std::optional<std::string>("A"));
}

// A read that begins after a write (or an invalidation) has returned must not be handed the
// answer of a load that began before it: single-flight would otherwise give it the older value
// (found by the service's "a write is visible once it returns" check on Redis). It waits for
// that load to end, then loads again.
TEST_CASE("a read that begins after a write does not join a load that began before it",
          "[cache][loading][concurrency]") {
  using namespace std::chrono_literals;
  for (const bool by_tag : {false, true}) {
    CAPTURE(by_tag);
    auto cache = ttlcache::CacheBuilder<std::string, std::string>("epoch").tags().build();
    const auto opts = ttlcache::EntryOptions().ttl(1min).tag("t");
    ttlcache_test::Gate entered;
    ttlcache_test::Gate release;
    std::string first_got;
    std::thread first([&] {
      first_got = cache.get_or_load(
          "k",
          [&] {
            entered.open();
            release.wait();
            return std::string("old");  // what it read before the write
          },
          opts);
    });
    entered.wait();
    // The write, which returns before the second read begins: the source now says "new".
    if (by_tag) {
      cache.invalidate_tag("t");
    } else {
      cache.erase("k");
    }
    std::atomic<bool> second_started{false};
    std::string second_got;
    std::thread second([&] {
      second_started = true;
      second_got = cache.get_or_load(
          "k", [] { return std::string("new"); }, opts);
    });
    // Give the second read time to reach the running load (it can only wait for it now),
    // then let the first load finish. Without the rule the second read receives "old".
    for (int i = 0; i < 1000 && !second_started; ++i) std::this_thread::yield();
    std::this_thread::sleep_for(50ms);
    release.open();
    first.join();
    second.join();
    CHECK(first_got == "old");   // the first caller's own answer
    CHECK(second_got == "new");  // not the load that began before the write
    CHECK(cache.get("k") == std::optional<std::string>("new"));
  }
}

// ---- loading (test_loading.cpp) ----

TEST_CASE("200 threads on one expired hot key cause one load", "[loading][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  MemoryOptions<std::string, std::string> memory;
  memory.clock = clock;
  StringCache cache(memory, with_clock(clock));
  cache.set("hot", "old", 10s);
  clock->advance(11s);  // expired
  REQUIRE_FALSE(cache.get("hot"));

  std::atomic<int> loads{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::string> got(200);
  std::vector<std::thread> threads;
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      got[static_cast<std::size_t>(i)] = cache.get_or_load(
          "hot",
          [&] {
            ++loads;
            std::this_thread::sleep_for(50ms);  // a slow database query
            return std::string("new");
          },
          10s);
    });
  }
  while (ready.load() < 200) std::this_thread::yield();
  go = true;
  for (auto& t : threads) t.join();
  CHECK(loads.load() == 1);
  for (const auto& v : got) CHECK(v == "new");
}

TEST_CASE("early refresh: one caller refreshes, the others keep the current value",
          "[loading][xfetch][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.early_refresh = true;
  options.loading.random = [] { return 1e-12; };  // always decides to refresh
  StringCache cache(backend, options);
  backend->set_timed("k", backend->make_entry("v1", 60s, 3'000'000'000));

  Gate release;
  std::atomic<bool> started{false};
  std::atomic<int> loads{0};
  auto loader = [&] {
    ++loads;
    started = true;
    release.wait();
    return std::string("v2");
  };
  std::string first;
  std::thread refresher([&] { first = cache.get_or_load("k", loader, 60s); });
  REQUIRE(eventually([&] { return started.load(); }));
  // While the refresh runs, others are not blocked and get the current value.
  for (int i = 0; i < 5; ++i) CHECK(cache.get_or_load("k", loader, 60s) == "v1");
  release.open();
  refresher.join();
  CHECK(first == "v2");
  CHECK(loads.load() == 1);
  CHECK(cache.get("k") == std::optional<std::string>("v2"));
}

TEST_CASE("soft timeout: a slow load serves stale at once and is cached when it ends",
          "[loading][timeouts][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  options.loading.soft_timeout = 50ms;
  options.loading.hard_timeout = 10s;
  StringCache cache(backend, options);
  cache.set("k", "old", 60s);
  clock->advance(61s);

  Gate release;
  std::atomic<bool> finished{false};
  auto slow = [&] {
    release.wait();
    finished = true;
    return std::string("new");
  };
  const auto r = cache.get_or_load_result("k", slow, 60s);
  CHECK(r.value == "old");
  CHECK(r.stale);
  CHECK_FALSE(finished.load());  // served before the load ended
  // A second caller joins the running load instead of starting another.
  CHECK(cache.get_or_load_result("k", slow, 60s).stale);
  release.open();
  CHECK(eventually([&] { return cache.get("k") == std::optional<std::string>("new"); }));
}

TEST_CASE("hard timeout without a stale value throws timeout_error, and the load still lands",
          "[loading][timeouts][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  options.loading.soft_timeout = 20ms;
  options.loading.hard_timeout = 100ms;
  StringCache cache(backend, options);
  Gate release;
  auto stuck = [&] {
    release.wait();
    return std::string("late");
  };
  try {
    cache.get_or_load("k", stuck, 60s);
    FAIL("expected timeout_error");
  } catch (const ttlcache::timeout_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("hard_timeout") && Catch::Contains("k"));
  }
  release.open();
  CHECK(eventually([&] { return cache.get("k") == std::optional<std::string>("late"); }));
}

TEST_CASE("hard timeout with a stale value serves it, and a throwing slow load also falls back",
          "[loading][timeouts][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  options.loading.hard_timeout = 50ms;
  StringCache cache(backend, options);
  cache.set("k", "old", 60s);
  clock->advance(61s);
  Gate release;
  auto r = cache.get_or_load_result(
      "k",
      [&] {
        release.wait();
        return std::string("new");
      },
      60s);
  CHECK(r.stale);
  CHECK(r.value == "old");
  release.open();
  CHECK(eventually([&] { return cache.get("k") == std::optional<std::string>("new"); }));

  clock->advance(61s);
  r = cache.get_or_load_result(
      "k", []() -> std::string { throw std::runtime_error("boom"); }, 60s);
  CHECK(r.stale);
  CHECK(r.value == "new");
}

TEST_CASE("distributed single-flight: two instances sharing a lock service load once",
          "[loading][distributed][concurrency]") {
  auto shared = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>();
  auto locks = std::make_shared<ttlcache::MemoryLockService>();
  CacheOptions options;
  options.name = "users";
  options.loading.lock_service = locks;
  options.loading.lock_wait = 5s;
  options.loading.lock_poll = 5ms;
  // Two Cache objects stand for two processes: their in-process single-flight is separate.
  StringCache a(shared, options);
  StringCache b(shared, options);
  std::atomic<int> loads{0};
  auto loader = [&] {
    ++loads;
    std::this_thread::sleep_for(100ms);
    return std::string("value");
  };
  std::vector<std::thread> threads;
  std::vector<std::string> got(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto& cache = i % 2 == 0 ? a : b;
      got[static_cast<std::size_t>(i)] = cache.get_or_load("user:1", loader, 60s);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(loads.load() == 1);
  for (const auto& v : got) CHECK(v == "value");
}

TEST_CASE("warm loads in batches with bounded concurrency and reports progress",
          "[loading][warm][concurrency]") {
  auto backend = std::make_shared<CountingBackend>();
  StringCache cache(backend);
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back("k" + std::to_string(i));
  cache.set("k5", "already", 60s);

  std::atomic<int> running{0}, peak{0}, calls{0};
  auto loader = [&](const std::string& key) {
    const int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    ++calls;
    --running;
    if (key == "k13" || key == "k777") throw std::runtime_error("bad row");
    return "v-" + key;
  };
  std::mutex m;
  std::vector<ttlcache::WarmProgress> seen;
  ttlcache::WarmOptions wo;
  wo.batch_size = 100;
  wo.concurrency = 3;
  wo.on_progress = [&](const ttlcache::WarmProgress& p) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(p);
  };
  const auto result = cache.warm(keys, loader, 60s, wo);
  CHECK(result.total == 1000);
  CHECK(result.done == 1000);
  CHECK(result.failed == 2);
  CHECK(calls.load() == 999);  // k5 was already cached
  CHECK(peak.load() <= 3);
  CHECK(backend->set_many_calls.load() == 10);  // one write per batch
  REQUIRE(seen.size() == 10);
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].done > seen[i - 1].done);
  CHECK(seen.back().done == 1000);
  CHECK(cache.get("k5") == std::optional<std::string>("already"));
  CHECK(cache.get("k999") == std::optional<std::string>("v-k999"));
  CHECK_FALSE(cache.get("k13"));
}

// ---- statistics (test_stats.cpp) ----

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
