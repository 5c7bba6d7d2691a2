// The [concurrency] cases on the shared Redis Cluster, apart from the other Cluster tests so that
// the TSan build (scripts/test) compiles only these: batches fanning out per node under
// concurrent callers (test_redis_cluster.cpp), and lock exclusion with locks on every master
// (test_redis_cluster_lock.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster_lock_support.hpp"
#include "cluster_test_support.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisLockService;
using ttlcache::redis::RedisStore;
using ttlcache_test::ClusterSetup;
using ttlcache_test::names_on_every_master;
using ttlcache_test::unique_namespace;

TEST_CASE("concurrent callers on a cluster: batches fan out per node while single calls run",
          "[redis][cluster][concurrency]") {
  const std::string ns = unique_namespace("cluster-conc");
  auto options = ClusterSetup::shared().options(ns);
  options.pool_size = 4;  // fewer connections than callers: the pools' waits are exercised too
  options.pool_wait_timeout = 10s;
  RedisStore store(options);
  constexpr int threads = 4;
  constexpr int rounds = 20;
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<RedisStore::Write> writes;
      std::vector<std::string> keys;
      for (int i = 0; i < 50; ++i) {
        keys.push_back("t" + std::to_string(t) + ":" + std::to_string(i));
        writes.push_back({keys.back(), "v" + std::to_string(t * 1000 + i), 1min});
      }
      for (int r = 0; r < rounds; ++r) {
        store.set_many(writes);
        const auto got = store.get_many(keys);
        for (std::size_t i = 0; i < keys.size(); ++i) {
          if (got[i] != std::optional<std::string>(writes[i].value)) wrong.fetch_add(1);
        }
        store.set(keys[static_cast<std::size_t>(r)], "single", 1min);
        if (store.get(keys[static_cast<std::size_t>(r)]) != std::optional<std::string>("single")) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(wrong.load() == 0);
  CHECK(store.size() == threads * 50);
  store.clear();
}

TEST_CASE("cluster lock: mutual exclusion across threads with locks on every master",
          "[redis][cluster][lock][concurrency]") {
  const auto& cluster = ClusterSetup::shared();
  const std::string ns = unique_namespace("cluster-lock");
  auto options = cluster.options(ns);
  options.pool_size = 4;
  options.pool_wait_timeout = 30s;
  // Two services share the threads: exclusion must not depend on sharing one router.
  RedisLockService first(options);
  RedisLockService second(options);

  std::vector<std::string> names;
  for (const auto& entry : names_on_every_master(cluster, ns, 2)) {
    names.insert(names.end(), entry.second.begin(), entry.second.end());
  }
  const std::size_t lock_count = names.size();  // 6: two per master
  constexpr int threads = 6;
  constexpr int rounds = 40;

  // Per lock: how many threads are inside, the most ever seen, and a counter incremented by a
  // load and a separate store (atomics only so that TSan does not flag the ordering Redis
  // provides): unguarded, increments get lost.
  std::vector<std::atomic<int>> inside(lock_count);
  std::vector<std::atomic<int>> max_inside(lock_count);
  std::vector<std::atomic<long>> counter(lock_count);
  std::vector<std::atomic<long>> entered(lock_count);  // acquisitions, counted atomically
  for (std::size_t i = 0; i < lock_count; ++i) {
    inside[i] = 0;
    max_inside[i] = 0;
    counter[i] = 0;
    entered[i] = 0;
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      RedisLockService& locks = t % 2 == 0 ? first : second;
      for (int r = 0; r < rounds; ++r) {
        // Two threads per lock at a time, walking all the locks: contention on every master.
        const std::size_t i = static_cast<std::size_t>(t / 2 + r) % lock_count;
        auto lock = locks.try_lock_for(names[i], 30s, 120s);
        if (!lock) {
          failures.fetch_add(1);
          continue;
        }
        entered[i].fetch_add(1);
        const int now_inside = inside[i].fetch_add(1) + 1;
        int seen = max_inside[i].load();
        while (now_inside > seen && !max_inside[i].compare_exchange_weak(seen, now_inside)) {
        }
        const long value = counter[i].load(std::memory_order_relaxed);
        std::this_thread::yield();
        counter[i].store(value + 1, std::memory_order_relaxed);
        inside[i].fetch_sub(1);
        if (!lock->release()) failures.fetch_add(1);
      }
    });
  }
  for (auto& w : workers) w.join();

  CHECK(failures.load() == 0);
  long total = 0;
  for (std::size_t i = 0; i < lock_count; ++i) {
    INFO("lock " << names[i]);
    CHECK(max_inside[i].load() == 1);
    CHECK(entered[i].load() > 0);
    CHECK(counter[i].load() == entered[i].load());
    total += counter[i].load();
  }
  CHECK(total == threads * rounds);
  CHECK(first.stats().acquired + second.stats().acquired == threads * rounds);
  CHECK(first.stats().released + second.stats().released == threads * rounds);
}
