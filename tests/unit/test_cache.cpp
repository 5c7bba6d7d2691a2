// Tests for Cache<K,V>: the typed API, TTL handling, policies and single-flight loading.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::Cache;
using ttlcache::CacheOptions;
using ttlcache::FakeClock;
using ttlcache::MemoryOptions;

namespace {

using StringCache = Cache<std::string, std::string>;

StringCache make_cache(const std::shared_ptr<FakeClock>& clock, CacheOptions options = {}) {
  MemoryOptions<std::string, std::string> memory;
  memory.clock = clock;
  return StringCache(memory, std::move(options));
}

// A policy that gives each content type a fixed TTL and doubles it for favourites.
class TablePolicy final : public ttlcache::TtlPolicy {
 public:
  std::chrono::milliseconds ttl_for(std::string_view content_type,
                                    const ttlcache::Context& context) const override {
    std::chrono::milliseconds base = content_type == "file_list" ? 60s : 300s;
    if (const auto* fav = context.find("is_favorite"); fav && std::get<bool>(*fav)) base *= 2;
    return base;
  }
};

using ttlcache_test::Gate;

}  // namespace

TEST_CASE("cache: get, set, erase, contains, size, clear", "[cache]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = make_cache(clock);
  CHECK_FALSE(cache.get("k"));
  cache.set("k", "v", 10s);
  CHECK(cache.get("k") == std::optional<std::string>("v"));
  CHECK(cache.contains("k"));
  CHECK(cache.size() == 1);
  CHECK(cache.erase("k"));
  CHECK_FALSE(cache.contains("k"));
  cache.set("a", "1");
  cache.set("b", "2");
  cache.clear();
  CHECK(cache.size() == 0);
}

TEST_CASE("cache: TTLs take any chrono duration and the default applies", "[cache]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options;
  options.default_ttl = 5min;
  auto cache = make_cache(clock, options);
  cache.set("default", "v");
  cache.set("minutes", "v", 2min);
  cache.set("micro", "v", std::chrono::microseconds(10));  // rounds up to 1 ms, never to 0
  CHECK(cache.ttl("micro") == std::optional<std::chrono::milliseconds>(1ms));
  clock->advance(3min);
  CHECK_FALSE(cache.get("minutes"));
  CHECK(cache.get("default"));
  clock->advance(3min);
  CHECK_FALSE(cache.get("default"));
  CHECK_THROWS_AS(cache.set("zero", "v", 0s), ttlcache::argument_error);
}

TEST_CASE("cache: batch operations keep order and TTLs", "[cache]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = make_cache(clock);
  cache.set_many({{"a", "1"}, {"b", "2"}}, 1min);
  cache.set_many(std::vector<ttlcache::Write<std::string, std::string>>{{"c", "3", 10min}});
  const auto got = cache.get_many({"c", "missing", "a"});
  CHECK(got == std::vector<std::optional<std::string>>{"3", std::nullopt, "1"});
  clock->advance(2min);
  CHECK_FALSE(cache.get("a"));
  CHECK(cache.get("c"));
}

TEST_CASE("cache: bad construction is refused", "[cache]") {
  CHECK_THROWS_AS(StringCache(std::shared_ptr<ttlcache::Backend<std::string, std::string>>()),
                  ttlcache::argument_error);
  CacheOptions zero;
  zero.default_ttl = 0ms;
  CHECK_THROWS_AS(StringCache(MemoryOptions<std::string, std::string>{}, zero),
                  ttlcache::argument_error);
}

TEST_CASE("cache: content-type TTLs come from the policy", "[cache][policy]") {
  auto clock = std::make_shared<FakeClock>();
  auto plain = make_cache(clock);
  CHECK_THROWS_AS(plain.set("k", "v", "file_list"), ttlcache::argument_error);
  CHECK_FALSE(plain.contains("k"));

  CacheOptions options;
  options.ttl_policy = std::make_shared<TablePolicy>();
  auto cache = make_cache(clock, options);
  cache.set("list", "v", "file_list");
  cache.set("fav", "v", "file_list", {{"is_favorite", true}});
  cache.set("stats", "v", "user_stats");
  CHECK(cache.ttl("list") == std::optional<std::chrono::milliseconds>(60s));
  CHECK(cache.ttl("fav") == std::optional<std::chrono::milliseconds>(120s));
  CHECK(cache.ttl("stats") == std::optional<std::chrono::milliseconds>(300s));
  const auto v = cache.get_or_load("loaded", [] { return std::string("x"); }, "file_list",
                                   {{"is_favorite", true}});
  CHECK(v == "x");
  CHECK(cache.ttl("loaded") == std::optional<std::chrono::milliseconds>(120s));
}

TEST_CASE("get_or_load loads once, then serves from the cache", "[cache][load]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = make_cache(clock);
  int loads = 0;
  auto loader = [&](const std::string& key) {
    ++loads;
    return "value of " + key;
  };
  CHECK(cache.get_or_load("k", loader, 1min) == "value of k");
  CHECK(cache.get_or_load("k", loader, 1min) == "value of k");
  CHECK(loads == 1);
  clock->advance(2min);
  CHECK(cache.get_or_load("k", loader, 1min) == "value of k");
  CHECK(loads == 2);
  // A loader that takes no key works too.
  CHECK(cache.get_or_load("n", [] { return std::string("no key"); }) == "no key");
}

TEST_CASE("get_or_load passes the loader's exception on and caches nothing", "[cache][load]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = make_cache(clock);
  int loads = 0;
  auto failing = [&]() -> std::string {
    ++loads;
    throw std::runtime_error("database down");
  };
  CHECK_THROWS_WITH(cache.get_or_load("k", failing, 1min), "database down");
  CHECK_FALSE(cache.contains("k"));
  CHECK_THROWS_AS(cache.get_or_load("k", failing, 1min), std::runtime_error);
  CHECK(loads == 2);
  CHECK(cache.loads_in_flight() == 0);
}

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

TEST_CASE("cache with DynamicTTL: content type, context and hour decide the TTL",
          "[cache][policy]") {
  // 2024-01-01 12:00 UTC: inside the 09:00-18:00 working-hours window (x0.7).
  auto clock = std::make_shared<FakeClock>();
  auto config = ttlcache::DynamicTtlConfig::defaults();
  config.jitter_percent = 0;
  config.utc_offset = std::chrono::minutes(0);
  CacheOptions options;
  options.ttl_policy = std::make_shared<ttlcache::DynamicTTL>(config, clock);
  auto cache = make_cache(clock, options);

  cache.set("list", "v", "file_list");                                    // 60 s x 0.7
  cache.set("fav", "v", "file_list", {{"is_favorite", true}});            // 60 s x 1.5 x 0.7
  cache.set("content", "v", "file_content", {{"user_tier", "premium"}});  // 3600 x 0.7 x 0.7
  CHECK(cache.ttl("list") == std::optional<std::chrono::milliseconds>(42s));
  CHECK(cache.ttl("fav") == std::optional<std::chrono::milliseconds>(63s));
  CHECK(cache.ttl("content") == std::optional<std::chrono::milliseconds>(1764s));

  // At 02:00 the night window (x1.5) applies to what is written then.
  clock->set_wall(std::chrono::system_clock::time_point(std::chrono::seconds(1704074400)));
  cache.set("night", "v", "file_list");
  CHECK(cache.ttl("night") == std::optional<std::chrono::milliseconds>(90s));
  clock->advance(91s);
  CHECK_FALSE(cache.get("night"));
}

TEST_CASE("cache with DynamicTTL: get_or_load with a content type and context",
          "[cache][policy][load]") {
  // 2024-01-01 12:00 UTC (the FakeClock default): working hours, x0.7.
  auto clock = std::make_shared<FakeClock>();
  auto config = ttlcache::DynamicTtlConfig::defaults();
  config.jitter_percent = 0;
  config.utc_offset = std::chrono::minutes(0);
  auto policy = std::make_shared<ttlcache::DynamicTTL>(config, clock);
  CacheOptions options;
  options.ttl_policy = policy;
  auto cache = make_cache(clock, options);
  const ttlcache::Context favorite{{"is_favorite", true}};

  int loads = 0;
  const auto loader = [&] {
    ++loads;
    return std::string("v");
  };
  CHECK(cache.get_or_load("fav", loader, "file_list", favorite) == "v");
  CHECK(loads == 1);
  CHECK(policy->ttl_for("file_list", favorite) == 63s);  // 60 s x 1.5 x 0.7
  CHECK(cache.ttl("fav") == std::optional<std::chrono::milliseconds>(63s));
  // A hit does not load again.
  CHECK(cache.get_or_load("fav", loader, "file_list", favorite) == "v");
  CHECK(loads == 1);

  // The TTL is computed after the load: a load running from 17:59 into 18:00 gets the evening
  // factor (x1.0, 90 s), not the working-hours one it started in (x0.7, 63 s).
  clock->set_wall(std::chrono::system_clock::time_point(std::chrono::seconds(1704131940)));
  CHECK(policy->ttl_for("file_list", favorite) == 63s);
  CHECK(cache.get_or_load(
            "slow",
            [&] {
              clock->advance(1min);
              return std::string("late");
            },
            "file_list", favorite) == "late");
  CHECK(cache.ttl("slow") == std::optional<std::chrono::milliseconds>(90s));
}

TEST_CASE("a tag-aware in-process cache reports its entries and weight", "[cache][stats]") {
  MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
  memory.weigher = [](const std::string& k, const ttlcache::Tagged<std::string>& t) {
    return k.size() + t.value.size();
  };
  StringCache cache(ttlcache::make_tagged_memory_backend<std::string, std::string>(memory));
  cache.set("a", "12345", 1min, ttlcache::Tags{"t"});
  cache.set("bb", "1234567890", 1min, ttlcache::Tags{"t"});
  const auto stats = cache.stats();
  CHECK(stats.entries == std::optional<std::uint64_t>(2));
  CHECK(stats.weight_bytes == std::optional<std::uint64_t>(1 + 5 + 2 + 10));
}

// A load reads its source, an edit commits a newer value and writes it through, then the load
// stores: without the write generations the older value would overwrite the edit's and live
// until its TTL (found by examples/service's stale-read checks once the service ran 5x faster).
TEST_CASE("a load that read its source before a write does not store over that write",
          "[cache][loading]") {
  auto cache = ttlcache::CacheBuilder<std::string, std::string>("race").build();
  const std::string got = cache.get_or_load(
      "k",
      [&] {
        cache.set("k", "new", std::chrono::minutes(1));  // the edit, while the load runs
        return std::string("old");                       // what the load had read
      },
      std::chrono::minutes(1));
  CHECK(got == "old");  // its own read is still the caller's answer
  CHECK(cache.get("k") == std::optional<std::string>("new"));

  // The same for an erase, and for a batch load.
  cache.set("gone", "x", std::chrono::minutes(1));
  cache.erase("gone");
  const std::string again = cache.get_or_load(
      "gone",
      [&] {
        cache.erase("gone");
        return std::string("old");
      },
      std::chrono::minutes(1));
  CHECK(again == "old");
  CHECK_FALSE(cache.get("gone").has_value());

  const auto many = cache.get_many_or_load(
      std::vector<std::string>{"a", "b"},
      [&](const std::vector<std::string>& keys) {
        cache.set("b", "new-b", std::chrono::minutes(1));
        std::vector<std::optional<std::string>> out;
        for (const auto& k : keys) out.emplace_back("old-" + k);
        return out;
      },
      std::chrono::minutes(1));
  CHECK(many.size() == 2);
  CHECK(cache.get("a") == std::optional<std::string>("old-a"));  // untouched keys are stored
  CHECK(cache.get("b") == std::optional<std::string>("new-b"));
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
