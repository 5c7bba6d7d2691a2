// The [concurrency] cases of dynamic and adaptive TTL: DynamicTTL reloads, adaptive estimates
// (per type, per key group, through a Cache, on its refresh threads) and Jitter. Apart from the
// other tests so that the TSan build (scripts/test) compiles only these (their other tests:
// test_dynamic_ttl.cpp, test_adaptive_ttl.cpp, test_adaptive_groups.cpp, test_adaptive_cache.cpp,
// test_adaptive_reload.cpp, test_jitter.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/adaptive.hpp"
#include "support/adaptive_cache.hpp"
#include "support/calendar.hpp"
#include "ttlcache/builder.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/jitter.hpp"
#include "ttlcache/metrics_export.hpp"

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::Context;
using ttlcache::DynamicTTL;
using ttlcache::EntryOptions;
using ttlcache::FakeClock;
using ttlcache::Jitter;
using ttlcache_test::adaptive_config;
using ttlcache_test::at;
using ttlcache_test::RecordingPolicy;
using Kind = ttlcache::TtlObservation::Kind;

// ---- DynamicTTL (test_dynamic_ttl.cpp) ----

TEST_CASE("readers run concurrently with reloads, good and bad", "[dynamic_ttl][concurrency]") {
  auto clock = std::make_shared<FakeClock>(at(0, 20));
  const std::string a = R"({"time_zone": "UTC", "jitter_percent": 0, "content_types": {"t": 60}})";
  const std::string b =
      R"({"time_zone": "UTC", "jitter_percent": 5, "seed": 3, "content_types": {"t": 120},
          "rules": [{"field": "x", "op": "present", "factor": 2}],
          "windows": [{"from": "19:00", "to": "21:00", "factor": 1.5}]})";
  auto policy = DynamicTTL::from_json(a, clock);
  std::atomic<bool> stop{false};
  std::atomic<long> bad_values{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      const Context ctx{{"x", r}};
      while (!stop.load(std::memory_order_relaxed)) {
        const auto ms = policy->ttl_for("t", ctx).count();
        // Policy a: 60 s exactly. Policy b: 120 x2 x1.5 = 360 s +-5 %.
        const bool ok = ms == 60'000 || (ms >= 342'000 && ms <= 378'000);
        if (!ok) bad_values.fetch_add(1);
        if (r == 0) (void)policy->explain("t", ctx).to_string();
        if (r == 1) (void)policy->config();
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  int rejected = 0;
  for (int i = 0; i < 300; ++i) {
    policy->load_json(i % 2 == 0 ? b : a);
    try {
      policy->load_json(R"({"min_ttl": 9, "max_ttl": 1})");
    } catch (const ttlcache::config_error&) {
      ++rejected;
    }
    clock->advance(1s);
  }
  while (reads.load() < 1000) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(bad_values.load() == 0);
  CHECK(rejected == 300);
  CHECK(policy->ttl_for("t", {}).count() == 60'000);  // the last good load was a
}

// ---- adaptive TTL per content type (test_adaptive_ttl.cpp) ----

TEST_CASE("adaptive: observe and ttl_for from many threads, with reloads",
          "[dynamic_ttl][adaptive][concurrency]") {
  ttlcache_test::AdaptiveFixture f;
  std::atomic<bool> stop{false};
  std::atomic<long> out_of_bounds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20'000 && !stop.load(std::memory_order_relaxed); ++i) {
        f.see(i % 3 == 0 ? Kind::write : Kind::read, t == 0 ? "t" : "other");
        const auto ms = f.policy->ttl_for("t", {}).count();
        if (ms < 1'000 || ms > 7'200'000) out_of_bounds.fetch_add(1);
        if (t == 2 && i % 1000 == 0) (void)f.policy->adaptive_stats();
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    auto c = adaptive_config(100.0);
    c.adaptive.enabled = i % 5 != 4;
    f.policy->reload(c);
    f.clock->advance(1s);
  }
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(out_of_bounds.load() == 0);
}

// ---- adaptive TTL per key group (test_adaptive_groups.cpp) ----

TEST_CASE("adaptive groups: many groups observed and read from several threads, with reloads",
          "[dynamic_ttl][adaptive][groups][concurrency]") {
  ttlcache_test::GroupFixture f(adaptive_config(8.0, 20));
  std::atomic<long> out_of_bounds{0};
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200'000 && !stop.load(); ++i) {
        calls.fetch_add(1, std::memory_order_relaxed);
        const std::string group = "g" + std::to_string((i * 7 + t) % 50);
        f.see(i % 4 == 0 ? Kind::reload_changed : Kind::read, group);
        const auto ms = f.policy->ttl_for_group("t", group, {}).count();
        if (ms < 1'000 || ms > 7'200'000) out_of_bounds.fetch_add(1);
        if (t == 2 && i % 500 == 0) {
          (void)f.policy->adaptive_stats();
          (void)f.policy->explain("t", group, {});
        }
      }
    });
  }
  // 200 reloads while the threads run (they stop after them, or after 200,000 calls each),
  // every fourth turning adaptation off, which frees the groups under the readers' feet.
  for (int reload = 0; reload < 200; ++reload) {
    auto c = adaptive_config(8.0, 20);
    c.adaptive.enabled = reload % 4 != 3;
    f.policy->reload(c);
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : threads) t.join();
  auto off = adaptive_config(8.0, 20);
  off.adaptive.enabled = false;
  f.policy->reload(off);  // a clean start for the check below
  f.policy->reload(adaptive_config(8.0, 20));
  INFO(calls.load() << " calls during 200 reloads");
  CHECK(out_of_bounds.load() == 0);
  // After the threads: 50 groups into a bound of 20, on one thread.
  for (int g = 0; g < 50; ++g) f.see(Kind::read, "g" + std::to_string(g));
  const auto all = f.policy->adaptive_stats();
  const auto* t = f.stats_of(all);
  REQUIRE(t != nullptr);
  CHECK(t->groups.size() == 20);
  CHECK(t->untracked_group_observations == 30);
}

// ---- adaptive TTL through a Cache (test_adaptive_cache.cpp, test_adaptive_reload.cpp) ----

TEST_CASE("adaptive cache: stores, tag invalidations and stats from many threads",
          "[adaptive][cache][concurrency]") {
  ttlcache_test::AdaptiveCacheFixture f;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&f, t] {
      for (int i = 0; i < 2'000; ++i) {
        const std::string tag = "u:" + std::to_string(i % 50);
        const char* type = t == 0 ? "view" : "list";
        if (t == 2 && i % 3 == 0) {
          f.cache.invalidate_tag(tag);
        } else if (t == 2 && i % 100 == 1) {
          (void)ttlcache::to_prometheus(f.cache.stats());
        } else {
          f.cache.set("k" + std::to_string(i % 200), "v",
                      EntryOptions().content_type(type).tag(tag));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto s = f.cache.stats();
  REQUIRE(s.adaptive_ttl.count("view") == 1);
  // Every set() of "view" is a told change; invalidations of its tags add to them.
  CHECK(s.adaptive_ttl.at("view").told_changes >= 2'000);
  CHECK(s.adaptive_ttl.at("view").unseen_changes == 0);
}

TEST_CASE("adaptive reload: refreshes compared on the cache's own threads while others read",
          "[adaptive][reload][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  auto cache = CacheBuilder<std::string, std::string>("reload-threads")
                   .clock(clock)
                   .ttl_policy(rec)
                   .refresh_ahead(0.5)
                   .background_threads(2)
                   .build();
  std::atomic<int> loads{0};
  auto loader = [&loads] { return "v" + std::to_string(loads.fetch_add(1) % 3); };
  const auto opts = EntryOptions().content_type("feed");
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1'000; ++i) {
        cache.get_or_load("k" + std::to_string((i + t) % 20), loader, opts);
        clock->advance(20ms);  // 60 s in all: entries pass half their 60 s TTL
      }
    });
  }
  for (auto& th : threads) th.join();
  // One more refresh for sure (of a key no thread used), then wait (bounded) until a worker
  // has compared it.
  cache.get_or_load("final", loader, opts);
  const std::size_t before = rec->reloads().size();
  clock->advance(40s);
  cache.get_or_load("final", loader, opts);
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (rec->reloads().size() == before && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  INFO("no background refresh reported within 20 s");
  REQUIRE(rec->reloads().size() > before);
  for (const auto& r : rec->reloads()) {
    CHECK(r.type == "feed");
    CHECK(r.age > 0ms);
  }
}

// ---- Jitter (test_jitter.cpp) ----

TEST_CASE("jitter: threads drawing from one seeded Jitter get exactly the seeded draws",
          "[jitter][concurrency]") {
  constexpr int threads = 4;
  constexpr int per_thread = 5'000;
  const Jitter shared(15.0, 99);
  std::vector<std::vector<std::int64_t>> seen(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) seen[t].push_back(shared.apply(100s).count());
    });
  }
  for (auto& w : workers) w.join();
  std::vector<std::int64_t> all;
  for (const auto& s : seen) all.insert(all.end(), s.begin(), s.end());
  const Jitter serial(15.0, 99);
  std::vector<std::int64_t> expected;
  for (int i = 0; i < threads * per_thread; ++i) expected.push_back(serial.apply(100s).count());
  std::sort(all.begin(), all.end());
  std::sort(expected.begin(), expected.end());
  CHECK(all == expected);  // no draw lost or repeated
}
