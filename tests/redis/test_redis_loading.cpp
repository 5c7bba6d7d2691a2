// Loading on a real redis-server: fail-safe stale copies in Redis, and get_many_or_load as one
// lookup plus one batch write (distributed single-flight across processes: in
// test_redis_concurrency.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"
#include "ttlcache/redis.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

TEST_CASE("fail-safe on Redis: the stale copy outlives the TTL and is served when the load fails",
          "[redis][loading][fail_safe]") {
  auto store = std::make_shared<ttlcache::redis::RedisStore>(
      ttlcache_test::options_for(shared_server(), unique_namespace("failsafe")));
  ttlcache::FailSafeOptions fs;
  fs.max_stale = 30s;
  auto backend = ttlcache::redis::make_fail_safe_backend<std::string, std::string>(store, fs);
  ttlcache::CacheOptions options;
  options.loading.fail_safe = true;
  options.loading.fail_safe_ttl = 5s;
  ttlcache::Cache<std::string, std::string> cache(backend, options);

  cache.set("price", "42", 150ms);
  const auto physical = store->ttl("price");
  REQUIRE(physical);
  CHECK(*physical > 20s);  // kept for TTL + max_stale
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(cache.get("price"));  // expired for plain reads

  const auto r = cache.get_or_load_result(
      "price", []() -> std::string { throw std::runtime_error("pricing service down"); }, 1s);
  CHECK(r.stale);
  CHECK(r.value == "42");
  CHECK(cache.stats().stale_served == 1);
  // Re-stored as a fail-safe copy: plain reads see it for fail_safe_ttl.
  CHECK(cache.get("price") == std::optional<std::string>("42"));
}

TEST_CASE("get_many_or_load on Redis: hits from one MGET, misses loaded once and written back",
          "[redis][loading][batch]") {
  auto store = std::make_shared<ttlcache::redis::RedisStore>(
      ttlcache_test::options_for(shared_server(), unique_namespace("batchload")));
  ttlcache::Cache<std::string, std::string> cache(
      ttlcache::redis::make_backend<std::string, std::string>(store));
  cache.set("emb:1", "cached", 60s);
  int calls = 0;
  auto infer = [&](const std::vector<std::string>& keys) {
    ++calls;
    std::vector<std::string> out;
    for (const auto& k : keys) out.push_back("pred(" + k + ")");
    return out;
  };
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) keys.push_back("emb:" + std::to_string(i));
  const auto got = cache.get_many_or_load(keys, infer, 60s);
  CHECK(calls == 1);
  CHECK(got[1] == std::optional<std::string>("cached"));
  CHECK(got[49] == std::optional<std::string>("pred(emb:49)"));
  CHECK(store->get("emb:49") == std::optional<std::string>("pred(emb:49)"));
  cache.get_many_or_load(keys, infer, 60s);
  CHECK(calls == 1);  // all cached now
}
