// Shared by the near-cache tests (test_redis_tracking.cpp and its concurrency case in
// test_redis_concurrency.cpp): a near cache kept coherent by CLIENT TRACKING over a plain-format
// RedisStore, and a bounded wait for in-process state.
// SPDX-License-Identifier: MIT
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "ttlcache/redis.hpp"
#include "ttlcache/redis/tracking.hpp"

namespace ttlcache_test {

// Polls cond (cheap, in-process state) until it holds or bound passes; the caller REQUIREs the
// result with a message saying what did not happen.
template <class Cond>
bool wait_until(Cond cond, std::chrono::milliseconds bound = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline std::shared_ptr<ttlcache::redis::RedisStore> plain_store(int port, const std::string& ns) {
  ttlcache::redis::RedisOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.key_namespace = ns;
  options.value_format = ttlcache::redis::ValueFormat::plain;
  return std::make_shared<ttlcache::redis::RedisStore>(options);
}

struct Near {
  std::shared_ptr<ttlcache::redis::RedisStore> store;
  ttlcache::redis::NearCache<std::string, std::string> near;

  Near(int port, const std::string& ns, ttlcache::redis::TrackingMode mode)
      : store(plain_store(port, ns)),
        near(ttlcache::redis::make_tracked_backend<std::string, std::string>(
            store, ttlcache::redis::TrackingOptions{mode, std::chrono::milliseconds(1000)})) {
    REQUIRE(near.bus->wait_until_subscribed(std::chrono::seconds(10)));
  }
  ttlcache::TieredBackend<std::string, std::string>& tiered() { return *near.backend; }
  ttlcache::redis::TrackingStats stats() const { return near.bus->stats(); }

  // Reads key until it sits in L1 (the first read fills it) and returns what L1 holds.
  std::optional<std::string> fill(const std::string& key) {
    const auto value = tiered().get(key);
    REQUIRE(value.has_value());
    REQUIRE(tiered().l1().get(key) == value);
    return value;
  }
};

}  // namespace ttlcache_test
