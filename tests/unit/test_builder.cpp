// CacheBuilder in process: every configuration keeps the Backend contract and the loading
// features; every impossible combination is a config_error saying what to change; EntryOptions
// combine (policy TTL + tags, tagged warm, tagged batch loads); user types stay envelope-free.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "conformance/backend_conformance.hpp"
#include "ttlcache/builder.hpp"
#include "ttlcache/clock.hpp"

// In-process users pay nothing for JSON: the builder and the Cache never include nlohmann/json
// (it comes with json_codec.hpp, for Redis values, and metrics_export.hpp).
#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "ttlcache/builder.hpp pulled in nlohmann/json"
#endif

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::EntryOptions;
using ttlcache::FakeClock;

namespace {

struct Page {
  std::string body;
  int version = 0;
};

/// A policy whose TTL depends on the content type only (enough to tell it was used).
class TypePolicy final : public ttlcache::TtlPolicy {
 public:
  std::chrono::milliseconds ttl_for(std::string_view type,
                                    const ttlcache::Context&) const override {
    return type == "short" ? std::chrono::milliseconds(10'000) : std::chrono::minutes(30);
  }
};

using Configure = std::function<void(CacheBuilder<std::string, std::string>&)>;

struct Config {
  const char* name;
  Configure configure;
};

// Every in-process configuration the builder can produce, as a user would ask for it.
std::vector<Config> in_process_configs() {
  return {
      {"plain", [](auto&) {}},
      {"tags", [](auto& b) { b.tags(); }},
      {"fail-safe", [](auto& b) { b.fail_safe(1h); }},
      {"tags + fail-safe", [](auto& b) { b.tags().fail_safe(1h); }},
      {"refresh-ahead + stale-while-revalidate",
       [](auto& b) { b.refresh_ahead(0.8).stale_while_revalidate(10min); }},
      {"everything",
       [](auto& b) {
         b.tags().fail_safe(1h).early_refresh().refresh_ahead(0.8).stale_while_revalidate(10min);
       }},
  };
}

}  // namespace

TEST_CASE("builder: every in-process configuration keeps the Backend contract",
          "[builder][conformance]") {
  for (const auto& config : in_process_configs()) {
    DYNAMIC_SECTION(config.name) {
      auto clock = std::make_shared<FakeClock>();
      ttlcache::testing::ConformanceFixture fx;
      fx.make_backend = [clock, configure = config.configure] {
        CacheBuilder<std::string, std::string> b("conformance");
        b.clock(clock);
        configure(b);
        return b.build().shared_backend();
      };
      fx.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
      ttlcache::testing::run_backend_conformance(fx);
    }
  }
}

TEST_CASE("builder: every in-process configuration loads once per key and serves its value",
          "[builder][loading]") {
  for (const auto& config : in_process_configs()) {
    DYNAMIC_SECTION(config.name) {
      auto clock = std::make_shared<FakeClock>();
      CacheBuilder<std::string, std::string> b("loading");
      b.clock(clock);
      config.configure(b);
      auto cache = b.build();
      std::atomic<int> loads{0};
      auto loader = [&](const std::string& k) {
        ++loads;
        return "v-" + k;
      };
      CHECK(cache.get_or_load("a", loader, 1min) == "v-a");
      CHECK(cache.get_or_load("a", loader, 1min) == "v-a");
      CHECK(loads == 1);
      CHECK(cache.get("a") == "v-a");
      // After the TTL (and any stale window), the next read loads again.
      clock->advance(3h);
      CHECK(cache.get("a") == std::nullopt);
      CHECK(cache.get_or_load("a", loader, 1min) == "v-a");
      CHECK(loads == 2);
      // Batches through the same configuration.
      auto many =
          cache.get_many_or_load({"a", "b", "c"}, [&](const std::vector<std::string>& keys) {
            loads += static_cast<int>(keys.size());
            std::vector<std::string> out;
            for (const auto& k : keys) out.push_back("v-" + k);
            return out;
          });
      REQUIRE(many.size() == 3);
      CHECK(many[1] == "v-b");
      CHECK(loads == 4);  // a was cached: only b and c loaded
    }
  }
}

TEST_CASE("builder: fail-safe serves the stale copy when the source fails", "[builder][loading]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = CacheBuilder<std::string, Page>("fs").clock(clock).tags().fail_safe(1h, 30s).build();
  CHECK(cache
            .get_or_load(
                "p",
                [] {
                  return Page{"one", 1};
                },
                1min)
            .body == "one");
  clock->advance(2min);  // expired, still within max_stale
  auto failing = []() -> Page { throw std::runtime_error("database down"); };
  auto r = cache.get_or_load_result("p", failing, 1min);
  CHECK(r.stale);
  CHECK(r.value.body == "one");
  CHECK(cache.stats().stale_served == 1);
  clock->advance(2h);  // past max_stale: the error reaches the caller
  CHECK_THROWS_WITH(cache.get_or_load("p", failing, 1min), "database down");
}

TEST_CASE("builder: a policy TTL combines with tags, and invalidate_tag reaches it",
          "[builder][tags]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = CacheBuilder<std::string, Page>("policy")
                   .clock(clock)
                   .tags()
                   .ttl_policy(std::make_shared<TypePolicy>())
                   .build();
  const auto opts = EntryOptions().content_type("short").tag("user:42");
  cache.get_or_load(
      "list:42",
      [] {
        return Page{"list", 1};
      },
      opts);
  const auto ttl = cache.ttl("list:42");
  REQUIRE(ttl);
  CHECK(*ttl <= 10s);  // the policy's TTL for "short", not the default 5 min
  CHECK(*ttl > 9s);
  cache.invalidate_tag("user:42");
  CHECK_FALSE(cache.get("list:42"));
  // set with the same options, and the type is counted in the statistics.
  cache.set("file:1", Page{"f", 1}, opts);
  CHECK(cache.get("file:1"));
  CHECK(cache.stats().content_types.count("short") == 1);
  cache.invalidate_tag("user:42");
  CHECK_FALSE(cache.get("file:1"));
}

TEST_CASE("builder: tagged warm, get_many_or_load and set_many are invalidated by their tag",
          "[builder][tags]") {
  for (const bool fail_safe : {false, true}) {
    DYNAMIC_SECTION("fail-safe " << fail_safe) {
      auto clock = std::make_shared<FakeClock>();
      CacheBuilder<std::string, Page> b("batches");
      b.clock(clock).tags();
      if (fail_safe) b.fail_safe(1h);
      auto cache = b.build();
      const auto tagged = EntryOptions().ttl(10min).tag("tenant:7").entity("file");
      auto load = [](const std::string& k) { return Page{k, 1}; };

      const auto progress = cache.warm({"w1", "w2", "w3"}, load, tagged);
      CHECK(progress.done == 3);
      CHECK(progress.failed == 0);
      auto batch = [](const std::vector<std::string>& keys) {
        std::vector<Page> out;
        for (const auto& k : keys) out.push_back(Page{k, 2});
        return out;
      };
      auto got = cache.get_many_or_load({"m1", "m2"}, batch, tagged);
      CHECK(got[0]->body == "m1");
      cache.set_many({{"s1", Page{"s1", 3}}, {"s2", Page{"s2", 3}}}, tagged);
      for (const char* k : {"w1", "w2", "w3", "m1", "m2", "s1", "s2"}) CHECK(cache.get(k));

      cache.invalidate_tag("tenant:7");
      for (const char* k : {"w1", "w2", "w3", "m1", "m2", "s1", "s2"}) {
        INFO(k);
        CHECK_FALSE(cache.get(k));
      }
      // The entity version reaches them too, once reloaded under the new tag version.
      cache.get_many_or_load({"m1"}, batch, tagged);
      CHECK(cache.get("m1"));
      cache.bump_version("file");
      CHECK_FALSE(cache.get("m1"));
    }
  }
}

TEST_CASE("builder: weighers and removal listeners see the user's value, never an envelope",
          "[builder]") {
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::string> removed;
  std::atomic<int> weighed{0};
  auto cache =
      CacheBuilder<std::string, Page>("types")
          .clock(clock)
          .tags()
          .fail_safe(1h)
          .shards(1)
          .max_weight(100,
                      [&](const std::string& key, const Page& page) {
                        ++weighed;
                        return key.size() + page.body.size();
                      })
          .on_removal([&](const std::string& key, const Page& page, ttlcache::RemovalCause cause) {
            if (cause == ttlcache::RemovalCause::evicted) removed.push_back(key + "=" + page.body);
          })
          .build();
  cache.set("a", Page{std::string(40, 'x'), 1}, EntryOptions().ttl(1min).tag("t"));
  cache.set("b", Page{std::string(40, 'y'), 1}, 1min);
  cache.set("c", Page{std::string(40, 'z'), 1}, 1min);  // over 100: one is evicted
  CHECK(weighed == 3);
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].size() == 2 + 40);  // "k=" + the body: the Page itself was passed
}

TEST_CASE("builder: a Cache is a handle, copies share one engine", "[builder]") {
  auto a = CacheBuilder<std::string, std::string>("handle").build();
  auto b = a;
  a.set("k", "v");
  CHECK(b.get("k") == "v");
  CHECK(b.stats().hits == 1);
  CHECK(a.stats().hits == 1);
}

TEST_CASE("builder: visit() reads in place on a plain in-process cache, on a copy elsewhere",
          "[builder][visit]") {
  auto plain = CacheBuilder<std::string, std::string>("visit").build();
  auto tagged = CacheBuilder<std::string, std::string>("visit-tags").tags().build();
  CHECK(plain.visits_in_place());
  CHECK_FALSE(tagged.visits_in_place());
  for (auto* cache : {&plain, &tagged}) {
    cache->set("big", std::string(1000, 'x'));
    std::size_t seen = 0;
    CHECK(cache->visit("big", [&](const std::string& v) { seen = v.size(); }));
    CHECK(seen == 1000);
    CHECK_FALSE(cache->visit("absent", [&](const std::string&) { seen = 0; }));
    CHECK(seen == 1000);
    CHECK(cache->stats().hits == 1);
    CHECK(cache->stats().misses == 1);
  }
}

TEST_CASE("builder: shared values are handed out without a copy and outlive their entry",
          "[builder][visit]") {
  using Doc = std::shared_ptr<const std::string>;
  const auto configure = GENERATE(0, 1, 2);
  CacheBuilder<std::string, Doc> b("shared");
  b.max_entries(8);
  if (configure == 1) b.tags();
  if (configure == 2) b.fail_safe();
  auto cache = b.build();
  INFO("configuration " << configure);
  const std::string body(4096, 'd');
  const Doc doc = std::make_shared<const std::string>(body);
  cache.set("a", doc);

  const auto got = cache.get("a");
  REQUIRE(got);
  CHECK(got->get() == doc.get());  // the stored object itself: no copy of the 4 KB
  const std::string* seen = nullptr;
  CHECK(cache.visit("a", [&](const Doc& v) { seen = v.get(); }));
  CHECK(seen == doc.get());
  CHECK(cache
            .get_or_load(
                "a", [](const std::string&) -> Doc { throw std::logic_error("hit"); }, 1min)
            .get() == doc.get());

  // The caller's reference keeps the value alive through overwrite, erase and eviction.
  cache.set("a", std::make_shared<const std::string>("new"));
  CHECK(**got == body);
  CHECK(*cache.get("a").value() == "new");
  cache.erase("a");
  for (int i = 0; i < 100; ++i) {
    cache.set("k" + std::to_string(i), std::make_shared<const std::string>(std::to_string(i)));
  }
  CHECK(**got == body);
  CHECK(doc.use_count() == 2);  // doc and got: the cache let go of it

  // In process a null is a value like any other (a Redis layer refuses it: test_codec.cpp).
  cache.set("null", Doc{});
  const auto null = cache.get("null");
  REQUIRE(null);
  CHECK(*null == nullptr);
}

TEST_CASE("builder: jitter() spreads explicit TTLs within its band", "[builder][jitter]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache = CacheBuilder<std::string, std::string>("jitter").clock(clock).jitter(10, 42).build();
  std::chrono::milliseconds lo = 1h, hi = 0ms;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    cache.set(key, "v", 60s);
    const auto ttl = cache.ttl(key);
    REQUIRE(ttl);
    lo = std::min(lo, *ttl);
    hi = std::max(hi, *ttl);
  }
  CHECK(lo >= 54s);      // 60 s - 10 %
  CHECK(hi <= 66s);      // 60 s + 10 %
  CHECK(hi - lo > 10s);  // really spread, not one value
}

TEST_CASE("builder: the TTL policy learns from the cache's reads and writes",
          "[builder][adaptive]") {
  struct Counting final : ttlcache::TtlPolicy {
    std::chrono::milliseconds ttl_for(std::string_view, const ttlcache::Context&) const override {
      return std::chrono::minutes(1);
    }
    void observe(const ttlcache::TtlObservation& o) const noexcept override {
      if (o.content_type != "page") return;
      (o.kind == ttlcache::TtlObservation::Kind::read ? reads : writes)++;
    }
    mutable std::atomic<int> reads{0}, writes{0};
  };
  auto policy = std::make_shared<Counting>();
  auto cache = CacheBuilder<std::string, std::string>("learn").ttl_policy(policy).build();
  const auto page = EntryOptions().content_type("page");
  cache.get_or_load(
      "a", [] { return std::string("1"); }, page);  // a read (a miss)
  cache.get_or_load(
      "a", [] { return std::string("1"); }, page);  // a read (a hit)
  cache.set("a", "2", page);                        // a write: the data changed
  CHECK(policy->reads == 2);
  CHECK(policy->writes == 1);  // loads are not changes
}

TEST_CASE("builder: describe() names the layers in order", "[builder]") {
  const std::string text = CacheBuilder<std::string, std::string>("pages")
                               .tags()
                               .fail_safe(1h)
                               .stale_while_revalidate(10min)
                               .describe();
  INFO(text);
  const auto envelope = text.find("fail-safe envelope");
  const auto tags = text.find("tags: in-process");
  const auto store = text.find("in-process store: 100000 entries");
  REQUIRE(envelope != std::string::npos);
  REQUIRE(tags != std::string::npos);
  REQUIRE(store != std::string::npos);
  CHECK(envelope < tags);
  CHECK(tags < store);
}

TEST_CASE("builder: EntryOptions per call override the cache's loading options",
          "[builder][loading]") {
  auto clock = std::make_shared<FakeClock>();
  auto cache =
      CacheBuilder<std::string, std::string>("per-call").clock(clock).fail_safe(1h).build();
  cache.get_or_load(
      "k", [] { return std::string("old"); }, 1min);
  clock->advance(2min);
  auto failing = []() -> std::string { throw std::runtime_error("down"); };
  // Fail-safe off for this call: the error reaches the caller although the cache has it on.
  CHECK_THROWS_WITH(cache.get_or_load("k", failing, EntryOptions().ttl(1min).fail_safe(false)),
                    "down");
  CHECK(cache.get_or_load("k", failing, 1min) == "old");
  // Fail-safe asked for on a cache built without it: a clear error, nothing loaded.
  auto plain = CacheBuilder<std::string, std::string>("plain").build();
  CHECK_THROWS_AS(plain.get_or_load("k", failing, EntryOptions().fail_safe(true)),
                  ttlcache::argument_error);
}

namespace {
// Builds and expects a config_error whose message contains `hint`.
void expect_rejected(const std::function<void(CacheBuilder<std::string, std::string>&)>& configure,
                     const std::string& hint) {
  CacheBuilder<std::string, std::string> b("bad");
  configure(b);
  try {
    b.build();
    FAIL("build() accepted a configuration it must reject (" << hint << ")");
  } catch (const ttlcache::config_error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(hint) != std::string::npos);
  }
}
}  // namespace

TEST_CASE("builder: every impossible combination is a config_error saying what to change",
          "[builder][errors]") {
  expect_rejected([](auto& b) { b.tiered(); }, "add redis(url)");
  expect_rejected([](auto& b) { b.degrade(); }, "remove degrade() or add redis(url)");
  expect_rejected([](auto& b) { b.distributed_single_flight(); }, "pass a LockService");
  expect_rejected([](auto& b) { b.default_ttl(0ms); }, "default_ttl(): must be positive");
  expect_rejected([](auto& b) { b.max_weight(1000, nullptr); }, "needs a weigher");
  expect_rejected([](auto& b) { b.max_entries(0); }, "give a bound");
  expect_rejected([](auto& b) { b.fail_safe(0ms); }, "max_stale must be positive");
  expect_rejected([](auto& b) { b.timeouts(100ms, 0ms); }, "add fail_safe()");
  expect_rejected([](auto& b) { b.fail_safe(1min).stale_while_revalidate(10min); },
                  "raise max_stale");
  expect_rejected([](auto& b) { b.refresh_ahead(1.5); }, "must be in (0, 1)");
  expect_rejected([](auto& b) { b.early_refresh(0.0); }, "beta must be > 0");
  expect_rejected([](auto& b) { b.fail_safe().timeouts(200ms, 100ms); },
                  "hard must be longer than soft");
  expect_rejected([](auto& b) { b.background_threads(0); }, "must be > 0");
  expect_rejected([](auto& b) { b.call_deadline(-1ms); }, "must not be negative");
  expect_rejected([](auto& b) { b.tags(0ms); }, "stamp_ttl must be positive");
  expect_rejected([](auto& b) { b.wait_for_bus(1s); }, "add tiered() or remove it");
  expect_rejected([](auto& b) { b.jitter(150); }, "jitter");
  expect_rejected([](auto& b) { b.near_cache().tags(); }, "use tiered() (pub/sub bus) with tags()");
  expect_rejected([](auto& b) { b.near_cache(); }, "add redis(url)");
  expect_rejected([](auto& b) { b.dynamic_ttl().ttl_policy(std::make_shared<TypePolicy>()); },
                  "keep one");
  expect_rejected(
      [](auto& b) {
        ttlcache::LoadOptions lo;
        lo.fail_safe = true;
        b.loading(lo);
      },
      "call fail_safe(max_stale) instead");
  expect_rejected(
      [](auto& b) {
        ttlcache::BreakerOptions breaker;
        breaker.failure_threshold = 0;
        b.degrade(breaker).fail_safe();  // degrade's own check comes first without redis
      },
      "remove degrade()");
}
