// Fault test: redis-server is killed during a mixed workload over a tiered cache and started
// again; the degrade policy keeps callers error-free, L1 serving, and nothing stale afterwards.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "redis_test_support.hpp"
#include "ttlcache/redis.hpp"
#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ttlcache::BreakerState;
using ttlcache::FailurePolicy;
using ttlcache_test::options_for;
using ttlcache_test::OwnServer;
using ttlcache_test::unique_namespace;

namespace {

using StringBackend = ttlcache::Backend<std::string, std::string>;
using Resilient = ttlcache::ResilientBackend<std::string, std::string>;
using Tiered = ttlcache::TieredBackend<std::string, std::string>;

/// A directory for the server's append-only file, so that data survives the kill and the
/// restart: an old value left in Redis is exactly what could come back after an outage.
class DataDir {
 public:
  DataDir() {
    char pattern[] = "/tmp/ttlcache-outage-data.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~DataDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

enum Phase : int { before = 0, down = 1, after = 2 };

}  // namespace

TEST_CASE("a Redis outage under load: degrade serves from L1, nothing stale after recovery",
          "[redis][outage]") {
  DataDir data;
  OwnServer server({"--dir", data.path(), "--appendonly", "yes", "--appendfsync", "always"});

  auto redis_options = options_for(server.info(), unique_namespace("outage"));
  redis_options.connect_timeout = 500ms;
  redis_options.command_timeout = 1000ms;
  redis_options.reconnect_backoff_initial = 20ms;
  redis_options.reconnect_backoff_max = 200ms;
  auto store = std::make_shared<ttlcache::redis::RedisStore>(redis_options);

  ttlcache::redis::PubSubOptions bus_options;
  bus_options.redis = redis_options;
  bus_options.channel = unique_namespace("outage-chan");
  bus_options.heartbeat_interval = 300ms;
  auto bus = std::make_shared<ttlcache::redis::PubSubBus>(bus_options);
  REQUIRE(bus->wait_until_subscribed(10s));

  // L2: Redis behind a breaker (propagate: the tiered backend must see the failure to stand in
  // with L1), which also repairs the keys whose writes failed.
  ttlcache::ResilientOptions l2_options;
  l2_options.policy = FailurePolicy::propagate;
  l2_options.breaker.failure_threshold = 3;
  l2_options.breaker.open_for = 500ms;
  l2_options.tier = "l2";
  auto l2 = std::make_shared<Resilient>(
      ttlcache::redis::make_backend<std::string, std::string>(store), l2_options);
  ttlcache::MemoryOptions<std::string, std::string> l1_memory;
  l1_memory.max_entries = 10'000;
  auto l1 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(l1_memory);
  ttlcache::TieredOptions tiered_options;
  tiered_options.l1_max_ttl = 10s;
  tiered_options.scope = redis_options.key_namespace;
  auto tiered = std::make_shared<Tiered>(l1, l2, bus, tiered_options);
  // On top: degrade, so no backend error reaches a caller.
  ttlcache::ResilientOptions outer_options;
  outer_options.policy = FailurePolicy::degrade;
  outer_options.breaker.enabled = false;
  outer_options.repair_failed_writes = false;
  auto outer = std::make_shared<Resilient>(tiered, outer_options);
  ttlcache::CacheOptions cache_options;
  cache_options.name = "outage";
  ttlcache::Cache<std::string, std::string> cache(outer, cache_options);
  l2->attach_stats(cache.shared_stats_recorder());
  outer->attach_stats(cache.shared_stats_recorder());

  // The source of truth: each key belongs to one owner thread, the only one that updates it
  // and loads it. (Two threads loading and writing one key race in any cache-aside scheme,
  // outage or not; that race is not what this test is about.)
  constexpr int owners = 6;
  constexpr int keys_per_owner = 30;
  constexpr int key_count = owners * keys_per_owner;
  std::vector<std::string> database(key_count);
  const auto key_of = [](int i) { return "item:" + std::to_string(i); };
  for (int i = 0; i < key_count; ++i) database[static_cast<std::size_t>(i)] = "v0-" + key_of(i);

  std::atomic<int> phase{before};
  std::atomic<bool> stop{false};
  std::atomic<long> errors_surfaced{0}, stale_reads{0}, operations{0};
  std::atomic<long> reads_down{0}, hits_down{0}, loads_down{0}, reader_hits_down{0};
  std::mutex first_error_mutex;
  std::string first_error;
  const auto note_error = [&](const std::string& what) {
    errors_surfaced.fetch_add(1);
    std::lock_guard<std::mutex> lock(first_error_mutex);
    if (first_error.empty()) first_error = what;
  };

  std::vector<std::thread> threads;
  threads.reserve(owners + 2);
  for (int owner = 0; owner < owners; ++owner) {
    threads.emplace_back([&, owner] {
      std::mt19937 rng(static_cast<unsigned>(owner) * 7919U + 1U);
      long version = 0;
      while (!stop.load()) {
        const int i = owner * keys_per_owner + static_cast<int>(rng() % keys_per_owner);
        const std::string key = key_of(i);
        std::string& truth = database[static_cast<std::size_t>(i)];
        const int p = phase.load();
        const unsigned op = rng() % 100;
        try {
          if (op < 60) {
            bool loaded = false;
            const std::string value = cache.get_or_load(
                key,
                [&] {
                  loaded = true;
                  return truth;
                },
                1min);
            if (value != truth) stale_reads.fetch_add(1);
            if (p == down) {
              reads_down.fetch_add(1);
              (loaded ? loads_down : hits_down).fetch_add(1);
            }
          } else if (op < 85) {
            truth = "v" + std::to_string(++version) + "-" + key;
            cache.set(key, truth, 1min);
          } else {
            truth = "v" + std::to_string(++version) + "-" + key + "-deleted";
            cache.erase(key);
          }
        } catch (const std::exception& e) {
          note_error(e.what());
        } catch (...) {
          note_error("unknown exception");
        }
        operations.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  // Readers of every key (no loader): they only count what the cache serves.
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r) + 101U);
      while (!stop.load()) {
        const int p = phase.load();
        try {
          const auto value = cache.get(key_of(static_cast<int>(rng() % key_count)));
          if (value && p == down) reader_hits_down.fetch_add(1);
        } catch (const std::exception& e) {
          note_error(e.what());
        }
        operations.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }

  const auto start = Clock::now();
  std::this_thread::sleep_for(3s);
  server.kill_hard();
  phase = down;
  const auto killed_at = Clock::now();
  std::this_thread::sleep_for(3s);
  server.restart();
  const double outage_ms = ms_since(killed_at);
  const auto restarted_at = Clock::now();
  phase = after;

  // Recovered: L2's breaker closed, the failed writes repaired, the bus listening again.
  const auto recovered = [&] {
    const auto s = l2->stats();
    return s.breaker == BreakerState::closed && s.pending_keys == 0 && !s.pending_clear &&
           bus->healthy();
  };
  double recover_ms = -1;
  while (ms_since(restarted_at) < 15'000) {
    if (recovered()) {
      recover_ms = ms_since(restarted_at);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  const auto remaining = 10s - (Clock::now() - start);
  if (remaining > 0s) std::this_thread::sleep_for(remaining);
  stop = true;
  for (auto& t : threads) t.join();
  const double run_ms = ms_since(start);

  // After recovery every key reads as the database says, through the cache and in Redis itself
  // (a fresh backend on the same namespace, no L1): no lost write, no old value come back.
  long final_mismatches = 0, redis_mismatches = 0;
  auto direct = ttlcache::redis::make_backend<std::string, std::string>(store);
  for (int i = 0; i < key_count; ++i) {
    const std::string key = key_of(i);
    const std::string& truth = database[static_cast<std::size_t>(i)];
    if (cache.get_or_load(
            key, [&] { return truth; }, 1min) != truth)
      ++final_mismatches;
    try {
      const auto in_redis = direct->get(key);
      if (in_redis && *in_redis != truth) ++redis_mismatches;
    } catch (const ttlcache::backend_error& e) {
      note_error(std::string("final check: ") + e.what());
    }
  }

  const auto l2s = l2->stats();
  const auto ts = tiered->stats();
  const auto cs = cache.stats();
  std::printf(
      "redis outage test: %.0f ms run, %.0f ms outage, %ld operations, errors surfaced %ld, "
      "stale reads %ld, during the outage: %ld owner reads (%ld served from cache, %ld loaded), "
      "%ld reader hits, L1 served on L2 failure %llu; degraded %llu, L2 failures %llu, "
      "refused by breaker %llu, breaker transitions %llu, repaired keys %llu (clears %llu); "
      "time to recover %.0f ms after restart (breaker open_for %lld ms); final mismatches "
      "%ld cache / %ld redis\n",
      run_ms, outage_ms, operations.load(), errors_surfaced.load(), stale_reads.load(),
      reads_down.load(), hits_down.load(), loads_down.load(), reader_hits_down.load(),
      static_cast<unsigned long long>(ts.l1_served_on_failure),
      static_cast<unsigned long long>(cs.backend_errors),
      static_cast<unsigned long long>(l2s.failures), static_cast<unsigned long long>(l2s.rejected),
      static_cast<unsigned long long>(cs.tiers.count("l2") ? cs.tiers.at("l2").breaker_transitions
                                                           : 0),
      static_cast<unsigned long long>(l2s.repaired_keys),
      static_cast<unsigned long long>(l2s.repair_clears), recover_ms,
      static_cast<long long>(l2_options.breaker.open_for.count()), final_mismatches,
      redis_mismatches);
  std::fflush(stdout);

  INFO("first error: " << first_error);
  CHECK(errors_surfaced.load() == 0);
  CHECK(stale_reads.load() == 0);
  CHECK(final_mismatches == 0);
  CHECK(redis_mismatches == 0);
  // L1 kept serving while Redis was down.
  CHECK(hits_down.load() > 0);
  CHECK(ts.l1_served_on_failure > 0);
  // The outage was noticed and survived: the breaker opened, refused calls, and closed again.
  CHECK(l2s.rejected > 0);
  CHECK(cs.tiers.at("l2").breaker_transitions >= 3);
  CHECK(cs.backend_errors > 0);
  // Recovery by itself: within a probe interval, the reconnect backoff and the bus's heartbeat,
  // plus a margin for a loaded machine.
  CHECK(recover_ms >= 0);
  CHECK(recover_ms < 500 + 200 + 2 * 300 + 3000);
}
