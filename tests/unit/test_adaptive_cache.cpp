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

#include "support/adaptive_cache.hpp"

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::ContentTypeTtl;
using ttlcache::DynamicTTL;
using ttlcache::DynamicTtlConfig;
using ttlcache::EntryOptions;
using ttlcache::FakeClock;

namespace {

using Fixture = ttlcache_test::AdaptiveCacheFixture;

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
