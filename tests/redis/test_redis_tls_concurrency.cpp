// The [concurrency] case on the TLS fixture's servers, apart from the other TLS tests
// (test_redis_tls.cpp) so that the TSan build (scripts/test) compiles only it.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tls_test_support.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisStore;
using ttlcache_test::tls::tls_options;

TEST_CASE("TLS: the pool shares its connections between threads", "[redis][tls][concurrency]") {
  auto options = tls_options("good", "pool");
  options.pool_size = 3;
  options.pool_wait_timeout = 10s;
  RedisStore store(options);
  constexpr int threads = 6;
  constexpr int rounds = 100;
  std::atomic<int> wrong{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        const std::string key = "k" + std::to_string(t) + "-" + std::to_string(i % 10);
        const std::string value = "v" + std::to_string(t) + "-" + std::to_string(i);
        try {
          store.set(key, value, 10s);
          if (store.get(key) != value) wrong.fetch_add(1);
        } catch (const ttlcache::error&) {
          errors.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(wrong.load() == 0);
  CHECK(errors.load() == 0);
  const auto stats = store.stats();
  CHECK(stats.connects >= 1);
  CHECK(stats.connects <= 3);  // reused, not one connection per call
  CHECK(stats.discarded == 0);
}
