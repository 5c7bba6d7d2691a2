// Tests for Cache<K,V>: the typed API, TTL handling, policies and single-flight loading (its
// concurrency cases are in test_concurrency_loading.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

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
