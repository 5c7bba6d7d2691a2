// Tests for adaptive TTL per key group: estimates per (content type, group) in DynamicTTL, their
// bound, explain and statistics, reload and off; a Cache reporting every path under the key's
// group (CacheBuilder::ttl_group, EntryOptions::ttl_group). Fake clock.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ttlcache/builder.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/metrics_export.hpp"

#include "support/adaptive.hpp"

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::ContentTypeTtl;
using ttlcache::DynamicTTL;
using ttlcache::DynamicTtlConfig;
using ttlcache::EntryOptions;
using ttlcache::FakeClock;
using ttlcache::TtlObservation;
using ttlcache_test::adaptive_config;
using ttlcache_test::RecordingPolicy;
using ttlcache_test::TaskQueue;
using Kind = ttlcache::TtlObservation::Kind;

namespace {

using Fixture = ttlcache_test::GroupFixture;

// One round every 10 s: group "fast" changed unseen (a reload found another value, no age),
// group "slow" read and never changed.
void rounds(Fixture& f, int n, std::vector<double>* fast = nullptr,
            std::vector<double>* slow = nullptr) {
  for (int i = 0; i < n; ++i) {
    f.clock->advance(10s);
    f.see(Kind::reload_changed, "fast");
    f.see(Kind::read, "slow");
    if (fast) fast->push_back(f.ttl_s("fast"));
    if (slow) slow->push_back(f.ttl_s("slow"));
  }
}

}  // namespace

TEST_CASE("adaptive groups: a changing group and a quiet one of one type diverge",
          "[dynamic_ttl][adaptive][groups]") {
  Fixture f(adaptive_config(100.0, 1000));  // room to reach 10 s (x1/30) and the 7200 s clamp
  f.see(Kind::reload_changed, "fast");
  f.see(Kind::read, "slow");
  CHECK(f.ttl_s("fast") == 300.0);  // a group starts from its type's estimate: the table
  CHECK(f.ttl_s("slow") == 300.0);
  std::vector<double> fast;
  std::vector<double> slow;
  rounds(f, 20, &fast, &slow);
  INFO("fast after 5: " << fast[4] << " s, after 20: " << fast[19]
                        << " s; slow after 20: " << slow[19] << " s");
  // Stated (docs/dynamic-ttl.md, "Key groups"): the changing group within 10 % of 10 s after 20
  // changes, falling monotonically; the quiet one never falls.
  CHECK(fast[19] >= 9.0);
  CHECK(fast[19] <= 11.0);
  for (std::size_t i = 1; i < fast.size(); ++i) CHECK(fast[i] <= fast[i - 1]);
  for (std::size_t i = 1; i < slow.size(); ++i) CHECK(slow[i] >= slow[i - 1]);
  // The quiet group drifts up with its open interval: at the max_ttl clamp (7200 s) once 7200 s
  // passed without an unseen change of its own, i.e. after 720 rounds; the changing one stays
  // near 10 s.
  rounds(f, 700, &fast, &slow);
  CHECK(slow[718] < 7200.0);
  CHECK(slow.back() == 7200.0);
  CHECK(fast.back() >= 9.0);
  CHECK(fast.back() <= 11.0);
  // The type itself learned from every observation: its TTL follows the changing group, which
  // is what a type without groups would have given the quiet keys too.
  CHECK(f.policy->ttl_for("t", {}).count() <= 11'000);
  CHECK(f.ttl_s("") == f.policy->ttl_for("t", {}).count() / 1000.0);  // "" = the type
  // A group never observed uses the type's factor; another type is untouched.
  CHECK(f.ttl_s("never") == f.policy->ttl_for("t", {}).count() / 1000.0);
  CHECK(f.ttl_s("fast", "other") == 60.0);
  CHECK(f.policy->ttl_for("other", {}).count() == 60'000);
}

TEST_CASE("adaptive groups: beyond max_groups a group uses its type's factor and is counted",
          "[dynamic_ttl][adaptive][groups]") {
  Fixture f(adaptive_config(8.0, 2));
  f.see(Kind::read, "a");
  f.see(Kind::read, "b", "other");  // the bound is over all types
  for (int i = 0; i < 5; ++i) {
    f.clock->advance(10s);
    f.see(Kind::reload_changed, "a");
    f.see(Kind::reload_changed, "c");  // the third group: no estimate of its own
  }
  const auto all = f.policy->adaptive_stats();
  const auto* t = f.stats_of(all);
  const auto* other = f.stats_of(all, "other");
  REQUIRE(t != nullptr);
  REQUIRE(other != nullptr);
  REQUIRE(t->groups.size() == 1);
  CHECK(t->groups[0].group == "a");
  CHECK(t->groups[0].observed_changes == 5);
  REQUIRE(other->groups.size() == 1);
  CHECK(other->groups[0].group == "b");
  CHECK(t->untracked_group_observations == 5);
  CHECK(other->untracked_group_observations == 0);
  // c fed the type's estimate (10 changes in all) and gets the type's TTL.
  CHECK(t->observed_changes == 10);
  CHECK(f.ttl_s("c") == f.policy->ttl_for("t", {}).count() / 1000.0);
  const auto e = f.policy->explain("t", "c", {});
  CHECK_FALSE(e.group_tracked);
  CHECK(e.group == "c");
  CHECK(e.to_string().find("group \"c\" has no estimate of its own") != std::string::npos);
  // 0 groups: every group is the type.
  Fixture none(adaptive_config(8.0, 0));
  none.see(Kind::reload_changed, "a");
  CHECK(none.stats_of(none.policy->adaptive_stats())->groups.empty());
  CHECK(none.stats_of(none.policy->adaptive_stats())->untracked_group_observations == 1);
}

TEST_CASE("adaptive groups: explain and adaptive_stats show each group's factor and interval",
          "[dynamic_ttl][adaptive][groups]") {
  Fixture f;
  f.see(Kind::reload_changed, "fast");
  f.see(Kind::read, "slow");
  rounds(f, 30);
  const auto e = f.policy->explain("t", "fast", {});
  INFO(e.to_string());
  CHECK(e.group == "fast");
  CHECK(e.group_tracked);
  CHECK(e.adaptive);
  CHECK(e.observed_changes == 31);  // the group's own counts, not the type's
  CHECK(e.observed_reads == 0);
  CHECK(e.to_string().find("(adaptive of group \"fast\": unseen change every ~") !=
        std::string::npos);
  const auto all = f.policy->adaptive_stats();
  const auto* t = f.stats_of(all);
  REQUIRE(t != nullptr);
  REQUIRE(t->groups.size() == 2);
  const auto& fast = t->groups[0].group == "fast" ? t->groups[0] : t->groups[1];
  const auto& slow = t->groups[0].group == "fast" ? t->groups[1] : t->groups[0];
  CHECK(fast.factor == Approx(e.adaptive_factor));
  CHECK(fast.change_interval == e.change_interval);
  CHECK(fast.change_interval >= 9s);
  CHECK(fast.change_interval <= 11s);
  CHECK(slow.observed_reads == 31);
  CHECK(slow.observed_changes == 0);
  CHECK(t->observed_changes == 31);
  CHECK(t->observed_reads == 31);
  // The type-level explain is unchanged by groups.
  const auto type_e = f.policy->explain("t", {});
  CHECK(type_e.group.empty());
  CHECK(type_e.to_string().find("(adaptive: ") != std::string::npos);
}

TEST_CASE("adaptive groups: reload keeps group estimates, adaptation off restores the table",
          "[dynamic_ttl][adaptive][groups]") {
  Fixture f;
  f.see(Kind::reload_changed, "fast");
  f.see(Kind::read, "slow");
  rounds(f, 30);
  const auto fast = f.policy->ttl_for_group("t", "fast", {});
  const auto slow = f.policy->ttl_for_group("t", "slow", {});
  REQUIRE(fast < slow);
  // Same policy reloaded (e.g. another type added): the groups keep their estimates.
  auto c = adaptive_config(8.0);
  c.content_types.push_back(ContentTypeTtl("new", 10s));
  f.policy->reload(c);
  CHECK(f.policy->ttl_for_group("t", "fast", {}) == fast);
  CHECK(f.policy->ttl_for_group("t", "slow", {}) == slow);
  CHECK(f.stats_of(f.policy->adaptive_stats())->groups.size() == 2);
  // Off: exactly the table, for every group; the estimates are gone.
  auto off = adaptive_config(8.0);
  off.adaptive.enabled = false;
  f.policy->reload(off);
  CHECK(f.policy->ttl_for_group("t", "fast", {}) == 300s);
  CHECK(f.policy->ttl_for_group("t", "slow", {}) == 300s);
  CHECK(f.policy->adaptive_stats().empty());
  CHECK_FALSE(f.policy->explain("t", "fast", {}).adaptive);
  // On again: starts afresh, groups included.
  f.policy->reload(adaptive_config(8.0));
  CHECK(f.policy->ttl_for_group("t", "fast", {}) == 300s);
  CHECK(f.stats_of(f.policy->adaptive_stats())->groups.empty());
}

TEST_CASE("adaptive groups: max_groups in JSON and C++, validated",
          "[dynamic_ttl][adaptive][groups]") {
  const auto c = DynamicTtlConfig::from_json(R"({"adaptive": {"enabled": true, "max_groups": 7}})");
  CHECK(c.adaptive.max_groups == 7);
  CHECK(DynamicTtlConfig::from_json(c.to_json()) == c);
  CHECK(DynamicTtlConfig::from_json(R"({"adaptive": {"enabled": true}})").adaptive.max_groups ==
        1000);
  for (const char* bad :
       {R"({"adaptive": {"max_groups": -1}})", R"({"adaptive": {"max_groups": 1.5}})",
        R"({"adaptive": {"max_groups": 65537}})", R"({"adaptive": {"max_groups": "10"}})"}) {
    INFO(bad);
    CHECK_THROWS_AS(DynamicTtlConfig::from_json(bad), ttlcache::config_error);
  }
  auto code = adaptive_config(8.0);
  code.adaptive.max_groups = 70'000;
  CHECK_THROWS_WITH(code.validate(), Catch::Contains("$.adaptive.max_groups"));
}

// ---- through a Cache ----

namespace {

// The group of "a:1" is "a": the part before the colon.
std::string prefix_group(const std::string& key) { return key.substr(0, key.find(':')); }

}  // namespace

TEST_CASE("adaptive groups: a cache reports writes, reads and batches under the key's group",
          "[adaptive][groups]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  std::atomic<int> calls{0};
  auto cache = CacheBuilder<std::string, std::string>("groups")
                   .clock(clock)
                   .ttl_policy(rec)
                   .ttl_group([&](const std::string& k) {
                     ++calls;
                     return prefix_group(k);
                   })
                   .build();
  const auto feed = EntryOptions().content_type("feed");
  cache.set("a:1", "x", feed);
  CHECK(cache.ttl("a:1") == 10s);  // the group's TTL
  CHECK(rec->groups_of(Kind::write) == std::vector<std::string>{"a"});
  // set_many: one write per entry under its own group, each stored with its group's TTL.
  rec->forget();
  cache.set_many({{"a:2", "x"}, {"b:1", "y"}, {"c:1", "z"}}, feed);
  CHECK(cache.ttl("a:2") == 10s);
  CHECK(cache.ttl("b:1") == 20s);
  CHECK(cache.ttl("c:1") == 60s);
  auto writes = rec->groups_of(Kind::write);
  std::sort(writes.begin(), writes.end());
  CHECK(writes == std::vector<std::string>{"a", "b", "c"});
  // get_or_load: the read and the store under the key's group.
  rec->forget();
  cache.get_or_load(
      "b:2", [] { return std::string("v"); }, feed);
  CHECK(rec->groups_of(Kind::read) == std::vector<std::string>{"b"});
  CHECK(cache.ttl("b:2") == 20s);
  // get_many_or_load: one batch per group (the batch loader is called once per group).
  rec->forget();
  int batches = 0;
  const auto got = cache.get_many_or_load(
      {"a:9", "b:9", "a:8", "b:2"},
      [&](const std::vector<std::string>& keys) {
        ++batches;
        std::vector<std::string> out;
        for (const auto& k : keys) out.push_back("v" + k);
        return out;
      },
      feed);
  REQUIRE(got.size() == 4);
  CHECK(*got[0] == "va:9");
  CHECK(*got[1] == "vb:9");
  CHECK(*got[2] == "va:8");
  CHECK(*got[3] == "v");  // cached
  CHECK(batches == 2);    // {a:9, a:8} and {b:9}
  CHECK(cache.ttl("a:9") == 10s);
  CHECK(cache.ttl("b:9") == 20s);
  auto reads = rec->groups_of(Kind::read);
  std::sort(reads.begin(), reads.end());
  CHECK(reads == std::vector<std::string>{"a", "b"});
  // A per-call group overrides the function, for every key of the call.
  rec->forget();
  const int before = calls.load();
  cache.set("a:5", "x", EntryOptions().content_type("feed").ttl_group("b"));
  CHECK(cache.ttl("a:5") == 20s);
  CHECK(rec->groups_of(Kind::write) == std::vector<std::string>{"b"});
  CHECK(calls.load() == before);
  // No content type: no group, no call.
  cache.set("a:6", "x", 5s);
  CHECK(calls.load() == before);
}

TEST_CASE("adaptive groups: refreshes and fail-safe reloads report the key's group",
          "[adaptive][groups][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = CacheBuilder<std::string, std::string>("groups")
                   .clock(clock)
                   .ttl_policy(rec)
                   .executor(q.executor())
                   .refresh_ahead(0.5)
                   .fail_safe(1h)
                   .ttl_group(prefix_group)
                   .build();
  const auto feed = EntryOptions().content_type("feed");
  std::string source = "v1";
  auto loader = [&] { return source; };
  cache.get_or_load("a:1", loader, feed);  // 10 s
  clock->advance(6s);                      // past 50 %: refreshed in the background
  source = "v2";
  cache.get_or_load("a:1", loader, feed);
  REQUIRE(q.drain() == 1);
  auto seen = rec->seen();
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().kind == Kind::reload_changed);
  CHECK(seen.back().group == "a");
  // A reload over the stale copy kept by fail-safe (the copy expired).
  cache.get_or_load("b:1", loader, feed);  // 20 s
  clock->advance(25s);
  cache.get_or_load("b:1", loader, feed);
  seen = rec->seen();
  CHECK(seen.back().kind == Kind::reload_unchanged);
  CHECK(seen.back().group == "b");
}

TEST_CASE("adaptive groups: a policy that does not adapt never asks for a key's group",
          "[adaptive][groups]") {
  auto rec = std::make_shared<RecordingPolicy>(false);
  int calls = 0;
  auto cache = CacheBuilder<std::string, std::string>("groups")
                   .clock(std::make_shared<FakeClock>())  // ttl() exact: no time passes
                   .ttl_policy(rec)
                   .ttl_group([&](const std::string& k) {
                     ++calls;
                     return prefix_group(k);
                   })
                   .build();
  const auto feed = EntryOptions().content_type("feed");
  cache.set("a:1", "x", feed);
  cache.set_many({{"a:2", "x"}, {"b:1", "y"}}, feed);
  cache.get_or_load(
      "a:3", [] { return std::string("v"); }, feed);
  CHECK(calls == 0);
  CHECK(cache.ttl("a:1") == 60s);  // ttl_for, not the group's
  // A cache without a policy cannot take a group function.
  CHECK_THROWS_AS((CacheBuilder<std::string, std::string>("x").ttl_group(prefix_group).build()),
                  ttlcache::config_error);
}

TEST_CASE("adaptive groups: through a cache, a changing and an unchanging group diverge",
          "[adaptive][groups][reload]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::DynamicTtlConfig c;
  c.utc_offset = 0min;
  c.jitter_percent = 0.0;
  c.min_ttl = 1s;
  c.max_ttl = 7200s;
  c.content_types = {ttlcache::ContentTypeTtl("feed", 60s)};
  c.adaptive.enabled = true;
  c.adaptive.max_factor = 8.0;
  TaskQueue q;
  auto cache = CacheBuilder<std::string, std::string>("groups")
                   .clock(clock)
                   .dynamic_ttl(c)
                   .executor(q.executor())
                   .refresh_ahead(0.5)
                   .ttl_group(prefix_group)
                   .build();
  const auto feed = EntryOptions().content_type("feed");
  int n = 0;
  // Each key read at 60 % of its TTL (refresh-ahead at 50 % reloads it each time), 20 times.
  const auto refresh = [&](const std::string& key, const std::function<std::string()>& load) {
    cache.get_or_load(key, load, feed);
    for (int i = 0; i < 20; ++i) {
      const auto left = cache.ttl(key);
      REQUIRE(left.has_value());
      clock->advance(*left * 3 / 5);
      cache.get_or_load(key, load, feed);
      REQUIRE(q.drain() == 1);
    }
  };
  refresh("fast:1", [&] { return "v" + std::to_string(++n); });  // a new value every time
  refresh("slow:1", [] { return std::string("same"); });
  auto policy = std::dynamic_pointer_cast<const DynamicTTL>(cache.options().ttl_policy);
  REQUIRE(policy != nullptr);
  const auto fast = policy->explain("feed", "fast", {});
  const auto slow = policy->explain("feed", "slow", {});
  INFO(fast.to_string() << "\n" << slow.to_string());
  CHECK(fast.ttl == 7500ms);  // the floor: 60 s / 8
  CHECK(slow.ttl == 480s);    // the ceiling: 60 s x 8
  // The statistics carry both, in JSON and Prometheus.
  const auto stats = cache.stats();
  REQUIRE(stats.adaptive_ttl.count("feed") == 1);
  const auto& groups = stats.adaptive_ttl.at("feed").groups;
  REQUIRE(groups.size() == 2);
  CHECK(groups.at("fast").factor == Approx(0.125));
  CHECK(groups.at("slow").factor == Approx(8.0));
  const std::string json = ttlcache::to_json(stats).dump();
  CHECK(json.find(R"("groups":{"fast":{)") != std::string::npos);
  const std::string prom = ttlcache::to_prometheus(stats);
  CHECK(
      prom.find(
          R"(ttlcache_adaptive_group_ttl_factor{cache="groups",content_type="feed",group="slow"} 8)") !=
      std::string::npos);
}
