// Loading: early refresh (XFetch), refresh-ahead, fail-safe, soft/hard timeouts, distributed
// single-flight (in-process lock service), get_many_or_load and warm. The cases with concurrent
// callers (stampedes among them) are in test_concurrency_loading.cpp.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/loading.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::Cache;
using ttlcache::CacheOptions;
using ttlcache::FailSafeOptions;
using ttlcache::FakeClock;
using ttlcache::MemoryOptions;
using ttlcache::Timed;

namespace {

using StringCache = Cache<std::string, std::string>;

using ttlcache_test::CountingBackend;
using ttlcache_test::fail_safe_backend;
using ttlcache_test::with_clock;

// An executor that keeps tasks until the test runs them: background work made deterministic.
struct ManualExecutor {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::deque<std::function<void()>>> tasks =
      std::make_shared<std::deque<std::function<void()>>>();
  ttlcache::Executor executor() const {
    return [m = mutex, q = tasks](std::function<void()> task) {
      std::lock_guard<std::mutex> lock(*m);
      q->push_back(std::move(task));
    };
  }
  std::size_t pending() const {
    std::lock_guard<std::mutex> lock(*mutex);
    return tasks->size();
  }
  void run_all() {
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard<std::mutex> lock(*mutex);
        if (tasks->empty()) return;
        task = std::move(tasks->front());
        tasks->pop_front();
      }
      task();
    }
  }
};

// Refresh-ahead at `at` of the TTL, with background work kept for the test to run.
CacheOptions refreshing(const std::shared_ptr<FakeClock>& clock, const ManualExecutor& executor,
                        double at) {
  CacheOptions options = with_clock(clock);
  options.loading.refresh_ahead_at = at;
  options.loading.executor = executor.executor();
  return options;
}

}  // namespace

TEST_CASE("early refresh (XFetch) refreshes with probability exp(-t_left / (beta * delta))",
          "[loading][xfetch]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  const double beta = GENERATE(1.0, 2.0);
  CacheOptions options = with_clock(clock);
  options.loading.early_refresh = true;
  options.loading.early_refresh_beta = beta;
  auto rng = std::make_shared<std::mt19937_64>(12345);
  options.loading.random = [rng] {
    return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
  };
  StringCache cache(backend, options);

  const auto ttl = 60s;
  const std::uint32_t delta_us = 200'000;                  // the entry's load took 200 ms
  for (const double ratio : {0.25, 0.5, 1.0, 2.0, 4.0}) {  // t_left as a multiple of delta
    const int trials = 4000;
    int refreshed = 0;
    for (int i = 0; i < trials; ++i) {
      backend->set_timed("k", backend->make_entry("v", ttl, delta_us));
      const auto t_left = std::chrono::microseconds(static_cast<long long>(ratio * delta_us));
      clock->advance(std::chrono::duration_cast<std::chrono::nanoseconds>(ttl) - t_left);
      bool ran = false;
      cache.get_or_load(
          "k",
          [&] {
            ran = true;
            return std::string("v2");
          },
          ttl);
      refreshed += ran ? 1 : 0;
      clock->advance(1h);  // past the stale window: the next trial starts clean
    }
    const double expected = std::exp(-ratio / beta);
    const double measured = static_cast<double>(refreshed) / trials;
    INFO("beta " << beta << ", t_left/delta " << ratio << ": expected " << expected << ", measured "
                 << measured);
    CHECK(std::abs(measured - expected) < 0.03);
  }
}

TEST_CASE("early refresh that fails keeps serving the current value", "[loading][xfetch]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.early_refresh = true;
  options.loading.random = [] { return 1e-12; };
  StringCache cache(backend, options);
  backend->set_timed("k", backend->make_entry("v1", 60s, 3'000'000'000));
  const auto r = cache.get_or_load_result(
      "k", []() -> std::string { throw std::runtime_error("db down"); }, 60s);
  CHECK(r.value == "v1");
  CHECK_FALSE(r.stale);
}

TEST_CASE("fail-safe serves a stale value within max_stale, never after it",
          "[loading][fail_safe]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock, 10min);
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  options.loading.fail_safe_ttl = 30s;
  StringCache cache(backend, options);
  int calls = 0;
  auto failing = [&]() -> std::string {
    ++calls;
    throw std::runtime_error("database unavailable");
  };

  cache.set("k", "good", 60s);
  clock->advance(61s);          // expired, stale copy kept
  CHECK_FALSE(cache.get("k"));  // plain reads never see stale values

  auto r = cache.get_or_load_result("k", failing, 60s);
  CHECK(r.value == "good");
  CHECK(r.stale);
  CHECK(calls == 1);
  CHECK(cache.stats().stale_served == 1);

  // Kept as a fail-safe copy for fail_safe_ttl: the source is not hammered meanwhile.
  clock->advance(10s);
  r = cache.get_or_load_result("k", failing, 60s);
  CHECK(r.value == "good");
  CHECK(r.stale);
  CHECK(calls == 1);
  // After fail_safe_ttl the source is tried again; still failing, still served stale.
  clock->advance(25s);
  r = cache.get_or_load_result("k", failing, 60s);
  CHECK(r.stale);
  CHECK(calls == 2);

  // Past the stale window (expiry + max_stale) the error reaches the caller.
  clock->advance(10min);
  CHECK_THROWS_WITH(cache.get_or_load("k", failing, 60s), "database unavailable");

  // Recovery: a working loader replaces the value, which is fresh again.
  CHECK(cache.get_or_load(
            "k", [] { return std::string("fresh"); }, 60s) == "fresh");
  CHECK_FALSE(cache.get_or_load_result("k", failing, 60s).stale);
}

TEST_CASE("without fail-safe a failing load throws even when a stale copy exists",
          "[loading][fail_safe]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  StringCache cache(backend, with_clock(clock));
  cache.set("k", "good", 60s);
  clock->advance(61s);
  CHECK_THROWS_AS(cache.get_or_load("k", []() -> std::string { throw std::runtime_error("x"); }),
                  std::runtime_error);
}

TEST_CASE("an erased entry is never served as fail-safe", "[loading][fail_safe]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  StringCache cache(backend, options);
  cache.set("k", "old", 60s);
  cache.erase("k");
  CHECK_THROWS(cache.get_or_load("k", []() -> std::string { throw std::runtime_error("x"); }));
}

TEST_CASE("refresh-ahead reloads a key read late in its TTL, so it never misses",
          "[loading][refresh_ahead]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  ManualExecutor executor;
  const CacheOptions options = refreshing(clock, executor, 0.8);
  StringCache cache(backend, options);
  int loads = 0;
  auto loader = [&] { return "v" + std::to_string(++loads); };

  CHECK(cache.get_or_load("k", loader, 10s) == "v1");
  clock->advance(5s);  // half-way: no refresh
  CHECK(cache.get_or_load("k", loader, 10s) == "v1");
  CHECK(executor.pending() == 0);
  clock->advance(4s);  // 90 % of the TTL: a refresh starts, the caller keeps v1
  CHECK(cache.get_or_load("k", loader, 10s) == "v1");
  CHECK(cache.get_or_load("k", loader, 10s) == "v1");
  CHECK(executor.pending() == 1);  // one refresh per key, however many reads
  executor.run_all();
  CHECK(loads == 2);
  clock->advance(3s);  // past the first TTL: still a hit, on the refreshed value
  const auto r = cache.get_or_load_result("k", loader, 10s);
  CHECK(r.hit);
  CHECK(r.value == "v2");
  CHECK(loads == 2);
}

namespace {
std::string load_by_name(const std::string& key) { return "f:" + key; }
}  // namespace

// get_or_load hands the engine a detail::LoaderRef, not the loader's type (so the load path is
// compiled once per Cache, not once per lambda): every kind of loader must still work, and a
// load that outlives the call must still run on a copy.
TEST_CASE("loaders of every kind: functions, const, mutable and move-only lambdas",
          "[loading][loader]") {
  auto clock = std::make_shared<FakeClock>();
  ManualExecutor executor;
  const CacheOptions options = refreshing(clock, executor, 0.8);
  StringCache cache(fail_safe_backend(clock), options);

  CHECK(cache.get_or_load("a", load_by_name, 10s) == "f:a");   // a function, by name
  CHECK(cache.get_or_load("b", &load_by_name, 10s) == "f:b");  // a function pointer
  const auto by_key = [](const std::string& key) { return "c:" + key; };
  CHECK(cache.get_or_load("c", by_key, 10s) == "c:c");
  CHECK(cache.get_or_load(
            "d", [] { return "literal"; }, 10s) == "literal");  // made into a V
  int calls = 0;
  auto counting = [calls]() mutable { return "m" + std::to_string(++calls); };
  CHECK(cache.get_or_load("e", counting, 10s) == "m1");

  // A move-only loader loads in the foreground; refresh-ahead cannot copy it, so it skips it.
  auto move_only = [p = std::make_unique<std::string>("u")] { return *p; };
  CHECK(cache.get_or_load("f", move_only, 10s) == "u");
  clock->advance(9s);
  CHECK(cache.get_or_load("f", move_only, 10s) == "u");
  CHECK(executor.pending() == 0);

  // A copyable one read as late is refreshed in the background, on a copy of it.
  CHECK(cache.get_or_load("e", counting, 10s) == "m1");
  REQUIRE(executor.pending() == 1);
  executor.run_all();
  CHECK(cache.get("e") == std::optional<std::string>("m2"));
  CHECK(counting() == "m2");  // the caller's own loader was copied, not called

  // Timeouts run the loader in the background, so a move-only one is refused, clearly.
  CacheOptions timed = with_clock(clock);
  timed.loading.hard_timeout = 1s;
  StringCache with_timeout(fail_safe_backend(clock), timed);
  auto move_only_too = [p = std::make_unique<std::string>("x")] { return *p; };
  CHECK_THROWS_WITH(with_timeout.get_or_load("g", move_only_too, 10s),
                    Catch::Contains("must be copyable"));
  CHECK_FALSE(with_timeout.get("g").has_value());
}

TEST_CASE("loading options that need entry times are rejected over a plain backend",
          "[loading][errors]") {
  CacheOptions options;
  options.loading.fail_safe = true;
  CHECK_THROWS_AS(StringCache(MemoryOptions<std::string, std::string>{}, options),
                  ttlcache::argument_error);
  CacheOptions bad;
  bad.loading.soft_timeout = 100ms;
  bad.loading.hard_timeout = 50ms;
  CHECK_THROWS_WITH(StringCache(MemoryOptions<std::string, std::string>{}, bad),
                    Catch::Contains("hard_timeout must be longer"));
}

TEST_CASE(
    "distributed single-flight: a holder that never stores lets the others load after "
    "lock_wait",
    "[loading][distributed]") {
  auto shared = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>();
  auto locks = std::make_shared<ttlcache::MemoryLockService>();
  auto held = locks->try_lock("users:load:user:2", 10s);  // a crashed peer's lock
  REQUIRE(held);
  CacheOptions options;
  options.name = "users";
  options.loading.lock_service = locks;
  options.loading.lock_wait = 50ms;
  StringCache cache(shared, options);
  CHECK(cache.get_or_load(
            "user:2", [] { return std::string("mine"); }, 60s) == "mine");
}

TEST_CASE("get_many_or_load: one lookup, one loader call with the missing keys, one write",
          "[loading][batch]") {
  auto backend = std::make_shared<CountingBackend>();
  StringCache cache(backend);
  cache.set("a", "cached-a", 60s);
  std::vector<std::vector<std::string>> asked;
  auto batch = [&](const std::vector<std::string>& keys) {
    asked.push_back(keys);
    std::vector<std::optional<std::string>> out;
    for (const auto& k : keys) {
      if (k == "missing") {
        out.emplace_back();  // the source has no such key
      } else {
        out.emplace_back("db-" + k);
      }
    }
    return out;
  };
  const std::vector<std::string> keys{"a", "b", "c", "b", "missing"};
  const auto got = cache.get_many_or_load(keys, batch, 60s);
  REQUIRE(got.size() == keys.size());
  CHECK(got[0] == std::optional<std::string>("cached-a"));
  CHECK(got[1] == std::optional<std::string>("db-b"));
  CHECK(got[2] == std::optional<std::string>("db-c"));
  CHECK(got[3] == std::optional<std::string>("db-b"));
  CHECK_FALSE(got[4]);
  REQUIRE(asked.size() == 1);
  CHECK(asked[0] == std::vector<std::string>{"b", "c", "missing"});
  CHECK(backend->get_many_calls.load() == 1);
  CHECK(backend->set_many_calls.load() == 1);
  CHECK(backend->single_gets.load() == 0);

  // Everything the source had is cached now: no loader call.
  asked.clear();
  const auto again = cache.get_many_or_load(std::vector<std::string>{"a", "b", "c"}, batch, 60s);
  CHECK(asked.empty());
  CHECK(again[2] == std::optional<std::string>("db-c"));

  // A loader answering with the wrong number of values is a clear error.
  CHECK_THROWS_WITH(
      cache.get_many_or_load(
          std::vector<std::string>{"x", "y"},
          [](const std::vector<std::string>&) { return std::vector<std::string>{"1"}; }, 60s),
      Catch::Contains("returned 1 values for 2 keys"));
  // A map answer: absent keys are misses.
  const auto mapped = cache.get_many_or_load(
      std::vector<std::string>{"m1", "m2"},
      [](const std::vector<std::string>&) {
        return std::map<std::string, std::string>{{"m2", "two"}};
      },
      60s);
  CHECK_FALSE(mapped[0]);
  CHECK(mapped[1] == std::optional<std::string>("two"));
}

TEST_CASE("get_many_or_load with fail-safe answers a failing batch from stale copies",
          "[loading][batch][fail_safe]") {
  auto clock = std::make_shared<FakeClock>();
  auto backend = fail_safe_backend(clock);
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  StringCache cache(backend, options);
  cache.set("a", "A", 10s);
  cache.set("b", "B", 10s);
  clock->advance(11s);
  auto failing = [](const std::vector<std::string>&) -> std::vector<std::string> {
    throw std::runtime_error("db down");
  };
  const auto got = cache.get_many_or_load(std::vector<std::string>{"a", "b"}, failing, 10s);
  CHECK(got[0] == std::optional<std::string>("A"));
  CHECK(got[1] == std::optional<std::string>("B"));
  CHECK(cache.stats().stale_served == 2);
  // One key without a stale copy: the error reaches the caller.
  CHECK_THROWS(cache.get_many_or_load(std::vector<std::string>{"a", "zzz"}, failing, 10s));
}

TEST_CASE("warm with a batch loader calls it once per batch", "[loading][warm]") {
  StringCache cache;
  std::vector<std::string> keys;
  for (int i = 0; i < 250; ++i) keys.push_back(std::to_string(i));
  std::atomic<int> batches{0};
  ttlcache::WarmOptions wo;
  wo.batch_size = 100;
  wo.concurrency = 2;
  const auto result = cache.warm(
      keys,
      [&](const std::vector<std::string>& batch) {
        ++batches;
        std::vector<std::string> out;
        for (const auto& k : batch) out.push_back("x" + k);
        return out;
      },
      60s, wo);
  CHECK(result.done == 250);
  CHECK(result.failed == 0);
  CHECK(batches.load() == 3);
  CHECK(cache.get("249") == std::optional<std::string>("x249"));
}

TEST_CASE("TimedCodec: round trip, and corrupt or truncated bytes are misses", "[loading][codec]") {
  using Codec = ttlcache::TimedCodec<std::string>;
  Timed<std::string> t;
  t.value = "payload";
  t.written_ms = 1700000000000;
  t.fresh_until_ms = 1700000060000;
  t.stale_until_ms = 1700003600000;
  t.load_us = 12345;
  t.fail_safe = true;
  const std::string bytes = Codec::encode(t);
  const auto back = Codec::decode(bytes);
  REQUIRE(back);
  CHECK(back->value == "payload");
  CHECK(back->written_ms == t.written_ms);
  CHECK(back->fresh_until_ms == t.fresh_until_ms);
  CHECK(back->stale_until_ms == t.stale_until_ms);
  CHECK(back->load_us == 12345);
  CHECK(back->fail_safe);
  for (std::size_t n = 0; n < Codec::header_size; ++n)
    CHECK_FALSE(Codec::decode(bytes.substr(0, n)));
  std::string bad_flag = bytes;
  bad_flag[Codec::header_size - 1] = '\7';
  CHECK_FALSE(Codec::decode(bad_flag));
  std::string bad_order = Codec::encode([&] {
    auto u = t;
    u.fresh_until_ms = u.stale_until_ms + 1;  // fresh longer than stale: not written by us
    return u;
  }());
  CHECK_FALSE(Codec::decode(bad_order));
  CHECK_FALSE(Codec::decode("plain json, not an envelope"));
}

namespace {
std::shared_ptr<ttlcache::FailSafeBackend<std::string, std::string>> tagged_fail_safe_backend(
    const std::shared_ptr<FakeClock>& clock) {
  MemoryOptions<std::string, ttlcache::Tagged<Timed<std::string>>> memory;
  memory.clock = clock;
  FailSafeOptions fs;
  fs.clock = clock;
  fs.max_stale = 1h;
  return std::make_shared<ttlcache::FailSafeBackend<std::string, std::string>>(
      ttlcache::make_tagged_memory_backend<std::string, Timed<std::string>>(memory), fs);
}
}  // namespace

TEST_CASE("tags with fail-safe: stale copies are served, but never once a tag was invalidated",
          "[loading][fail_safe][tags]") {
  auto clock = std::make_shared<FakeClock>();
  CacheOptions options = with_clock(clock);
  options.loading.fail_safe = true;
  options.loading.fail_safe_ttl = 30s;
  StringCache cache(tagged_fail_safe_backend(clock), options);
  auto failing = []() -> std::string { throw std::runtime_error("db down"); };
  const ttlcache::Tags tags{"user:1"};

  CHECK(cache.get_or_load(
            "profile:1", [] { return std::string("v1"); }, 60s, tags) == "v1");
  cache.invalidate_tag("user:1");
  CHECK_FALSE(cache.get("profile:1"));
  clock->advance(61s);
  // Invalidated before it expired: its stale copy is not served either.
  CHECK_THROWS_WITH(cache.get_or_load("profile:1", failing, 60s, tags), "db down");

  CHECK(cache.get_or_load(
            "profile:1", [] { return std::string("v2"); }, 60s, tags) == "v2");
  clock->advance(61s);
  const auto r = cache.get_or_load_result("profile:1", failing, 60s, tags);
  CHECK(r.stale);
  CHECK(r.value == "v2");
  // The fail-safe copy is stored under the tag too: invalidating it removes the copy.
  CHECK(cache.get("profile:1") == std::optional<std::string>("v2"));
  cache.invalidate_tag("user:1");
  CHECK_FALSE(cache.get("profile:1"));
  CHECK_THROWS(cache.get_or_load("profile:1", failing, 60s, tags));
}

TEST_CASE("tags with refresh-ahead: the reloaded entry keeps its tags", "[loading][tags]") {
  auto clock = std::make_shared<FakeClock>();
  ManualExecutor executor;
  const CacheOptions options = refreshing(clock, executor, 0.5);
  StringCache cache(tagged_fail_safe_backend(clock), options);
  int loads = 0;
  auto loader = [&] { return "v" + std::to_string(++loads); };
  const ttlcache::Tags tags{"files"};
  CHECK(cache.get_or_load("list", loader, 10s, tags) == "v1");
  clock->advance(6s);
  CHECK(cache.get_or_load("list", loader, 10s, tags) == "v1");
  executor.run_all();
  CHECK(cache.get("list") == std::optional<std::string>("v2"));
  cache.invalidate_tag("files");
  CHECK_FALSE(cache.get("list"));
}

TEST_CASE("stale-while-revalidate serves an expired value at once and reloads it in the background",
          "[loading][swr]") {
  auto clock = std::make_shared<FakeClock>();
  ManualExecutor executor;
  CacheOptions options = with_clock(clock);
  options.loading.stale_while_revalidate = 30s;
  options.loading.executor = executor.executor();
  StringCache cache(fail_safe_backend(clock), options);
  int loads = 0;
  auto loader = [&] { return "v" + std::to_string(++loads); };

  CHECK(cache.get_or_load("k", loader, 10s) == "v1");
  clock->advance(15s);          // expired 5 s ago: inside the 30 s window
  CHECK_FALSE(cache.get("k"));  // plain reads still see only fresh entries
  auto r = cache.get_or_load_result("k", loader, 10s);
  CHECK(r.value == "v1");
  CHECK(r.stale);
  CHECK(r.hit);
  CHECK(loads == 1);  // nobody waited for the database
  r = cache.get_or_load_result("k", loader, 10s);
  CHECK(r.value == "v1");
  CHECK(executor.pending() == 1);  // one reload per key, however many reads
  executor.run_all();
  CHECK(loads == 2);
  r = cache.get_or_load_result("k", loader, 10s);
  CHECK(r.value == "v2");
  CHECK_FALSE(r.stale);
  CHECK(cache.stats().stale_served == 2);

  // Past TTL + window the caller waits for a load, as without the option.
  clock->advance(10s + 30s);
  r = cache.get_or_load_result("k", loader, 10s);
  CHECK(r.value == "v3");
  CHECK_FALSE(r.stale);
  CHECK_FALSE(r.hit);
  CHECK(executor.pending() == 0);
}

TEST_CASE(
    "stale-while-revalidate: a failed reload under fail-safe keeps the copy for fail_safe_ttl",
    "[loading][swr][fail_safe]") {
  auto clock = std::make_shared<FakeClock>();
  ManualExecutor executor;
  CacheOptions options = with_clock(clock);
  options.loading.stale_while_revalidate = 5min;
  options.loading.executor = executor.executor();
  const bool fail_safe = GENERATE(true, false);
  options.loading.fail_safe = fail_safe;
  options.loading.fail_safe_ttl = 20s;
  StringCache cache(fail_safe_backend(clock), options);
  int calls = 0;
  auto failing = [&]() -> std::string {
    ++calls;
    throw std::runtime_error("db down");
  };
  cache.set("k", "v1", 10s);
  clock->advance(11s);
  CHECK(cache.get_or_load_result("k", failing, 10s).stale);
  executor.run_all();
  CHECK(calls == 1);
  auto r = cache.get_or_load_result("k", failing, 10s);
  CHECK(r.value == "v1");
  CHECK(r.stale);
  if (fail_safe) {
    CHECK(executor.pending() == 0);  // the copy stands in: no reload for fail_safe_ttl
    clock->advance(21s);
    CHECK(cache.get_or_load_result("k", failing, 10s).stale);
  }
  CHECK(executor.pending() == 1);  // retried, in the background
  executor.run_all();
  CHECK(calls == 2);
  CHECK(cache.stats().load_failures == 2);
}

TEST_CASE("stale-while-revalidate never serves an erased or invalidated entry",
          "[loading][swr][tags]") {
  auto clock = std::make_shared<FakeClock>();
  ManualExecutor executor;
  CacheOptions options = with_clock(clock);
  options.loading.stale_while_revalidate = 5min;
  options.loading.executor = executor.executor();
  StringCache cache(tagged_fail_safe_backend(clock), options);
  int loads = 0;
  auto loader = [&] { return "v" + std::to_string(++loads); };
  const ttlcache::Tags tags{"user:1"};

  CHECK(cache.get_or_load("a", loader, 10s, tags) == "v1");
  CHECK(cache.get_or_load("b", loader, 10s) == "v2");
  clock->advance(11s);
  cache.invalidate_tag("user:1");
  cache.erase("b");
  auto r = cache.get_or_load_result("a", loader, 10s, tags);
  CHECK(r.value == "v3");
  CHECK_FALSE(r.stale);
  r = cache.get_or_load_result("b", loader, 10s);
  CHECK(r.value == "v4");
  CHECK_FALSE(r.stale);
  CHECK(executor.pending() == 0);
  CHECK(cache.stats().stale_served == 0);

  // A tagged entry inside the window is served stale and reloaded under its tags.
  clock->advance(11s);
  r = cache.get_or_load_result("a", loader, 10s, tags);
  CHECK(r.value == "v3");
  CHECK(r.stale);
  executor.run_all();
  CHECK(cache.get("a") == std::optional<std::string>("v5"));
  cache.invalidate_tag("user:1");
  CHECK_FALSE(cache.get("a"));
}

TEST_CASE("stale-while-revalidate is rejected without entry times or when negative",
          "[loading][swr][errors]") {
  CacheOptions options;
  options.loading.stale_while_revalidate = 1s;
  CHECK_THROWS_WITH(StringCache(MemoryOptions<std::string, std::string>{}, options),
                    Catch::Contains("stale_while_revalidate"));
  auto clock = std::make_shared<FakeClock>();
  CacheOptions negative = with_clock(clock);
  negative.loading.stale_while_revalidate = -1s;
  CHECK_THROWS_AS(StringCache(fail_safe_backend(clock), negative), ttlcache::argument_error);
}
