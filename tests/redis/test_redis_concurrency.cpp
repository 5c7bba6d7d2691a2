// The [concurrency] cases on one real redis-server, apart from the other Redis tests so that the
// TSan build (scripts/test) compiles only these: many threads sharing one RedisStore and its
// pool, distributed single-flight across processes (load_peer), lock exclusion across threads
// and processes (lock_peer), and a near cache's readers racing a foreign writer. (The Cluster
// and TLS ones are in test_redis_cluster_concurrency.cpp and test_redis_tls_concurrency.cpp.)
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"
#include "tracking_test_support.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisLockService;
using ttlcache::redis::RedisStore;
using ttlcache::redis::TrackingMode;
using ttlcache_test::Near;
using ttlcache_test::options_for;
using ttlcache_test::OwnServer;
using ttlcache_test::RawClient;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;
using ttlcache_test::wait_until;

namespace {

// A line a peer process printed, without its newline ("<eof>" once it has exited).
std::string line_of(FILE* peer) {
  char buffer[256] = {};
  if (std::fgets(buffer, sizeof buffer, peer) == nullptr) return "<eof>";
  std::string line(buffer);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

}  // namespace

// ---- the pool ----

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

// ---- distributed single-flight (test_redis_loading.cpp) ----

TEST_CASE("distributed single-flight: 4 processes missing one key load it once",
          "[redis][loading][multiprocess][concurrency]") {
  const std::string ns = unique_namespace("loadmp");
  constexpr int processes = 4;
  std::vector<FILE*> peers;
  for (int p = 0; p < processes; ++p) {
    const std::string command = std::string(TTLCACHE_LOAD_PEER) + " " +
                                std::to_string(shared_server().port) + " " + ns + " report:7";
    FILE* peer = ::popen(command.c_str(), "r");
    REQUIRE(peer != nullptr);
    peers.push_back(peer);
  }
  for (FILE* peer : peers) REQUIRE(line_of(peer) == "ready");
  auto store = std::make_shared<ttlcache::redis::RedisStore>(
      ttlcache_test::options_for(shared_server(), ns));
  store->set("go", "1", 1h);

  int loaded = 0;
  std::vector<std::string> values;
  for (FILE* peer : peers) {
    const std::string line = line_of(peer);
    CHECK(::pclose(peer) == 0);
    const auto space = line.find(' ');
    REQUIRE(space != std::string::npos);
    if (line.substr(0, space) == "loaded") ++loaded;
    values.push_back(line.substr(space + 1));
  }
  std::printf("distributed single-flight: %d processes, %d load(s)\n", processes, loaded);
  CHECK(loaded == 1);
  for (const auto& v : values) CHECK(v == values.front());  // every peer got the one value
}

// ---- locks (test_redis_lock.cpp) ----

TEST_CASE("lock: mutual exclusion across 8 threads", "[redis][lock][concurrency]") {
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(shared_server(), ns);
  constexpr int threads = 8;
  constexpr int rounds = 100;
  // Two services share the threads: exclusion must not depend on sharing one pool.
  RedisLockService first(options);
  RedisLockService second(options);

  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  // Incremented by a load and a separate store (atomics only so that TSan, which cannot see the
  // ordering Redis provides, does not call it a race): unguarded, increments get lost.
  std::atomic<long> counter{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      RedisLockService& locks = t % 2 == 0 ? first : second;
      for (int i = 0; i < rounds; ++i) {
        auto lock = locks.try_lock_for("counter", 30s, 120s);
        if (!lock) {
          failures.fetch_add(1);
          continue;
        }
        const int now_inside = inside.fetch_add(1) + 1;
        int seen = max_inside.load();
        while (now_inside > seen && !max_inside.compare_exchange_weak(seen, now_inside)) {
        }
        const long value = counter.load(std::memory_order_relaxed);
        std::this_thread::yield();
        counter.store(value + 1, std::memory_order_relaxed);
        inside.fetch_sub(1);
        if (!lock->release()) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : pool) th.join();

  CHECK(failures.load() == 0);
  CHECK(max_inside.load() == 1);
  CHECK(counter.load() == threads * rounds);
  CHECK(first.stats().acquired + second.stats().acquired == threads * rounds);
  CHECK(first.stats().released + second.stats().released == threads * rounds);
}

TEST_CASE("lock: mutual exclusion across 4 processes (lock_peer)",
          "[redis][lock][multiprocess][concurrency]") {
  const std::string ns = unique_namespace("lockmp");
  constexpr int processes = 4;
  constexpr int iterations = 150;
  std::vector<FILE*> peers;
  for (int p = 0; p < processes; ++p) {
    const std::string command = std::string(TTLCACHE_LOCK_PEER) + " " +
                                std::to_string(shared_server().port) + " " + ns + " counter " +
                                std::to_string(iterations);
    FILE* peer = ::popen(command.c_str(), "r");
    REQUIRE(peer != nullptr);
    peers.push_back(peer);
  }
  for (FILE* peer : peers) CHECK(line_of(peer) == "ready");

  auto store = std::make_shared<ttlcache::redis::RedisStore>(
      ttlcache_test::options_for(shared_server(), ns));
  store->set("go", "1", 1h);  // every peer waits for this key, so they contend from the start
  for (FILE* peer : peers) {
    CHECK(line_of(peer) == "done " + std::to_string(iterations) + " lost=0");
    CHECK(::pclose(peer) == 0);
  }
  const auto total = store->get("counter");
  REQUIRE(total);
  CHECK(std::stoll(*total) == processes * iterations);
}

// ---- the near cache (test_redis_tracking.cpp) ----

TEST_CASE("near cache: readers racing a foreign writer end with its last value",
          "[redis][tracking][concurrency]") {
  OwnServer server;
  const std::string ns = unique_namespace("race");
  Near n(server.port(), ns, TrackingMode::broadcast);
  constexpr int writes = 200;
  RawClient writer(server.port());
  writer.command({"SET", ns + ":k", "0", "PX", "600000"});
  REQUIRE(wait_until([&] { return n.stats().invalidations == 1; }));

  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::atomic<long> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        try {
          const auto value = n.tiered().get("k");
          if (!value || value->empty()) bad.fetch_add(1);  // the key always holds a number
        } catch (...) {
          bad.fetch_add(1);
        }
        reads.fetch_add(1);
      }
    });
  }
  for (int i = 1; i <= writes; ++i) {
    writer.command({"SET", ns + ":k", std::to_string(i), "PX", "600000"});
  }
  // Every write is reported (broadcast): once all reports are applied, no older value may stay.
  const bool all_reported = wait_until([&] { return n.stats().invalidations == 1 + writes; });
  stop.store(true);
  for (auto& r : readers) r.join();
  REQUIRE(all_reported);
  CHECK(bad.load() == 0);
  CHECK(reads.load() > 0);
  const auto held = n.tiered().l1().get("k");
  CHECK((!held || *held == std::to_string(writes)));
  CHECK(n.tiered().get("k") == std::to_string(writes));
  CHECK(n.tiered().get("k") == std::to_string(writes));  // now from L1
}
