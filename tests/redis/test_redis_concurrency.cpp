// Many threads sharing one RedisStore and its pool (run under TSan by the concurrency label).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisStore;
using ttlcache_test::options_for;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

TEST_CASE("many threads share a small pool without mixing up replies", "[redis][concurrency]") {
  auto options = options_for(shared_server(), unique_namespace("threads"));
  options.pool_size = 3;
  options.pool_wait_timeout = 10s;  // waiting is expected here, giving up is not
  options.batch_chunk = 7;          // several pipelined chunks per batch
  auto store = std::make_shared<RedisStore>(options);
  auto typed = ttlcache::redis::make_backend<std::string, std::string>(store);

  constexpr int threads = 8;
  constexpr int rounds = 150;
  std::atomic<int> wrong{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        const std::string mine = "t" + std::to_string(t) + ":";
        for (int i = 0; i < rounds; ++i) {
          const std::string key = mine + std::to_string(i % 10);
          const std::string value = mine + "value-" + std::to_string(i);
          store->set(key, value, 1min);
          if (store->get(key) != std::optional<std::string>(value)) ++wrong;

          std::vector<ttlcache::ByteStore::Write> batch;
          std::vector<std::string> keys;
          for (int j = 0; j < 20; ++j) {
            keys.push_back(mine + "b" + std::to_string(j));
            batch.push_back({keys.back(), value + "/" + std::to_string(j),
                             std::chrono::milliseconds(30000 + j)});
          }
          store->set_many(batch);
          const auto got = store->get_many(keys);
          for (int j = 0; j < 20; ++j) {
            if (got[j] != std::optional<std::string>(value + "/" + std::to_string(j))) ++wrong;
          }
          // A shared key that everyone writes: whatever is read must be a whole value.
          typed->set("shared", std::string(64, static_cast<char>('a' + t)), 1min);
          if (auto shared = typed->get("shared")) {
            if (shared->size() != 64 ||
                shared->find_first_not_of((*shared)[0]) != std::string::npos) {
              ++wrong;
            }
          }
          if (i % 25 == 0) {
            store->erase(key);
            if (store->contains(key)) ++wrong;
            (void)store->stats();
          }
        }
      } catch (const std::exception& e) {
        ++failures;
        WARN(e.what());
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(wrong.load() == 0);
  CHECK(failures.load() == 0);
  const auto stats = store->stats();
  CHECK(stats.open_connections <= 3);
  CHECK(stats.connects <= 3);
  CHECK(stats.corrupt_values == 0);
  store->clear();
  CHECK(store->size() == 0);
}
