// RedisStore::erase_pattern against a real redis-server: glob characters in user parts.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "pattern_scenario.hpp"
#include "redis_test_support.hpp"
#include "ttlcache/cache.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/key_pattern.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::KeyPattern;
using ttlcache::redis::RedisStore;
using ttlcache_test::options_for;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

TEST_CASE("erase_pattern: glob characters in user parts remove only that user's keys",
          "[redis][pattern]") {
  const auto ns = unique_namespace("pattern");
  RedisStore store(options_for(shared_server(), ns));
  // A neighbour namespace that a glob escaping mistake in the prefix would reach.
  RedisStore neighbour(options_for(shared_server(), ns + "*"));
  neighbour.set("files:a:list", "n", 1min);
  const auto& users = ttlcache_test::pattern_users();
  for (const auto& user : users) {
    for (const auto& key : ttlcache_test::keys_of(user)) store.set(key, "v", 1min);
  }
  std::size_t expected = store.size();
  REQUIRE(expected == 3 * users.size());
  for (const auto& user : users) {
    INFO("user " << user);
    CHECK(store.erase_pattern(KeyPattern{KeyPattern::any, ":" + user + ":", KeyPattern::any}) == 2);
    expected -= 2;
    CHECK(store.size() == expected);
    for (const auto& other : users) {
      const auto keys = ttlcache_test::keys_of(other);
      CHECK(store.contains(keys[2]));  // profile:{u} is outside *:{u}:*
      if (other == user) continue;
      const bool gone = std::find(users.begin(), users.end(), other) <
                        std::find(users.begin(), users.end(), user);
      CHECK(store.contains(keys[0]) == !gone);
      CHECK(store.contains(keys[1]) == !gone);
    }
  }
  CHECK(store.erase_pattern(KeyPattern{"profile:", KeyPattern::one}) == 6);  // *, ?, a, b, \, 1
  CHECK(store.size() == users.size() - 6);
  CHECK(neighbour.contains("files:a:list"));
  CHECK(store.erase_pattern(KeyPattern{KeyPattern::any}) == users.size() - 6);
  CHECK(neighbour.size() == 1);
  neighbour.clear();
}

TEST_CASE("Cache::invalidate_pattern on the tagged Redis backend", "[redis][pattern]") {
  using StringCache = ttlcache::Cache<std::string, std::string>;
  const auto ns = unique_namespace("cache-pattern");
  auto store = std::make_shared<RedisStore>(options_for(shared_server(), ns));
  StringCache cache(ttlcache::redis::make_tagged_backend<std::string, std::string>(store));
  const auto& users = ttlcache_test::pattern_users();
  for (const auto& user : users) {
    for (const auto& key : ttlcache_test::keys_of(user)) cache.set(key, "v", 1min);
  }
  CHECK(cache.invalidate_pattern(KeyPattern{KeyPattern::any, ":[ab]:", KeyPattern::any}) == 2);
  CHECK_FALSE(cache.get("files:[ab]:list"));
  CHECK(cache.get("files:a:list"));
  CHECK(cache.get("files:b:list"));
  CHECK(cache.get("profile:[ab]"));
  CHECK(cache.invalidate_pattern(KeyPattern{KeyPattern::any, ":?:", KeyPattern::any}) == 2);
  CHECK(cache.get("files:1:list"));
  CHECK(store->size() == 3 * users.size() - 4);
  store->clear();
}
