// Tests for ResilientBackend (failure policy, breaker, repair of failed writes) and for the
// tiered backend serving L1 while L2 fails, over in-process backends that fail on demand.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "conformance/backend_conformance.hpp"
#include "support/flaky_store.hpp"
#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::BreakerState;
using ttlcache::FailurePolicy;
using ttlcache::FakeClock;
using ttlcache::ResilientBackend;
using ttlcache::ResilientOptions;

namespace {

using StringBackend = ttlcache::Backend<std::string, std::string>;
using StringCache = ttlcache::Cache<std::string, std::string>;
using Resilient = ResilientBackend<std::string, std::string>;

using ttlcache_test::FlakyStore;
using ttlcache_test::FlakyStoreOf;
using ttlcache_test::resilient_options;

}  // namespace

TEST_CASE("a healthy resilient backend keeps the Backend contract", "[resilient][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [clock]() -> std::shared_ptr<StringBackend> {
    return std::make_shared<Resilient>(std::make_shared<FlakyStore>(clock),
                                       resilient_options(FailurePolicy::propagate, clock));
  };
  fixture.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("degrade: a failing backend reads as misses and drops writes, never throws",
          "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto backend = std::make_shared<Resilient>(
      store, resilient_options(FailurePolicy::degrade, clock, /*threshold=*/100));
  backend->set("a", "1", 1min);
  store->down = true;

  CHECK(backend->get("a") == std::nullopt);
  CHECK(backend->get_many({"a", "b"}) == std::vector<std::optional<std::string>>(2));
  CHECK_FALSE(backend->contains("a"));
  CHECK(backend->ttl("a") == std::nullopt);
  CHECK(backend->size() == 0);
  // Bad input is not a backend failure: it still throws.
  CHECK_THROWS_AS(backend->set("a", "3", 0ms), ttlcache::argument_error);
  CHECK_NOTHROW(backend->set("a", "2", 1min));
  CHECK_NOTHROW(backend->set_many({{"b", "x", 1min}}));
  CHECK_FALSE(backend->erase("a"));
  CHECK_NOTHROW(backend->clear());

  const auto s = backend->stats();
  CHECK(s.failures == 9);
  CHECK(s.degraded == 9);
  CHECK(s.failed_writes == 4);
  CHECK(s.rejected == 0);
  CHECK(s.breaker == BreakerState::closed);
}

TEST_CASE("propagate: errors pass through, and an open breaker fails fast without calling",
          "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  std::vector<std::string> changes;
  auto options = resilient_options(FailurePolicy::propagate, clock, 3);
  options.on_breaker_change = [&](BreakerState from, BreakerState to) {
    changes.push_back(std::string(ttlcache::to_string(from)) + "->" +
                      std::string(ttlcache::to_string(to)));
  };
  auto backend = std::make_shared<Resilient>(store, options);
  CHECK(backend->name() == "flaky");
  store->down = true;
  for (int i = 0; i < 3; ++i) {
    CHECK_THROWS_WITH(backend->get("k"), Catch::Contains("connection refused"));
  }
  REQUIRE(backend->stats().breaker == BreakerState::open);
  const int calls_before = store->calls.load();
  try {
    backend->get("user:1");
    FAIL("no exception while the breaker is open");
  } catch (const ttlcache::breaker_open_error& e) {
    CHECK(e.backend() == "flaky");
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("ttlcache flaky backend: get of key"));
    CHECK_THAT(what, Catch::Contains("user:1"));
    CHECK_THAT(what, Catch::Contains("circuit breaker open after 3 consecutive failures"));
    CHECK_THAT(what, Catch::Contains("next probe in 1000 ms"));
  }
  // A breaker_open_error is a connection_error, so existing handlers catch it.
  CHECK_THROWS_AS(backend->set("k", "v", 1min), ttlcache::connection_error);
  CHECK(store->calls.load() == calls_before);  // fail fast: the store was not called

  // After the cool-down one probe goes through; the store is back, so the breaker closes.
  store->down = false;
  clock->advance(1s);
  CHECK(backend->get("k") == std::nullopt);
  CHECK(backend->stats().breaker == BreakerState::closed);
  backend->set("k", "v", 1min);
  CHECK(backend->get("k") == std::optional<std::string>("v"));
  CHECK(changes ==
        std::vector<std::string>{"closed->open", "open->half_open", "half_open->closed"});
  CHECK(backend->stats().rejected == 2);
}

TEST_CASE("a write that failed during an outage never lets the old value come back",
          "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  const auto policy = GENERATE(FailurePolicy::degrade, FailurePolicy::propagate);
  auto backend = std::make_shared<Resilient>(store, resilient_options(policy, clock, 2));
  backend->set("updated", "old", 1h);
  backend->set("deleted", "old", 1h);
  backend->set("untouched", "same", 1h);

  store->down = true;
  // The source of truth changed both keys; the store did not hear of it.
  try {
    backend->set("updated", "new", 1h);
  } catch (const ttlcache::connection_error&) {
  }
  try {
    backend->erase("deleted");
  } catch (const ttlcache::connection_error&) {
  }
  // Refused by the open breaker: remembered just the same.
  try {
    backend->set_many({{"batch", "new", 1h}});
  } catch (const ttlcache::connection_error&) {
  }
  CHECK(backend->stats().pending_keys == 3);
  CHECK(store->raw().get("updated") == std::optional<std::string>("old"));
  store->raw().set("batch", "old", 1h);

  store->down = false;
  clock->advance(1s);
  // The first call after recovery erases the remembered keys before it is made.
  CHECK(backend->get("updated") == std::nullopt);
  CHECK(backend->get("deleted") == std::nullopt);
  CHECK(backend->get("batch") == std::nullopt);
  CHECK(backend->get("untouched") == std::optional<std::string>("same"));
  const auto s = backend->stats();
  CHECK(s.pending_keys == 0);
  CHECK(s.repairs == 1);
  CHECK(s.repaired_keys == 3);
  CHECK(s.breaker == BreakerState::closed);
}

TEST_CASE("while the repair fails the backend is not trusted, and too many keys clear it instead",
          "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto options = resilient_options(FailurePolicy::degrade, clock, 100);
  options.max_failed_keys = 2;
  auto backend = std::make_shared<Resilient>(store, options);
  backend->set("a", "old", 1h);
  backend->set("other", "x", 1h);

  store->down = true;
  backend->set("a", "new", 1h);
  CHECK(backend->stats().pending_keys == 1);

  // Every call first tries to erase "a"; while that fails, the call is not made (a miss here,
  // under degrade), even for a key that was never written during the outage.
  CHECK(backend->get("other") == std::nullopt);
  CHECK(backend->stats().pending_keys == 1);
  store->down = false;
  CHECK(backend->get("other") == std::optional<std::string>("x"));
  CHECK(backend->get("a") == std::nullopt);

  // Overflow: three failed keys with room for two -> the repair clears everything.
  store->down = true;
  backend->set("k1", "v", 1h);
  backend->set("k2", "v", 1h);
  backend->set("k3", "v", 1h);
  auto s = backend->stats();
  CHECK(s.pending_keys == 0);
  CHECK(s.pending_clear);
  store->down = false;
  CHECK(backend->get("other") == std::nullopt);  // cleared with the rest
  s = backend->stats();
  CHECK_FALSE(s.pending_clear);
  CHECK(s.repair_clears == 1);
  CHECK(store->raw().size() == 0);
}

TEST_CASE("a backend destroyed with keys still to repair erases them first", "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto backend =
      std::make_shared<Resilient>(store, resilient_options(FailurePolicy::degrade, clock, 100));
  backend->set("k", "old", 1h);
  store->down = true;
  backend->set("k", "new", 1h);  // fails: "old" stays in the store
  store->down = false;
  REQUIRE(store->raw().get("k") == std::optional<std::string>("old"));
  REQUIRE(backend->stats().pending_keys == 1);
  backend.reset();  // the process shuts down before its next call
  CHECK(store->raw().get("k") == std::nullopt);
}

TEST_CASE("a repair tells its listener what it erased, then that it cleared everything",
          "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto options = resilient_options(FailurePolicy::degrade, clock, 100);
  options.max_failed_keys = 2;
  auto backend = std::make_shared<Resilient>(store, options);
  std::vector<std::string> erased;
  int clears = 0;
  backend->on_repaired([&](const std::vector<std::string>& keys, bool cleared) {
    erased.insert(erased.end(), keys.begin(), keys.end());
    if (cleared) ++clears;
  });
  store->down = true;
  backend->set("a", "new", 1h);
  backend->erase("b");
  CHECK(erased.empty());  // nothing is erased while the store is down
  store->down = false;
  clock->advance(1s);
  CHECK(backend->get("c") == std::nullopt);  // the first call repairs
  std::sort(erased.begin(), erased.end());
  CHECK(erased == std::vector<std::string>{"a", "b"});
  CHECK(clears == 0);

  // Too many failed keys: one clearing repair, reported as such.
  erased.clear();
  store->down = true;
  backend->set("k1", "v", 1h);
  backend->set("k2", "v", 1h);
  backend->set("k3", "v", 1h);
  store->down = false;
  clock->advance(1s);
  CHECK(backend->get("c") == std::nullopt);
  CHECK(clears == 1);
  CHECK(erased.empty());
}

TEST_CASE("a failed clear or tag invalidation makes the repair clear everything", "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
  memory.clock = clock;
  auto tagged = ttlcache::make_tagged_memory_backend<std::string, std::string>(memory);
  auto backend =
      std::make_shared<Resilient>(tagged, resilient_options(FailurePolicy::degrade, clock, 100));
  StringCache cache(backend);
  // Tags work through the wrapper.
  cache.set("f1", "v", 1h, ttlcache::Tags{"user:1"});
  cache.set("f2", "v", 1h, ttlcache::Tags{"user:2"});
  cache.invalidate_tag("user:1");
  CHECK(cache.get("f1") == std::nullopt);
  CHECK(cache.get("f2") == std::optional<std::string>("v"));
  CHECK(backend->stats().pending_clear == false);
  // And a backend without tags says so (argument_error, not degraded).
  Resilient plain(std::make_shared<FlakyStore>(clock));
  auto& tags = ttlcache::detail::tag_support<std::string, std::string>(plain);
  CHECK_THROWS_AS(tags.invalidate_tags({std::string("x")}), ttlcache::argument_error);
}

TEST_CASE("the resilient backend reports to the cache's statistics and listeners",
          "[resilient][stats]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto options = resilient_options(FailurePolicy::degrade, clock, 2);
  options.tier = "redis";
  auto backend = std::make_shared<Resilient>(store, options);
  std::vector<std::string> events;
  ttlcache::CacheOptions cache_options;
  cache_options.stats.clock = clock;
  cache_options.listeners.on_breaker_change = [&](const ttlcache::BreakerStateEvent& e) {
    events.push_back(std::string(e.tier) + ":" + std::string(ttlcache::to_string(e.to)));
  };
  cache_options.listeners.on_backend_error = [&](const ttlcache::BackendErrorEvent& e) {
    events.push_back(std::string(e.backend) + " " + std::string(e.operation));
  };
  StringCache cache(backend, cache_options);
  backend->attach_stats(cache.shared_stats_recorder());
  CHECK(cache.stats().tiers.at("redis").breaker == BreakerState::closed);
  CHECK(cache.stats().entries == 42u);  // StatsSource forwarded

  store->down = true;
  CHECK(cache.get_or_load("k", [] { return std::string("db"); }) == "db");
  CHECK(cache.get("k") == std::nullopt);
  auto s = cache.stats();
  CHECK(s.backend_errors == 4);  // get, the leader's second get, set (refused), get (refused)
  CHECK(s.tiers.at("redis").breaker == BreakerState::open);
  CHECK(s.tiers.at("redis").errors == 4);
  CHECK(s.tiers.at("redis").breaker_transitions == 1);

  store->down = false;
  clock->advance(1s);
  CHECK(cache.get("k") == std::nullopt);
  s = cache.stats();
  CHECK(s.tiers.at("redis").breaker == BreakerState::closed);
  CHECK(s.tiers.at("redis").breaker_transitions == 3);
  CHECK(events == std::vector<std::string>{"flaky get", "redis:open", "flaky get", "flaky set",
                                           "flaky get", "redis:half_open", "redis:closed"});
}

TEST_CASE("tiered over a failing L2: L1 keeps serving, writes update or evict L1 locally",
          "[resilient][tiered]") {
  auto clock = std::make_shared<FakeClock>();
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  auto bus = std::make_shared<ttlcache::InProcessBus>(hub);
  auto store = std::make_shared<FlakyStore>(clock);
  ttlcache::MemoryOptions<std::string, std::string> memory;
  memory.clock = clock;
  auto l1 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(memory);
  auto l2 =
      std::make_shared<Resilient>(store, resilient_options(FailurePolicy::propagate, clock, 2));
  ttlcache::TieredOptions tiered_options;
  tiered_options.l1_max_ttl = 10s;
  auto tiered = std::make_shared<ttlcache::TieredBackend<std::string, std::string>>(
      l1, l2, bus, tiered_options, clock);
  ResilientOptions outer_options;
  outer_options.policy = FailurePolicy::degrade;
  outer_options.breaker.enabled = false;       // the breaker sits at L2, below L1
  outer_options.repair_failed_writes = false;  // and so does the repair
  StringCache cache(std::make_shared<Resilient>(tiered, outer_options));

  cache.set("a", "1", 1h);
  cache.set("b", "1", 1h);
  cache.set("c", "1", 1h);
  REQUIRE(cache.get("a") == std::optional<std::string>("1"));

  // Redis goes away, and with it the bus: L1 is bypassed for reads, yet serves when L2 fails.
  store->down = true;
  bus->set_connected(false);
  CHECK(cache.get("a") == std::optional<std::string>("1"));
  CHECK(cache.get("a") == std::optional<std::string>("1"));  // L2's breaker is open by now
  CHECK(l2->stats().breaker == BreakerState::open);
  cache.set("b", "2", 1h);  // L2 refuses; L1 takes the new value
  CHECK(cache.get("b") == std::optional<std::string>("2"));
  cache.erase("c");  // L2 refuses; L1 drops it
  CHECK(cache.get("c") == std::nullopt);
  CHECK(cache.get("never") == std::nullopt);  // neither tier knows: a (degraded) miss
  const auto t = tiered->stats();
  CHECK(t.l1_served_on_failure >= 3);
  CHECK(t.l2_failures >= 4);
  const auto s = cache.stats();
  CHECK(s.tiers.at("l1").hits >= 3);

  // Redis and the bus come back; the L2 layer repairs b and c before trusting L2 again.
  store->down = false;
  bus->set_connected(true);  // resets L1
  clock->advance(1s);
  CHECK(cache.get("b") == std::nullopt);  // the stale "1" did not come back from L2
  CHECK(cache.get("c") == std::nullopt);
  CHECK(cache.get("a") == std::optional<std::string>("1"));
  CHECK(store->raw().get("b") == std::nullopt);
  CHECK(l2->stats().breaker == BreakerState::closed);
  CHECK(l2->stats().repaired_keys == 2);
}

TEST_CASE("tiered without serve_l1_when_l2_fails: a failed set evicts the key from L1",
          "[resilient][tiered]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  ttlcache::MemoryOptions<std::string, std::string> memory;
  memory.clock = clock;
  auto l1 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(memory);
  ttlcache::TieredOptions tiered_options;
  tiered_options.serve_l1_when_l2_fails = false;
  ttlcache::TieredBackend<std::string, std::string> tiered(l1, store, nullptr, tiered_options,
                                                           clock);
  tiered.set("k", "old", 1h);
  store->down = true;
  CHECK_THROWS_AS(tiered.set("k", "new", 1h), ttlcache::connection_error);
  CHECK_FALSE(l1->contains("k"));  // neither the old value nor the unconfirmed new one
  CHECK_THROWS_AS(tiered.get("k"), ttlcache::connection_error);
}

TEST_CASE("under a fail-safe backend: ResilientBackend wraps the Timed<V> store",
          "[resilient][fail_safe]") {
  using Timed = ttlcache::Timed<std::string>;
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStoreOf<Timed>>(clock);
  auto resilient = std::make_shared<ResilientBackend<std::string, Timed>>(
      store, resilient_options(FailurePolicy::degrade, clock, 2));
  ttlcache::FailSafeOptions fail_safe;
  fail_safe.clock = clock;
  auto backend =
      std::make_shared<ttlcache::FailSafeBackend<std::string, std::string>>(resilient, fail_safe);
  StringCache cache(backend);
  cache.set("k", "old", 1min);
  REQUIRE(cache.get("k") == std::optional<std::string>("old"));

  store->down = true;
  CHECK(cache.get("k") == std::nullopt);
  CHECK_NOTHROW(cache.set("k", "new", 1min));
  CHECK(cache.get_or_load("other", [] { return std::string("db"); }) == "db");
  CHECK(resilient->stats().breaker == BreakerState::open);

  store->down = false;
  clock->advance(1s);
  CHECK(cache.get("k") == std::nullopt);  // repaired: "old" is gone, not served
  CHECK(cache.get_or_load("k", [] { return std::string("new"); }) == "new");
  CHECK(resilient->stats().repaired_keys >= 1);
}

TEST_CASE("call_budget: each call of the layer runs under one deadline", "[resilient][deadline]") {
  // A backend that reports the budget its remote waits would get.
  struct BudgetProbe final : ttlcache::Backend<std::string, std::string> {
    std::chrono::milliseconds seen{-1};
    std::string_view name() const noexcept override { return "probe"; }
    std::optional<std::string> get(const std::string&) override {
      seen = ttlcache::remaining_budget(10s);
      return std::nullopt;
    }
    void set(const std::string&, std::string, std::chrono::milliseconds) override {}
    bool erase(const std::string&) override { return false; }
    bool contains(const std::string&) override { return false; }
    std::optional<std::chrono::milliseconds> ttl(const std::string&) override {
      return std::nullopt;
    }
    void clear() override {}
    std::size_t size() override { return 0; }
  };
  auto probe = std::make_shared<BudgetProbe>();
  ResilientOptions o;
  o.call_budget = 200ms;
  Resilient with_budget(probe, o);
  with_budget.get("k");
  CHECK(probe->seen > 0ms);
  CHECK(probe->seen <= 200ms);
  CHECK(ttlcache::remaining_budget(10s) == 10s);  // the scope ended with the call

  Resilient without(probe, ResilientOptions{});
  without.get("k");
  CHECK(probe->seen == 10s);
  o.call_budget = -1ms;
  CHECK_THROWS_AS(Resilient(probe, o), ttlcache::argument_error);
}

TEST_CASE("after a long outage the repair is spread over the first calls", "[resilient]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto backend =
      std::make_shared<Resilient>(store, resilient_options(FailurePolicy::degrade, clock));
  for (int i = 0; i < 200; ++i) backend->set("k" + std::to_string(i), "old", 1h);
  store->down = true;
  for (int i = 0; i < 200; ++i) backend->set("k" + std::to_string(i), "new", 1h);
  REQUIRE(backend->stats().pending_keys == 200);
  store->down = false;
  clock->advance(1s);
  // The first call erases its own key and a bounded share of the others, not all 200.
  const int before = store->calls.load();
  CHECK(backend->get("k150") == std::nullopt);
  const int spent = store->calls.load() - before;
  CHECK(spent <= 35);
  CHECK(backend->stats().pending_keys < 200);
  CHECK(backend->stats().pending_keys >= 200 - 34);
  // Every remembered key is erased before it is read: none of the old values comes back.
  for (int i = 0; i < 200; ++i) CHECK(backend->get("k" + std::to_string(i)) == std::nullopt);
  // A call without a key (size) finishes the repair first.
  for (int i = 0; i < 200; ++i) store->raw().set("k" + std::to_string(i), "old", 1h);
  store->down = true;
  for (int i = 0; i < 100; ++i) backend->set("k" + std::to_string(i), "new", 1h);
  store->down = false;
  clock->advance(1s);
  backend->size();
  CHECK(backend->stats().pending_keys == 0);
  CHECK(store->raw().get("k99") == std::nullopt);
  CHECK(store->raw().get("k100") == std::optional<std::string>("old"));
}

TEST_CASE("GuardedStampStore: tag versions go through the same breaker as the values",
          "[resilient][tags]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto guard =
      std::make_shared<Resilient>(store, resilient_options(FailurePolicy::degrade, clock, 2));
  auto stamps = std::make_shared<ttlcache::MemoryStampStore>();
  ttlcache::GuardedStampStore<std::string, std::string> guarded(stamps, guard);
  const auto v = guarded.acquire_stamps({"t:a"}, 1h);
  CHECK(guarded.read_stamps({"t:a"}).at(0) == std::optional<std::uint64_t>(v.at(0)));
  // The values' server fails: the breaker opens, and version reads fail fast with it.
  store->down = true;
  guard->get("x");
  guard->get("y");
  REQUIRE(guard->stats().breaker == BreakerState::open);
  CHECK_THROWS_AS(guarded.read_stamps({"t:a"}), ttlcache::breaker_open_error);
  // A refused bump makes the repair clear the cache, as a failed invalidation does.
  CHECK_THROWS_AS(guarded.bump_stamps({"t:a"}, 1h), ttlcache::breaker_open_error);
  CHECK(guard->stats().pending_clear);
}

// FailSafeBackend::erase reports a *live* entry only (a stale copy past its TTL is removed too,
// but is not an entry a reader could have seen), as the contract says.
TEST_CASE("FailSafeBackend keeps the Backend contract (stale copies never read as fresh)",
          "[fail_safe][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [clock]() -> std::shared_ptr<StringBackend> {
    ttlcache::MemoryOptions<std::string, ttlcache::Timed<std::string>> memory;
    memory.clock = clock;
    return ttlcache::make_fail_safe_memory_backend<std::string, std::string>(memory);
  };
  fixture.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("FailSafeBackend over a ResilientBackend keeps the Backend contract",
          "[fail_safe][resilient][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [clock]() -> std::shared_ptr<StringBackend> {
    auto store = std::make_shared<FlakyStoreOf<ttlcache::Timed<std::string>>>(clock);
    auto guard = std::make_shared<ResilientBackend<std::string, ttlcache::Timed<std::string>>>(
        store, resilient_options(FailurePolicy::propagate, clock));
    ttlcache::FailSafeOptions fs;
    fs.clock = clock;
    return std::make_shared<ttlcache::FailSafeBackend<std::string, std::string>>(guard, fs);
  };
  fixture.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fixture);
}
