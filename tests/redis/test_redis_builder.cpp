// CacheBuilder on Redis: every configuration (Redis only, tiered, with tags, fail-safe and
// degrade) keeps the Backend contract and loads; tagged batches and policy TTLs are invalidated
// across instances; degrade builds and serves while Redis is down; layers report to the cache.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "conformance/backend_conformance.hpp"
#include "redis_test_support.hpp"
#include "ttlcache/builder.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::EntryOptions;
using StringBuilder = CacheBuilder<std::string, std::string>;  // no comma inside test macros

namespace {

using Configure = std::function<void(CacheBuilder<std::string, std::string>&)>;

struct Config {
  const char* name;
  Configure configure;
};

std::vector<Config> redis_configs() {
  return {
      {"redis", [](auto&) {}},
      {"redis + tags", [](auto& b) { b.tags(); }},
      {"redis + tags + fail-safe + degrade", [](auto& b) { b.tags().fail_safe(1h).degrade(); }},
      {"tiered", [](auto& b) { b.tiered(5s); }},
      {"near cache (CLIENT TRACKING)", [](auto& b) { b.near_cache(5s); }},
      {"tiered + tags", [](auto& b) { b.tiered(5s).tags(); }},
      {"tiered + tags + fail-safe + degrade + refresh",
       [](auto& b) {
         b.tiered(5s).tags().fail_safe(1h).degrade().refresh_ahead(0.8).stale_while_revalidate(
             1min);
       }},
  };
}

ttlcache::redis::RedisOptions fresh_options(const std::string& tag) {
  return ttlcache_test::options_for(ttlcache_test::shared_server(),
                                    ttlcache_test::unique_namespace(tag));
}

class TypePolicy final : public ttlcache::TtlPolicy {
 public:
  std::chrono::milliseconds ttl_for(std::string_view type,
                                    const ttlcache::Context&) const override {
    return type == "short" ? std::chrono::milliseconds(10'000) : std::chrono::minutes(30);
  }
};

// Waits (bounded) until pred() holds; fails with what it waited for.
template <class Pred>
void wait_until(Pred pred, const char* what) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) FAIL("timed out after 10 s waiting for " << what);
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

TEST_CASE("builder on Redis: every configuration keeps the Backend contract",
          "[redis][builder][conformance]") {
  for (const auto& config : redis_configs()) {
    DYNAMIC_SECTION(config.name) {
      ttlcache::testing::ConformanceFixture fx;
      fx.make_backend = [configure = config.configure] {
        CacheBuilder<std::string, std::string> b("conformance");
        b.redis(fresh_options("builder-conf"));
        configure(b);
        return b.build().shared_backend();
      };
      fx.let_time_pass = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
      fx.unit = 250ms;
      ttlcache::testing::run_backend_conformance(fx);
    }
  }
}

TEST_CASE("builder on Redis: every configuration loads once and shares values between instances",
          "[redis][builder][loading]") {
  for (const auto& config : redis_configs()) {
    DYNAMIC_SECTION(config.name) {
      const auto options = fresh_options("builder-load");
      auto make = [&] {
        CacheBuilder<std::string, std::string> b("loading");
        b.redis(options);
        config.configure(b);
        return b.build();
      };
      auto a = make();
      auto b = make();
      int loads = 0;
      auto loader = [&](const std::string& k) {
        ++loads;
        return "v-" + k;
      };
      CHECK(a.get_or_load("k", loader, 1min) == "v-k");
      CHECK(b.get_or_load("k", loader, 1min) == "v-k");  // from Redis, not loaded again
      CHECK(loads == 1);
      a.set("k", "new", 1min);
      // B sees the write: at once without L1, after A's message with one.
      wait_until([&] { return b.get("k") == std::optional<std::string>("new"); },
                 "instance B to see A's write");
    }
  }
}

TEST_CASE(
    "builder on Redis: policy TTL + tags, tagged warm and tagged batch loads are "
    "invalidated on every instance",
    "[redis][builder][tags]") {
  for (const bool tiered : {false, true}) {
    DYNAMIC_SECTION((tiered ? "tiered" : "redis only")) {
      const auto options = fresh_options("builder-tags");
      auto make = [&] {
        CacheBuilder<std::string, std::string> b("tags");
        b.redis(options).tags().fail_safe(1h).ttl_policy(std::make_shared<TypePolicy>());
        if (tiered) b.tiered(5s);
        return b.build();
      };
      auto a = make();
      auto b = make();
      const auto opts = EntryOptions().content_type("short").tag("user:9");
      a.get_or_load(
          "list", [] { return std::string("l"); }, opts);
      const auto ttl = a.ttl("list");
      REQUIRE(ttl);
      CHECK(*ttl <= 10s);
      a.warm(
          {"w1", "w2"}, [](const std::string& k) { return k; }, opts);
      a.get_many_or_load(
          {"m1", "m2"}, [](const std::vector<std::string>& keys) { return keys; }, opts);
      for (const char* k : {"list", "w1", "w2", "m1", "m2"}) {
        INFO(k);
        CHECK(b.get(k) == std::optional<std::string>(k == std::string("list") ? "l" : k));
      }
      b.invalidate_tag("user:9");
      for (const char* k : {"list", "w1", "w2", "m1", "m2"}) {
        INFO(k);
        wait_until([&] { return !a.get(k).has_value(); }, "A to drop an invalidated entry");
        CHECK_FALSE(b.get(k));
      }
    }
  }
}

TEST_CASE("builder on Redis: near_cache() drops the near copy when another client writes",
          "[redis][builder][tracking]") {
  const auto options = fresh_options("builder-near");
  auto cache = CacheBuilder<std::string, std::string>("near")
                   .redis(options)
                   .near_cache(30s)
                   .wait_for_bus(10s)
                   .build();
  const std::string layers = StringBuilder("near").redis(options).near_cache().describe();
  INFO(layers);
  cache.set("k", "one", 1min);
  CHECK(cache.get("k") == std::optional<std::string>("one"));
  // A writer that is not this cache: another service on the same Redis (here a raw store).
  auto foreign = std::make_shared<ttlcache::redis::RedisStore>(options);
  foreign->set("k", "two", 1min);
  wait_until([&] { return cache.get("k") == std::optional<std::string>("two"); },
             "the near copy to be dropped after a foreign write");
  const auto stats = cache.stats();
  CHECK(stats.tiers.count("l1") == 1);
}

TEST_CASE("builder on Redis: with degrade, a cache builds and serves while Redis is down",
          "[redis][builder][outage]") {
  ttlcache_test::OwnServer server;
  auto options = ttlcache_test::options_for(server.info(), "builder-down");
  options.connect_timeout = 200ms;
  options.command_timeout = 200ms;
  server.kill_hard();
  ttlcache::BreakerOptions breaker;
  breaker.failure_threshold = 2;
  breaker.open_for = 300ms;
  auto cache = CacheBuilder<std::string, std::string>("down")
                   .redis(options)
                   .tiered(2s)
                   .tags()
                   .fail_safe(1h)
                   .degrade(breaker)
                   .build();  // no exception although nothing listens
  int loads = 0;
  for (int i = 0; i < 20; ++i) {
    CHECK(cache.get_or_load(
              "k",
              [&] {
                ++loads;
                return std::string("from the database");
              },
              EntryOptions().ttl(1min).tag("t")) == "from the database");
  }
  CHECK(loads >= 1);
  const auto stats = cache.stats();
  // The L2 breaker reports to the cache's own statistics (no attach_stats by hand).
  REQUIRE(stats.tiers.count("l2") == 1);
  REQUIRE(stats.tiers.at("l2").breaker.has_value());
  CHECK(*stats.tiers.at("l2").breaker != ttlcache::BreakerState::closed);
  CHECK(stats.backend_errors > 0);
}

TEST_CASE(
    "builder on Redis: without degrade, a dead Redis at build() is a clear "
    "connection_error",
    "[redis][builder][outage]") {
  ttlcache_test::OwnServer server;
  auto options = ttlcache_test::options_for(server.info(), "builder-fail");
  options.connect_timeout = 200ms;
  server.kill_hard();
  try {
    CacheBuilder<std::string, std::string>("fail").redis(options).build();
    FAIL("build() succeeded against a dead server");
  } catch (const ttlcache::connection_error& e) {
    CHECK(std::string(e.what()).find("redis") != std::string::npos);
  }
}

TEST_CASE("builder on Redis: shared values are stored as their pointee's bytes in every layer",
          "[redis][builder]") {
  using Doc = std::shared_ptr<const std::string>;
  const int layers = GENERATE(0, 1, 2);  // Redis alone, tiered, tiered with tags
  INFO("layers " << layers);
  const auto options = fresh_options("builder-shared");
  CacheBuilder<std::string, Doc> shared_builder("shared");
  StringBuilder plain_builder("shared");
  shared_builder.redis(options);
  plain_builder.redis(options);
  if (layers >= 1) {
    shared_builder.tiered(5s);
    plain_builder.tiered(5s);
  }
  if (layers == 2) {
    shared_builder.tags();
    plain_builder.tags();
  }
  auto shared = shared_builder.build();
  auto plain = plain_builder.build();
  const auto text = [](const std::optional<Doc>& d) {
    return d && *d ? std::optional<std::string>(**d) : std::nullopt;
  };

  shared.set("a", std::make_shared<const std::string>("from shared"), 1min);
  wait_until([&] { return plain.get("a") == std::optional<std::string>("from shared"); },
             "a string cache to read a shared cache's write");
  plain.set("b", "from plain", 1min);
  wait_until([&] { return text(shared.get("b")) == std::optional<std::string>("from plain"); },
             "a shared cache to read a string cache's write");

  const auto held = shared.get("a");
  REQUIRE(text(held) == std::optional<std::string>("from shared"));
  plain.set("a", "newer", 1min);
  wait_until([&] { return text(shared.get("a")) == std::optional<std::string>("newer"); },
             "the shared cache to see the overwrite");
  CHECK(text(held) == std::optional<std::string>("from shared"));  // still whole, still held

  CHECK_THROWS_AS(shared.set("c", nullptr, 1min), ttlcache::codec_error);
  CHECK_FALSE(plain.get("c"));
}

TEST_CASE("builder on Redis: a malformed URL is a config_error at build()", "[redis][builder]") {
  CHECK_THROWS_AS(StringBuilder("bad").redis("http://nope").build(), ttlcache::config_error);
  const std::string text = CacheBuilder<std::string, std::string>("desc")
                               .redis("redis://app:secret@127.0.0.1:6379/0")
                               .tiered(5s)
                               .tags()
                               .degrade()
                               .describe();
  INFO(text);
  CHECK(text.find("secret") == std::string::npos);
  CHECK(text.find("L2 circuit breaker") != std::string::npos);
  CHECK(text.find("tiered: L1") < text.find("L2 circuit breaker"));
}
