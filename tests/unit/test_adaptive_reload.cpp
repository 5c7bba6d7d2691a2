// Tests for adaptive TTL's reload detection inside a Cache: refreshes (refresh-ahead, early
// refresh, stale-while-revalidate) and reloads over a fail-safe copy compare the new value with
// the copy they replace and report reload_changed / reload_unchanged with its age; set_many
// reports its writes. Fake clock; background loads run on the test thread from a queue.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ttlcache/builder.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/value_equal.hpp"

#include "support/adaptive.hpp"

using namespace std::chrono_literals;
using ttlcache::CacheBuilder;
using ttlcache::EntryOptions;
using ttlcache::FakeClock;
using ttlcache::TtlObservation;
using ttlcache_test::RecordingPolicy;
using ttlcache_test::TaskQueue;
using Kind = ttlcache::TtlObservation::Kind;

namespace {

struct NoEq {  // a value type without operator==
  std::string body;
  int version = 0;
};
struct WithEq {
  int x = 0;
  bool operator==(const WithEq& o) const { return x == o.x; }
};

// What the cache trait sees as comparable.
using ttlcache::detail::is_equality_comparable;
static_assert(is_equality_comparable<std::string>::value, "strings compare");
static_assert(is_equality_comparable<std::vector<WithEq>>::value, "so do vectors of WithEq");
static_assert(!is_equality_comparable<NoEq>::value, "no operator==");
static_assert(!is_equality_comparable<std::vector<NoEq>>::value,
              "std::vector declares == for any element: the trait looks inside");
static_assert(is_equality_comparable<std::shared_ptr<const std::string>>::value,
              "a shared value compares its pointee");
static_assert(!is_equality_comparable<std::shared_ptr<const NoEq>>::value,
              "a shared value of a type without == does not compare");

static_assert(!is_equality_comparable<std::map<std::string, NoEq>>::value, "maps too");
static_assert(!is_equality_comparable<std::optional<NoEq>>::value, "and optionals");

template <class V>
CacheBuilder<std::string, V> builder(const std::shared_ptr<FakeClock>& clock,
                                     std::shared_ptr<const ttlcache::TtlPolicy> policy,
                                     TaskQueue& queue) {
  CacheBuilder<std::string, V> b("reload");
  b.clock(clock).ttl_policy(std::move(policy)).executor(queue.executor());
  return b;
}

// "feed" 60 s in the table, adaptive up to x8 either way, no jitter.
std::shared_ptr<ttlcache::DynamicTTL> adaptive_policy(const std::shared_ptr<FakeClock>& clock) {
  ttlcache::DynamicTtlConfig c;
  c.utc_offset = 0min;
  c.jitter_percent = 0.0;
  c.min_ttl = 1s;
  c.max_ttl = 7200s;
  c.content_types = {ttlcache::ContentTypeTtl("feed", 60s)};
  c.adaptive.enabled = true;
  c.adaptive.max_factor = 8.0;
  return std::make_shared<ttlcache::DynamicTTL>(c, clock);
}

// Reads "k" every 60 % of its current TTL (refresh-ahead at 50 % reloads it each time) for
// `rounds` refreshes; the loader returns the next value of `next`.
template <class Cache>
void refresh_rounds(Cache& cache, FakeClock& clock, TaskQueue& queue, int rounds,
                    const std::function<std::string()>& next, std::vector<std::int64_t>* ttls) {
  const auto opts = EntryOptions().content_type("feed");
  cache.get_or_load("k", next, opts);  // the first load: a miss, nothing to compare
  for (int i = 0; i < rounds; ++i) {
    const auto left = cache.ttl("k");
    REQUIRE(left.has_value());
    if (ttls) ttls->push_back(left->count());
    clock.advance(*left * 3 / 5);
    cache.get_or_load("k", next, opts);
    REQUIRE(queue.drain() == 1);  // one background refresh per round
  }
}

}  // namespace

TEST_CASE("adaptive reload: refresh-ahead reports changed and unchanged reloads with the age",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = builder<std::string>(clock, rec, q).refresh_ahead(0.5).build();
  std::string source = "v1";
  auto loader = [&] { return source; };
  const auto opts = EntryOptions().content_type("feed");
  cache.get_or_load("k", loader, opts);
  CHECK(rec->reloads().empty());  // a first load replaces nothing
  clock->advance(36s);
  source = "v2";
  CHECK(cache.get_or_load("k", loader, opts) == "v1");  // served; the refresh is queued
  REQUIRE(q.drain() == 1);
  auto r = rec->reloads();
  REQUIRE(r.size() == 1);
  CHECK(r[0].kind == Kind::reload_changed);
  CHECK(r[0].type == "feed");
  CHECK(r[0].age == 36s);
  clock->advance(40s);  // same data: unchanged after 40 s
  CHECK(cache.get_or_load("k", loader, opts) == "v2");
  REQUIRE(q.drain() == 1);
  r = rec->reloads();
  REQUIRE(r.size() == 2);
  CHECK(r[1].kind == Kind::reload_unchanged);
  CHECK(r[1].age == 40s);
  // A read early in the TTL refreshes nothing and reports nothing.
  clock->advance(1s);
  cache.get_or_load("k", loader, opts);
  CHECK(q.drain() == 0);
  CHECK(rec->reloads().size() == 2);
}

TEST_CASE("adaptive reload: a value written by set() is what the refresh compares with",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = builder<std::string>(clock, rec, q).refresh_ahead(0.5).build();
  cache.set("k", "new", EntryOptions().content_type("feed"));  // a told write
  CHECK(rec->count(Kind::write) == 1);
  clock->advance(31s);
  cache.get_or_load(
      "k", [] { return std::string("new"); }, EntryOptions().content_type("feed"));
  REQUIRE(q.drain() == 1);
  const auto r = rec->reloads();
  REQUIRE(r.size() == 1);
  CHECK(r[0].kind == Kind::reload_unchanged);  // the source agrees with what was written
  CHECK(r[0].age == 31s);
}

TEST_CASE("adaptive reload: refresh-ahead of a changing value shortens the type's TTL",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto policy = adaptive_policy(clock);
  TaskQueue q;
  auto cache = builder<std::string>(clock, policy, q).refresh_ahead(0.5).build();
  int n = 0;
  std::vector<std::int64_t> ttls;
  refresh_rounds(
      cache, *clock, q, 20, [&] { return "v" + std::to_string(++n); }, &ttls);
  const auto e = policy->explain("feed", {});
  INFO(e.to_string());
  CHECK(e.observed_changes == 20);  // every refresh found another value
  CHECK(e.counted_changes >= 10);
  // From the table's 60 s down to its floor, 60 s / 8, falling monotonically.
  CHECK(ttls.front() == 60'000);
  for (std::size_t i = 1; i < ttls.size(); ++i) CHECK(ttls[i] <= ttls[i - 1]);
  CHECK(e.ttl == 7500ms);
}

TEST_CASE("adaptive reload: refresh-ahead of an unchanged value grows the type's TTL",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto policy = adaptive_policy(clock);
  TaskQueue q;
  auto cache = builder<std::string>(clock, policy, q).refresh_ahead(0.5).build();
  std::vector<std::int64_t> ttls;
  refresh_rounds(
      cache, *clock, q, 20, [] { return std::string("same"); }, &ttls);
  const auto e = policy->explain("feed", {});
  INFO(e.to_string());
  CHECK(e.observed_changes == 0);
  for (std::size_t i = 1; i < ttls.size(); ++i) CHECK(ttls[i] >= ttls[i - 1]);
  CHECK(ttls.back() > 60'000);
  CHECK(e.ttl == 480s);  // up to x8
}

TEST_CASE("adaptive reload: shared values are compared by what they point to",
          "[adaptive][reload]") {
  // Each reload makes a new pointer; comparing pointers would report every reload as changed.
  using Shared = std::shared_ptr<const std::string>;
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = builder<Shared>(clock, rec, q).refresh_ahead(0.5).build();
  std::string source = "v1";
  auto loader = [&] { return std::make_shared<const std::string>(source); };
  const auto opts = EntryOptions().content_type("feed");
  cache.get_or_load("k", loader, opts);
  clock->advance(36s);  // same data in a new pointer: unchanged
  CHECK(*cache.get_or_load("k", loader, opts) == "v1");
  REQUIRE(q.drain() == 1);
  clock->advance(40s);
  source = "v2";  // other data: changed
  CHECK(*cache.get_or_load("k", loader, opts) == "v1");
  REQUIRE(q.drain() == 1);
  const auto r = rec->reloads();
  REQUIRE(r.size() == 2);
  CHECK(r[0].kind == Kind::reload_unchanged);
  CHECK(r[1].kind == Kind::reload_changed);

  const auto equal = ttlcache::detail::value_equal_or_default<Shared>({});
  REQUIRE(equal);
  CHECK(equal(nullptr, nullptr));
  CHECK_FALSE(equal(std::make_shared<const std::string>("x"), nullptr));
  CHECK_FALSE(equal(nullptr, std::make_shared<const std::string>("x")));
}

TEST_CASE("adaptive reload: a value type without equality reports no reloads",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  int version = 0;
  auto loader = [&] { return NoEq{"page", ++version}; };
  const auto opts = EntryOptions().content_type("feed");
  SECTION("no operator== and no value_equal: nothing compared") {
    auto cache = builder<NoEq>(clock, rec, q).refresh_ahead(0.5).build();
    cache.get_or_load("k", loader, opts);
    clock->advance(40s);
    cache.get_or_load("k", loader, opts);
    REQUIRE(q.drain() == 1);
    CHECK(version == 2);  // the refresh ran
    CHECK(rec->reloads().empty());
    CHECK(rec->count(Kind::read) == 2);
  }
  SECTION("value_equal compares what stands for the data") {
    auto cache =
        builder<NoEq>(clock, rec, q)
            .refresh_ahead(0.5)
            .value_equal([](const NoEq& a, const NoEq& b) { return a.version == b.version; })
            .build();
    cache.get_or_load("k", loader, opts);
    clock->advance(40s);
    cache.get_or_load("k", loader, opts);
    REQUIRE(q.drain() == 1);
    const auto r = rec->reloads();
    REQUIRE(r.size() == 1);
    CHECK(r[0].kind == Kind::reload_changed);
  }
}

TEST_CASE("adaptive reload: nothing is compared while the policy does not adapt",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>(false);
  TaskQueue q;
  int compared = 0;
  auto cache = builder<std::string>(clock, rec, q)
                   .refresh_ahead(0.5)
                   .value_equal([&](const std::string& a, const std::string& b) {
                     ++compared;
                     return a == b;
                   })
                   .build();
  int n = 0;
  auto loader = [&] { return "v" + std::to_string(++n); };
  const auto opts = EntryOptions().content_type("feed");
  cache.get_or_load("k", loader, opts);
  clock->advance(40s);
  cache.get_or_load("k", loader, opts);
  REQUIRE(q.drain() == 1);
  CHECK(n == 2);
  CHECK(compared == 0);
  CHECK(rec->reloads().empty());
}

TEST_CASE("adaptive reload: stale-while-revalidate and fail-safe reloads compare the stale copy",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  std::string source = "a";
  auto loader = [&] { return source; };
  const auto opts = EntryOptions().content_type("feed");
  SECTION("stale-while-revalidate: the expired copy served is compared in the background") {
    auto cache = builder<std::string>(clock, rec, q).stale_while_revalidate(30s).build();
    cache.get_or_load("k", loader, opts);
    clock->advance(70s);  // expired 10 s ago, within the window
    source = "b";
    CHECK(cache.get_or_load("k", loader, opts) == "a");
    REQUIRE(q.drain() == 1);
    const auto r = rec->reloads();
    REQUIRE(r.size() == 1);
    CHECK(r[0].kind == Kind::reload_changed);
    CHECK(r[0].age == 70s);
  }
  SECTION("fail-safe: a foreground reload after expiry compares the stale copy it kept") {
    auto cache = builder<std::string>(clock, rec, q).fail_safe(1h).build();
    cache.get_or_load("k", loader, opts);
    clock->advance(5min);
    CHECK(cache.get_or_load("k", loader, opts) == "a");  // loaded in the foreground
    const auto r = rec->reloads();
    REQUIRE(r.size() == 1);
    CHECK(r[0].kind == Kind::reload_unchanged);
    CHECK(r[0].age == 5min);
  }
  SECTION("fail-safe batches: get_many_or_load compares each key's stale copy") {
    auto cache = builder<std::string>(clock, rec, q).fail_safe(1h).build();
    auto batch = [&](const std::vector<std::string>& keys) {
      std::vector<std::string> out;
      for (const auto& k : keys) out.push_back(k == "x" ? source : "same");
      return out;
    };
    cache.get_many_or_load({"x", "y"}, batch, opts);
    CHECK(rec->reloads().empty());
    clock->advance(2min);
    source = "changed";
    cache.get_many_or_load({"x", "y"}, batch, opts);
    const auto r = rec->reloads();
    REQUIRE(r.size() == 2);
    CHECK(r[0].kind == Kind::reload_changed);
    CHECK(r[1].kind == Kind::reload_unchanged);
    CHECK(r[0].age == 2min);
  }
  SECTION("without entry times there is no copy to compare") {
    auto cache = builder<std::string>(clock, rec, q).build();
    cache.get_or_load("k", loader, opts);
    clock->advance(5min);
    source = "b";
    CHECK(cache.get_or_load("k", loader, opts) == "b");
    CHECK(rec->reloads().empty());
  }
}

TEST_CASE("adaptive reload: a copy removed by a told change is not compared",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = builder<std::string>(clock, rec, q).tags().fail_safe(1h).build();
  std::string source = "a";
  auto loader = [&] { return source; };
  const auto opts = EntryOptions().content_type("feed").tag("t");
  cache.get_or_load("k", loader, opts);
  cache.get_or_load("e", loader, EntryOptions().content_type("feed"));
  source = "b";
  cache.invalidate_tag("t");  // the stale copy goes with it: never served, never compared
  CHECK(cache.get_or_load("k", loader, opts) == "b");
  cache.erase("e");  // so does erase's
  CHECK(cache.get_or_load("e", loader, EntryOptions().content_type("feed")) == "b");
  CHECK(rec->reloads().empty());
}

TEST_CASE("adaptive reload: early refresh compares the fresh copy it replaces",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  ttlcache::LoadOptions lo;
  lo.early_refresh = true;
  lo.random = [] { return 1e-300; };  // always draws a refresh (given a load time)
  auto cache = builder<std::string>(clock, rec, q).loading(lo).build();
  int n = 0;
  auto loader = [&] {
    clock->advance(100ms);  // a load time, which XFetch needs
    return "v" + std::to_string(++n);
  };
  const auto opts = EntryOptions().content_type("feed");
  cache.get_or_load("k", loader, opts);
  clock->advance(10s);
  CHECK(cache.get_or_load("k", loader, opts) == "v2");  // refreshed in the foreground
  const auto r = rec->reloads();
  REQUIRE(r.size() == 1);
  CHECK(r[0].kind == Kind::reload_changed);
  CHECK(r[0].age == 10'100ms);  // 10 s, and the refresh's own 100 ms load
}

TEST_CASE("adaptive reload: set_many reports one told write per entry", "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = builder<std::string>(clock, rec, q).build();
  cache.set_many({{"a", "1"}, {"b", "2"}, {"c", "3"}}, EntryOptions().content_type("feed"));
  CHECK(rec->count(Kind::write) == 3);
  cache.set_many(std::vector<std::pair<std::string, std::string>>{{"d", "4"}});  // no type
  CHECK(rec->count(Kind::write) == 3);                                           // no report
  cache.set_many(std::vector<ttlcache::Write<std::string, std::string>>{{"e", "5", 10s}});
  CHECK(rec->count(Kind::write) == 3);
  // Through DynamicTTL: told changes, which never shorten.
  auto policy = adaptive_policy(clock);
  auto dyn = builder<std::string>(clock, policy, q).build();
  dyn.set_many({{"a", "1"}, {"b", "2"}}, EntryOptions().content_type("feed"));
  const auto e = policy->explain("feed", {});
  CHECK(e.told_changes == 2);
  CHECK(e.observed_changes == 0);
}

TEST_CASE("adaptive reload: prefix and pattern invalidations report the content type named",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  auto cache = builder<std::string>(clock, rec, q).tags().build();
  const auto feed = EntryOptions().content_type("feed");
  cache.set("feed:1", "a", feed);
  CHECK(cache.invalidate_matching("feed:") == 1);
  CHECK(rec->count(Kind::invalidation) == 0);  // keys carry no type: the cache cannot tell
  cache.set("feed:2", "b", feed);
  CHECK(cache.invalidate_matching("feed:", "feed") == 1);
  CHECK(rec->count(Kind::invalidation) == 1);
  cache.set("feed:3", "c", feed);
  CHECK(cache.invalidate_pattern(ttlcache::KeyPattern{"feed:", ttlcache::KeyPattern::any},
                                 "feed") == 1);
  const auto r = rec->count(Kind::invalidation);
  CHECK(r == 2);
  CHECK_FALSE(cache.get("feed:3").has_value());
}

TEST_CASE("adaptive reload: a raced reload and a throwing equality report nothing",
          "[adaptive][reload]") {
  auto clock = std::make_shared<FakeClock>();
  auto rec = std::make_shared<RecordingPolicy>();
  TaskQueue q;
  const auto opts = EntryOptions().content_type("feed");
  SECTION("a write during the refresh: its change is a told one") {
    auto cache = builder<std::string>(clock, rec, q).refresh_ahead(0.5).build();
    cache.get_or_load(
        "k", [] { return std::string("a"); }, opts);
    clock->advance(40s);
    bool wrote = false;
    auto racing = [&] {
      if (!wrote) {
        wrote = true;
        cache.set("k", "written", opts);  // the application writes while the reload runs
      }
      return std::string("b");
    };
    cache.get_or_load("k", racing, opts);
    REQUIRE(q.drain() == 1);
    CHECK(wrote);
    CHECK(rec->reloads().empty());
    CHECK(cache.get("k") == std::optional<std::string>("written"));  // the write stands
  }
  SECTION("a throwing value_equal") {
    auto cache = builder<std::string>(clock, rec, q)
                     .refresh_ahead(0.5)
                     .value_equal([](const std::string&, const std::string&) -> bool {
                       throw std::runtime_error("cannot compare");
                     })
                     .build();
    cache.get_or_load(
        "k", [] { return std::string("a"); }, opts);
    clock->advance(40s);
    cache.get_or_load(
        "k", [] { return std::string("b"); }, opts);
    REQUIRE(q.drain() == 1);
    CHECK(rec->reloads().empty());
    clock->advance(1s);
    CHECK(cache.get("k") == std::optional<std::string>("b"));  // the reload was stored
  }
}
