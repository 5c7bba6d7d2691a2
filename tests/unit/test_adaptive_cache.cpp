// Tests for adaptive TTL through a Cache: tag and version invalidations reported by content type,
// and the learned figures in Cache::stats() and its JSON and Prometheus exports. Fake clock.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ttlcache/builder.hpp"
#include "ttlcache/detail/tag_type_index.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/metrics_export.hpp"

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::ContentTypeTtl;
using ttlcache::DynamicTTL;
using ttlcache::DynamicTtlConfig;
using ttlcache::EntryOptions;
using ttlcache::FakeClock;

namespace {

// "view" and "list" (60 s in the table, up to x8), no jitter, UTC.
DynamicTtlConfig config(bool adaptive) {
  DynamicTtlConfig c;
  c.utc_offset = 0min;
  c.jitter_percent = 0.0;
  c.min_ttl = 1s;
  c.max_ttl = 7200s;
  c.content_types = {ContentTypeTtl("view", 60s), ContentTypeTtl("list", 60s)};
  c.adaptive.enabled = adaptive;
  c.adaptive.max_factor = 8.0;
  return c;
}

struct Fixture {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<DynamicTTL> policy;
  ttlcache::Cache<std::string, std::string> cache;

  explicit Fixture(bool adaptive = true)
      : policy(std::make_shared<DynamicTTL>(config(adaptive), clock)),
        cache(CacheBuilder<std::string, std::string>("adaptive")
                  .clock(clock)
                  .tags()
                  .ttl_policy(policy)
                  .build()) {}

  ttlcache::TtlExplanation explain(const char* type) const { return policy->explain(type, {}); }
};

}  // namespace

TEST_CASE("adaptive cache: a tag invalidation is reported for the types stored under the tag",
          "[adaptive][cache]") {
  Fixture f;
  f.cache.set("v:1", "a", EntryOptions().content_type("view").tag("user:1"));
  f.cache.set("l:1", "b", EntryOptions().content_type("list").tag("user:2"));
  CHECK(f.explain("view").told_changes == 1);  // the set() itself
  f.cache.invalidate_tag("user:1");
  CHECK(f.explain("view").told_changes == 2);
  CHECK(f.explain("list").told_changes == 1);  // another tag: not this type's change
  f.cache.invalidate_tag("user:unknown");      // nothing stored under it: no report
  CHECK(f.explain("view").told_changes == 2);
  CHECK(f.explain("list").told_changes == 1);
  f.cache.invalidate_tags({"user:1", "user:2"});  // one report per type
  CHECK(f.explain("view").told_changes == 3);
  CHECK(f.explain("list").told_changes == 2);
  CHECK_FALSE(f.cache.get("v:1").has_value());  // and the invalidation itself still works
}

TEST_CASE("adaptive cache: a version bump is reported for the types stored under the entity",
          "[adaptive][cache]") {
  Fixture f;
  // Stored by a load, not a set(): loads are remembered too (and are not changes).
  const auto v = f.cache.get_or_load(
      "l:1", [] { return std::string("x"); }, EntryOptions().content_type("list").entity("file"));
  CHECK(v == "x");
  CHECK(f.explain("list").told_changes == 0);
  f.cache.bump_version("file");
  CHECK(f.explain("list").told_changes == 1);
  CHECK(f.explain("view").told_changes == 0);
  f.cache.invalidate_tag("file");  // a tag named like the entity type is another name
  CHECK(f.explain("list").told_changes == 1);
}

TEST_CASE("adaptive cache: tag invalidations every 10 s do not shorten the TTL",
          "[adaptive][cache]") {
  Fixture f;
  for (int i = 0; i < 60; ++i) {
    f.cache.get_or_load(
        "v:1", [] { return std::string("x"); }, EntryOptions().content_type("view").tag("u"));
    f.clock->advance(10s);
    f.cache.invalidate_tag("u");
  }
  const auto e = f.explain("view");
  INFO(e.to_string());
  CHECK(e.told_changes == 60);
  CHECK(e.counted_changes == 0);
  // Kept fresh by its tag: it grew to 60 s x 8 instead of falling toward 10 s.
  CHECK(e.ttl == 480s);
}

TEST_CASE("adaptive cache: stats() and its exports carry each type's factor and interval",
          "[adaptive][cache][stats]") {
  SECTION("adaptation on") {
    Fixture f;
    f.cache.get_or_load(
        "v:1", [] { return std::string("x"); }, "view");  // a read
    f.policy->observe({ttlcache::TtlObservation::Kind::reload_changed, "view", {}});
    f.clock->advance(20s);
    f.policy->observe({ttlcache::TtlObservation::Kind::reload_changed, "view", {}});
    const auto s = f.cache.stats();
    REQUIRE(s.adaptive_ttl.count("view") == 1);
    REQUIRE(s.adaptive_ttl.count("list") == 1);
    const auto& a = s.adaptive_ttl.at("view");
    const auto learned = f.explain("view");
    CHECK(a.factor == Approx(learned.adaptive_factor));
    CHECK(a.factor < 1.0);  // 20 s between unseen changes: shorter than the table's 60 s
    CHECK(a.change_interval == learned.change_interval);
    CHECK(a.unseen_changes == 2);
    CHECK(a.reads == 1);
    const std::string prom = ttlcache::to_prometheus(s);
    INFO(prom);
    CHECK(prom.find("# TYPE ttlcache_adaptive_ttl_factor gauge") != std::string::npos);
    CHECK(prom.find("ttlcache_adaptive_ttl_factor{cache=\"adaptive\",content_type=\"view\"}") !=
          std::string::npos);
    CHECK(prom.find("ttlcache_adaptive_change_interval_seconds{cache=\"adaptive\",content_type="
                    "\"view\"}") != std::string::npos);
    CHECK(prom.find("ttlcache_adaptive_unseen_changes_total{cache=\"adaptive\",content_type="
                    "\"view\"} 2") != std::string::npos);
    const auto j = ttlcache::to_json(s);
    REQUIRE(j.contains("adaptive_ttl"));
    CHECK(j["adaptive_ttl"]["view"]["factor"].get<double>() == Approx(a.factor));
    CHECK(j["adaptive_ttl"]["view"]["change_interval_seconds"].get<double>() ==
          Approx(static_cast<double>(a.change_interval.count()) / 1000.0));
    CHECK(j["adaptive_ttl"]["view"]["unseen_changes"] == 2);
  }
  SECTION("adaptation off: nothing exported") {
    Fixture f(false);
    f.cache.get_or_load(
        "v:1", [] { return std::string("x"); }, "view");
    const auto s = f.cache.stats();
    CHECK(s.adaptive_ttl.empty());
    CHECK(ttlcache::to_prometheus(s).find("ttlcache_adaptive") == std::string::npos);
    CHECK_FALSE(ttlcache::to_json(s).contains("adaptive_ttl"));
  }
}

TEST_CASE("adaptive cache: the tag-to-type map is bounded", "[adaptive][cache]") {
  using ttlcache::detail::TagTypeIndex;
  TagTypeIndex index;
  for (std::size_t i = 0; i < TagTypeIndex::max_names + 100; ++i) {
    index.remember(ttlcache::Tags{"t" + std::to_string(i)}, "view");
  }
  CHECK(index.size() == TagTypeIndex::max_names);
  for (int i = 0; i < 10; ++i) {
    index.remember(ttlcache::Tags{"many"}, "type" + std::to_string(i));
  }
  CHECK(index.types_of_tags({"many"}).size() == TagTypeIndex::types_per_name);
  CHECK(index.types_of_entity("many").empty());
}

TEST_CASE("adaptive cache: stores, tag invalidations and stats from many threads",
          "[adaptive][cache][concurrency]") {
  Fixture f;
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
