// Tests for TieredBackend and TieredStampStore over an in-process L2 and an InProcessBus.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "conformance/backend_conformance.hpp"
#include "support/tiered_world.hpp"
#include "ttlcache/invalidation.hpp"
#include "ttlcache/tiered_backend.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::FakeClock;
using ttlcache::Tagged;
using ttlcache::Tags;

namespace {

using StringCache = ttlcache::Cache<std::string, std::string>;

using World = ttlcache_test::TieredWorld;
using Instance = ttlcache_test::TieredInstance;

}  // namespace

TEST_CASE("the tiered backend keeps the Backend contract (memory + memory)",
          "[tiered][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [clock,
                          hub]() -> std::shared_ptr<ttlcache::Backend<std::string, std::string>> {
    ttlcache::MemoryOptions<std::string, std::string> memory;
    memory.clock = clock;
    auto l1 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(memory);
    auto l2 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(memory);
    ttlcache::TieredOptions options;
    options.l1_max_ttl = 2s;  // below some of the suite's TTLs: the L2 TTL must still hold
    return std::make_shared<ttlcache::TieredBackend<std::string, std::string>>(
        l1, l2, std::make_shared<ttlcache::InProcessBus>(hub), options, clock);
  };
  fixture.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("the tag-aware tiered backend keeps the Backend contract", "[tiered][conformance]") {
  auto world = std::make_shared<World>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [world]() -> std::shared_ptr<ttlcache::Backend<std::string, std::string>> {
    world->l2->clear();
    auto instance = std::make_shared<Instance>(*world, 2s);
    // The backend keeps its instance (bus endpoint, stamps) alive.
    auto backend = instance->parts.backend;
    return std::shared_ptr<ttlcache::Backend<std::string, std::string>>(backend.get(),
                                                                        [instance](auto*) {});
  };
  fixture.let_time_pass = [world](std::chrono::milliseconds d) { world->clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("reads hit L1, then L2 (filling L1 with the capped remaining TTL), then the loader",
          "[tiered]") {
  World world;
  Instance a(world, 5s);
  Instance b(world, 5s);

  a.cache->set("long", "L", 1h);
  a.cache->set("short", "S", 2s);
  CHECK(a.in_l1("long"));  // writes go to both tiers
  CHECK(world.l2->contains("long"));

  CHECK_FALSE(b.in_l1("long"));
  CHECK(b.cache->get("long") == std::optional<std::string>("L"));  // from L2
  CHECK(b.stats().l2_hits == 1);
  REQUIRE(b.in_l1("long"));
  CHECK(*b.parts.tiered->l1().ttl("long") <= 5s);                  // capped by l1_max_ttl
  CHECK(b.cache->get("long") == std::optional<std::string>("L"));  // from L1
  CHECK(b.stats().l1_hits == 1);

  world.clock->advance(500ms);
  CHECK(b.cache->get("short"));
  REQUIRE(b.in_l1("short"));
  CHECK(*b.parts.tiered->l1().ttl("short") <= 1500ms);  // L2's remaining TTL, not 5 s

  int loads = 0;
  CHECK(b.cache->get_or_load(
            "absent",
            [&] {
              ++loads;
              return std::string("loaded");
            },
            1min) == "loaded");
  CHECK(a.cache->get("absent") == std::optional<std::string>("loaded"));  // via L2
  CHECK(loads == 1);

  // L1 never outlives l1_max_ttl even when L2 holds the entry for an hour.
  world.clock->advance(5s);
  CHECK_FALSE(b.in_l1("long"));
  CHECK(b.cache->get("long"));
}

TEST_CASE(
    "a set, an erase, a tag invalidation, a version bump and a pattern on one instance "
    "evict the other instances' L1",
    "[tiered]") {
  World world;
  Instance a(world);
  Instance b(world);
  Instance c(world);

  a.cache->set("f:1", "v1", 1h, {"user:1"});
  a.cache->set("f:2", "w1", 1h, Tags{}.entity("file"));
  a.cache->set("dir:9:a", "d", 1h);
  for (auto* i : {&b, &c}) {
    CHECK(i->cache->get("f:1") == std::optional<std::string>("v1"));
    CHECK(i->cache->get("f:2"));
    CHECK(i->cache->get("dir:9:a"));
    CHECK(i->in_l1("f:1"));
  }
  const auto a_received = a.stats().invalidations_received;

  SECTION("set") {
    a.cache->set("f:1", "v2", 1h, {"user:1"});
    CHECK_FALSE(b.in_l1("f:1"));
    CHECK(b.cache->get("f:1") == std::optional<std::string>("v2"));
    CHECK(c.cache->get("f:1") == std::optional<std::string>("v2"));
    CHECK(a.stats().invalidations_received == a_received);  // its own message is ignored
  }
  SECTION("erase") {
    a.cache->erase("f:1");
    CHECK_FALSE(b.cache->get("f:1"));
    CHECK_FALSE(c.cache->get("f:1"));
  }
  SECTION("tag") {
    a.cache->invalidate_tag("user:1");
    CHECK_FALSE(b.cache->get("f:1"));  // the L1 copy fails its version check: no round trip
    CHECK_FALSE(c.cache->get("f:1"));
    CHECK(b.cache->get("f:2"));
  }
  SECTION("version") {
    b.cache->bump_version("file");
    CHECK_FALSE(a.cache->get("f:2"));
    CHECK_FALSE(c.cache->get("f:2"));
    CHECK(c.cache->get("f:1"));
  }
  SECTION("pattern") {
    CHECK(c.cache->invalidate_matching("dir:9:") == 1);
    CHECK_FALSE(a.cache->get("dir:9:a"));
    CHECK_FALSE(b.cache->get("dir:9:a"));
    CHECK(b.cache->get("f:1"));
  }
  SECTION("clear") {
    a.cache->clear();
    CHECK_FALSE(b.cache->get("f:1"));
    CHECK_FALSE(c.cache->get("f:2"));
  }
  SECTION("write_through") {
    std::string db;
    ttlcache::write_through(*a.cache, std::string("f:1"), std::string("v3"), 1h,
                            [&](const std::string& v) { db = v; }, {"user:1"});
    CHECK(b.cache->get("f:1") == std::optional<std::string>("v3"));
    CHECK_THROWS(
        ttlcache::write_through(*a.cache, std::string("f:1"), std::string("v4"), 1h,
                                [](const std::string&) { throw std::runtime_error("x"); }));
    CHECK(b.cache->get("f:1") == std::optional<std::string>("v3"));
    CHECK(a.cache->get("f:1") == std::optional<std::string>("v3"));
  }
}

TEST_CASE("lost messages: stale for at most l1_max_ttl", "[tiered][staleness]") {
  World world;
  Instance a(world, 3s);
  Instance b(world, 3s);
  a.cache->set("k", "old", 1h, {"t"});
  a.cache->set("j", "tagged", 1h, {"t"});
  CHECK(b.cache->get("k") == std::optional<std::string>("old"));
  CHECK(b.cache->get("j"));

  b.bus->drop_messages(true);  // B does not notice: it stays "healthy"
  a.cache->set("k", "new", 1h, {"t"});
  a.cache->invalidate_tag("t");
  a.cache->set("k", "newest", 1h, {"t"});
  CHECK(b.cache->get("k") == std::optional<std::string>("old"));  // stale, within the bound
  CHECK(b.cache->get("j"));
  world.clock->advance(2900ms);
  CHECK(b.cache->get("k") == std::optional<std::string>("old"));
  world.clock->advance(101ms);  // 3 s since B filled its L1
  CHECK(b.cache->get("k") == std::optional<std::string>("newest"));
  CHECK_FALSE(b.cache->get("j"));  // its local copy of the tag version aged out too
}

TEST_CASE("a bus outage: L1 bypassed while down, cleared on reconnect", "[tiered][staleness]") {
  World world;
  Instance a(world);
  Instance b(world);
  a.cache->set("k", "v1", 1h, {"t"});
  CHECK(b.cache->get("k"));
  CHECK(b.in_l1("k"));

  b.bus->set_connected(false);
  a.cache->set("k", "v2", 1h, {"t"});                            // B misses this message
  CHECK(b.cache->get("k") == std::optional<std::string>("v2"));  // read through to L2
  a.cache->invalidate_tag("t");
  CHECK_FALSE(b.cache->get("k"));  // versions read from the shared store while down
  a.cache->set("k", "v3", 1h, {"t"});

  const auto resets = b.stats().resets;
  b.bus->set_connected(true);
  CHECK(b.stats().resets == resets + 1);
  CHECK_FALSE(b.in_l1("k"));  // cleared: anything it held may have missed a message
  CHECK(b.cache->get("k") == std::optional<std::string>("v3"));
  a.cache->set("k", "v4", 1h, {"t"});  // and messages flow again
  CHECK(b.cache->get("k") == std::optional<std::string>("v4"));
}

/// A bus whose messages wait in a queue until the test delivers them, in any order: the
/// network reorders what Redis pub/sub never promises to keep in order across publishers.
class QueueingBus final : public ttlcache::InvalidationBus {
 public:
  /// Two buses, each queueing what the other publishes.
  static std::pair<std::shared_ptr<QueueingBus>, std::shared_ptr<QueueingBus>> pair() {
    auto a = std::make_shared<QueueingBus>();
    auto b = std::make_shared<QueueingBus>();
    a->peers = {b.get()};
    b->peers = {a.get()};
    return {a, b};
  }
  std::string_view name() const noexcept override { return "queueing"; }
  void publish(const ttlcache::InvalidationMessage& message) override {
    for (auto* peer : peers) peer->queue.push_back(message);
  }
  std::uint64_t subscribe(Handler on_message, ResetHandler on_reset) override {
    return handlers_.add(std::move(on_message), std::move(on_reset));
  }
  void unsubscribe(std::uint64_t id) override { handlers_.remove(id); }
  bool healthy() const noexcept override { return true; }

  /// Delivers the queued message at index i and removes it from the queue.
  void deliver(std::size_t i) {
    const auto message = queue.at(i);
    queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));
    handlers_.dispatch(message);
  }
  void deliver_all() {
    while (!queue.empty()) deliver(0);
  }

  std::vector<QueueingBus*> peers;
  std::vector<ttlcache::InvalidationMessage> queue;

 private:
  ttlcache::detail::HandlerRegistry handlers_;
};

TEST_CASE("tiered: a late version message from another instance does not undo a newer bump",
          "[tiered][ordering]") {
  World world;
  std::shared_ptr<QueueingBus> bus_a, bus_c;  // not a structured binding: lambdas capture them
  std::tie(bus_a, bus_c) = QueueingBus::pair();
  ttlcache::TieredOptions options;
  options.l1_max_ttl = 5s;
  options.scope = "files";
  ttlcache::MemoryOptions<std::string, Tagged<std::string>> l1;
  l1.clock = world.clock;
  auto a = ttlcache::make_tiered_tagged<std::string, std::string>(world.l2, world.stamps, bus_a,
                                                                  options, l1);
  auto c = ttlcache::make_tiered_tagged<std::string, std::string>(world.l2, world.stamps, bus_c,
                                                                  options, l1);
  StringCache cache_a(a.backend);
  StringCache cache_c(c.backend);

  cache_a.invalidate_tag("t");         // t = v1, message queued for C
  cache_a.set("k", "old", 1h, {"t"});  // k written under v1, message queued for C
  cache_c.invalidate_tag("t");         // t = v2: k is stale for everyone from here on
  CHECK_FALSE(cache_c.get("k"));

  SECTION("A's messages reach C after C's own bump") {
    REQUIRE(bus_c->queue.size() == 2);
    bus_c->deliver_all();
    bus_a->deliver_all();
  }
  SECTION("A's key message first, then its version message") {
    bus_c->deliver(1);
    bus_c->deliver(0);
    bus_a->deliver_all();
  }
  // Neither instance may trust v1 now: the shared store says v2.
  CHECK_FALSE(cache_c.get("k"));
  CHECK_FALSE(cache_a.get("k"));
}

/// Runs a hook once, right after the next bump_stamps of the shared store returned: the moment
/// another instance's bump can cross this one.
class HookedStampStore final : public ttlcache::StampStore {
 public:
  explicit HookedStampStore(std::shared_ptr<ttlcache::StampStore> inner)
      : inner_(std::move(inner)) {}
  std::string_view name() const noexcept override { return "hooked"; }
  std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) override {
    return inner_->read_stamps(names);
  }
  std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                            std::chrono::milliseconds keep_alive) override {
    return inner_->acquire_stamps(names, keep_alive);
  }
  std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                         std::chrono::milliseconds keep_alive) override {
    auto out = inner_->bump_stamps(names, keep_alive);
    if (auto hook = std::exchange(after_bump, nullptr)) hook();
    return out;
  }
  std::function<void()> after_bump;

 private:
  std::shared_ptr<ttlcache::StampStore> inner_;
};

TEST_CASE("tiered stamp store: crossing bumps leave no instance trusting the older version",
          "[tiered][ordering]") {
  World world;
  std::shared_ptr<QueueingBus> bus_a, bus_c;  // not a structured binding: lambdas capture them
  std::tie(bus_a, bus_c) = QueueingBus::pair();
  auto hooked = std::make_shared<HookedStampStore>(world.stamps);
  ttlcache::TieredStampStore a(hooked, bus_a, "files", 5s, world.clock);
  ttlcache::TieredStampStore c(world.stamps, bus_c, "files", 5s, world.clock);

  SECTION("a message that arrives after the receiver's own, newer bump") {
    const auto v1 = a.bump_stamps({"t"}, 1h).at(0);
    const auto v2 = c.bump_stamps({"t"}, 1h).at(0);
    REQUIRE(v1 != v2);
    bus_c->deliver_all();  // v1 reaches C after C's own bump to v2
    CHECK(c.read_stamps({"t"}).at(0) == std::optional<std::uint64_t>(v2));
    bus_a->deliver_all();
    CHECK(a.read_stamps({"t"}).at(0) == std::optional<std::uint64_t>(v2));
  }
  SECTION("a message that arrives while the receiver's own bump is in flight") {
    std::uint64_t v2 = 0;
    hooked->after_bump = [&] {  // A's bump is done in the shared store, not yet remembered
      v2 = c.bump_stamps({"t"}, 1h).at(0);
      bus_a->deliver_all();
    };
    const auto v1 = a.bump_stamps({"t"}, 1h).at(0);
    REQUIRE(v1 != v2);
    CHECK(a.read_stamps({"t"}).at(0) == std::optional<std::uint64_t>(v2));
    bus_c->deliver_all();
    CHECK(c.read_stamps({"t"}).at(0) == std::optional<std::uint64_t>(v2));
  }
}

TEST_CASE("integer keys travel on the bus", "[tiered]") {
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  auto l2 = std::make_shared<ttlcache::MemoryBackend<int, std::string>>();
  auto make = [&] {
    return std::make_shared<ttlcache::TieredBackend<int, std::string>>(
        std::make_shared<ttlcache::MemoryBackend<int, std::string>>(), l2,
        std::make_shared<ttlcache::InProcessBus>(hub));
  };
  auto a = make();
  auto b = make();
  a->set(42, "x", 1min);
  CHECK(b->get(42) == std::optional<std::string>("x"));
  a->set(42, "y", 1min);
  CHECK(b->get(42) == std::optional<std::string>("y"));
}

TEST_CASE("tiered: Cache statistics show per-tier reads and remote invalidations",
          "[tiered][stats]") {
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  auto l2 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>();
  auto make = [&] {
    return std::make_shared<ttlcache::TieredBackend<std::string, std::string>>(
        std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(), l2,
        std::make_shared<ttlcache::InProcessBus>(hub));
  };
  ttlcache::Cache<std::string, std::string> a(make());
  ttlcache::Cache<std::string, std::string> b(make());
  a.set("k", "v1", 1min);                                 // a message to B
  CHECK(b.get("k") == std::optional<std::string>("v1"));  // B: L1 miss, L2 hit, L1 filled
  CHECK(b.get("k") == std::optional<std::string>("v1"));  // B: L1 hit
  a.set("k", "v2", 1min);                                 // another message to B
  const auto s = b.stats();
  REQUIRE(s.tiers.count("l1") == 1);
  REQUIRE(s.tiers.count("l2") == 1);
  CHECK(s.tiers.at("l1").hits == 1);
  CHECK(s.tiers.at("l1").misses == 1);
  CHECK(s.tiers.at("l2").hits == 1);
  CHECK(s.tiers.at("l2").misses == 0);
  CHECK(s.invalidated(ttlcache::InvalidationKind::remote) == 2);
  CHECK(s.entries == std::optional<std::uint64_t>(0));  // B's L1 lost "k" to the invalidation
  const std::string text = ttlcache::to_prometheus({s});
  CHECK(text.find("ttlcache_tier_hits_total{cache=\"default\",tier=\"l1\"} 1") !=
        std::string::npos);
}

namespace {
/// A shared stamp store that can go down (Redis unreachable).
class DownableStampStore final : public ttlcache::StampStore {
 public:
  explicit DownableStampStore(std::shared_ptr<ttlcache::StampStore> inner)
      : inner_(std::move(inner)) {}
  std::atomic<bool> down{false};
  std::string_view name() const noexcept override { return "downable"; }
  std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) override {
    check();
    return inner_->read_stamps(names);
  }
  std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                            std::chrono::milliseconds keep_alive) override {
    check();
    return inner_->acquire_stamps(names, keep_alive);
  }
  std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                         std::chrono::milliseconds keep_alive) override {
    check();
    return inner_->bump_stamps(names, keep_alive);
  }

 private:
  void check() const {
    if (down) throw ttlcache::connection_error("downable", "stamps: connection refused");
  }
  std::shared_ptr<ttlcache::StampStore> inner_;
};
}  // namespace

TEST_CASE("tiered stamp store: local versions stand in while the shared store is down",
          "[tiered][outage]") {
  auto clock = std::make_shared<FakeClock>();
  auto shared =
      std::make_shared<DownableStampStore>(std::make_shared<ttlcache::MemoryStampStore>());
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  auto bus = std::make_shared<ttlcache::InProcessBus>(hub);
  ttlcache::TieredStampStore stamps(shared, bus, "s", 5s, clock);
  const auto v = shared->acquire_stamps({"t:a", "t:b"}, 1h);
  REQUIRE(stamps.read_stamps({"t:a"}).at(0) == std::optional<std::uint64_t>(v.at(0)));

  // Redis goes away, and with it the bus: the local copy (1 s old) still answers.
  shared->down = true;
  bus->set_connected(false);
  clock->advance(1s);
  CHECK(stamps.read_stamps({"t:a"}).at(0) == std::optional<std::uint64_t>(v.at(0)));
  CHECK(stamps.served_on_failure() == 1);
  // A name never read has no local copy: the error stands (the entry is a miss above).
  CHECK_THROWS_AS(stamps.read_stamps({"t:b"}), ttlcache::connection_error);
  // Past max_age the copy is no longer trusted.
  clock->advance(4s);
  CHECK_THROWS_AS(stamps.read_stamps({"t:a"}), ttlcache::connection_error);
}

TEST_CASE("tiered: an L2 envelope with an extreme expiry does not overflow the L1 fill",
          "[tiered]") {
  Tagged<std::string> t{"v", {}, std::numeric_limits<std::int64_t>::max()};
  CHECK(ttlcache::detail::embedded_remaining(t, -5) == std::chrono::milliseconds::max());
  CHECK(ttlcache::detail::embedded_remaining(t, 1000) ==
        std::chrono::milliseconds(std::numeric_limits<std::int64_t>::max() - 1000));
  t.expires_at_ms = std::numeric_limits<std::int64_t>::min();
  CHECK(ttlcache::detail::embedded_remaining(t, 1000) == std::chrono::milliseconds(0));
  t.expires_at_ms = 5000;
  CHECK(ttlcache::detail::embedded_remaining(t, 1000) == std::chrono::milliseconds(4000));
}
