// Tests for tags, entity versions, invalidate_matching and the write helpers (in-process).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "conformance/backend_conformance.hpp"
#include "support/tag_fixture.hpp"
#include "ttlcache/invalidation.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::Cache;
using ttlcache::FakeClock;
using ttlcache::Tags;

namespace {

using StringCache = Cache<std::string, std::string>;

using Fixture = ttlcache_test::TagFixture;

}  // namespace

TEST_CASE("the tag-aware memory backend keeps the Backend contract", "[tags][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [clock] {
    ttlcache::MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
    memory.clock = clock;
    return ttlcache::make_tagged_memory_backend<std::string, std::string>(memory);
  };
  fixture.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("invalidate_tag makes exactly the tagged entries misses", "[tags]") {
  Fixture fx;
  StringCache cache(fx.backend);
  cache.set("file:1", "a", 1h, {"user:42", "files"});
  cache.set("file:2", "b", 1h, {"user:7", "files"});
  cache.set("list:42", "c", 1h, {"user:42"});
  cache.set("plain", "d", 1h);

  cache.invalidate_tag("user:42");
  CHECK_FALSE(cache.get("file:1"));
  CHECK_FALSE(cache.get("list:42"));
  CHECK(cache.get("file:2") == std::optional<std::string>("b"));
  CHECK(cache.get("plain") == std::optional<std::string>("d"));

  // Written after the invalidation: valid again.
  cache.set("file:1", "a2", 1h, {"user:42", "files"});
  CHECK(cache.get("file:1") == std::optional<std::string>("a2"));

  cache.invalidate_tags({"files", "nothing-carries-this"});
  CHECK_FALSE(cache.get("file:1"));
  CHECK_FALSE(cache.get("file:2"));
  CHECK(cache.get("plain") == std::optional<std::string>("d"));
  CHECK_FALSE(cache.contains("file:2"));
  CHECK_FALSE(cache.ttl("file:2"));
}

TEST_CASE("invalidate_tag costs O(1) however many entries carry the tag", "[tags]") {
  Fixture fx;
  StringCache cache(fx.backend);
  for (int i = 0; i < 20'000; ++i) cache.set("k" + std::to_string(i), "v", 1h, {"hot"});
  const std::size_t before = fx.stamps->size();
  const auto start = std::chrono::steady_clock::now();
  cache.invalidate_tag("hot");
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(fx.stamps->size() == before);  // one name rewritten, nothing added
  CHECK(took < 5ms);                   // no walk over the 20,000 entries
  CHECK_FALSE(cache.get("k0"));
  CHECK_FALSE(cache.get("k19999"));
}

TEST_CASE("entity versions: bump_version invalidates entries written under the old version",
          "[tags][versions]") {
  Fixture fx;
  StringCache cache(fx.backend);
  const auto v1 = cache.version("file");
  CHECK(cache.version("file") == v1);
  cache.set("files:list:1", "[a,b]", 1h, Tags{}.entity("file"));
  cache.set("users:list", "[u]", 1h, Tags{}.entity("user"));
  cache.set("both", "x", 1h, Tags{"user:1"}.entity("file"));

  const auto v2 = cache.bump_version("file");
  CHECK(v2 != v1);
  CHECK(cache.version("file") == v2);
  CHECK_FALSE(cache.get("files:list:1"));
  CHECK_FALSE(cache.get("both"));
  CHECK(cache.get("users:list") == std::optional<std::string>("[u]"));

  // A tag and an entity type of the same name are different things.
  cache.set("t", "1", 1h, {"file"});
  cache.bump_version("file");
  CHECK(cache.get("t") == std::optional<std::string>("1"));
}

TEST_CASE("get_or_load with tags stamps before loading, so a racing invalidation wins", "[tags]") {
  Fixture fx;
  StringCache cache(fx.backend);
  int loads = 0;
  const auto value =
      cache.get_or_load("k",
                        [&] {
                          ++loads;
                          cache.invalidate_tag("t");  // the data changes while we load it
                          return std::string("old");
                        },
                        1h, {"t"});
  CHECK(value == "old");        // the caller gets what it loaded...
  CHECK_FALSE(cache.get("k"));  // ...but nobody else is served it
  CHECK(cache.get_or_load("k",
                          [&] {
                            ++loads;
                            return std::string("new");
                          },
                          1h, {"t"}) == "new");
  CHECK(cache.get("k") == std::optional<std::string>("new"));
  CHECK(loads == 2);
}

TEST_CASE("lost tag metadata fails safe: the entry is a miss, never stale", "[tags]") {
  Fixture fx;
  StringCache cache(fx.backend);
  cache.set("k", "v", 1h, {"t"});
  cache.set("plain", "p", 1h);
  fx.stamps->clear();  // as a FLUSHDB or an eviction of the metadata would
  CHECK_FALSE(cache.get("k"));
  CHECK(cache.get("plain") == std::optional<std::string>("p"));
  // The tag comes back with a new random version; the old entry stays a miss.
  cache.set("other", "o", 1h, {"t"});
  CHECK(cache.get("other") == std::optional<std::string>("o"));
  CHECK_FALSE(cache.get("k"));
}

TEST_CASE("tag metadata is bounded: TTLs and a maximum count", "[tags]") {
  Fixture fx(64);
  StringCache cache(fx.backend);
  for (int i = 0; i < 5000; ++i)
    cache.set("k" + std::to_string(i), "v", 1h, {"u:" + std::to_string(i)});
  CHECK(fx.stamps->size() <= 64);
  // Evicted metadata turned old entries into misses, never into hits of the wrong version.
  CHECK(cache.get("k4999") == std::optional<std::string>("v"));
  int hits = 0;
  for (int i = 0; i < 5000; ++i) hits += cache.get("k" + std::to_string(i)) ? 1 : 0;
  CHECK(hits <= 64);

  // Expired metadata: the entry outlived its tag's metadata (stamp_ttl 24 h < entry TTL 48 h
  // is extended at write time, so move past both).
  Fixture fy;
  StringCache c2(fy.backend);
  c2.set("short-tag", "v", 1min, {"t"});
  fy.clock->advance(25h);  // stamp_ttl (24 h) passed
  c2.set("fresh", "v", 48h, {"t2"});
  CHECK_FALSE(c2.get("short-tag"));
  fy.clock->advance(47h);
  CHECK(c2.get("fresh") == std::optional<std::string>("v"));  // its tag was kept alive 48 h
}

TEST_CASE("tags on get_many are checked in one batch", "[tags]") {
  Fixture fx;
  StringCache cache(fx.backend);
  cache.set("a", "1", 1h, {"x"});
  cache.set("b", "2", 1h, {"y"});
  cache.set("c", "3", 1h);
  cache.invalidate_tag("x");
  const auto got = cache.get_many({"a", "b", "c", "missing"});
  REQUIRE(got.size() == 4);
  CHECK_FALSE(got[0]);
  CHECK(got[1] == std::optional<std::string>("2"));
  CHECK(got[2] == std::optional<std::string>("3"));
  CHECK_FALSE(got[3]);
}

TEST_CASE("invalidate_matching removes keys by literal prefix on the memory backend",
          "[tags][pattern]") {
  Fixture fx;
  StringCache cache(fx.backend);
  cache.set(ttlcache::make_key("files", 42, 1), "p1", 1h);
  cache.set(ttlcache::make_key("files", 42, 2), "p2", 1h);
  cache.set(ttlcache::make_key("files", 420, 1), "other user", 1h);
  cache.set(ttlcache::make_key("files", "*", 1), "star", 1h);
  cache.set("stats:42", "s", 1h);
  CHECK(cache.invalidate_matching(ttlcache::make_key("files", 42) + ":") == 2);
  CHECK_FALSE(cache.get("files:42:1"));
  CHECK_FALSE(cache.get("files:42:2"));
  CHECK(cache.get("files:420:1"));
  // Glob characters are literal: "files:*" removes only the key whose part is "*".
  CHECK(cache.invalidate_matching("files:*") == 1);
  CHECK(cache.get("files:420:1"));
  CHECK(cache.get("stats:42"));
  CHECK(cache.invalidate_matching("nothing") == 0);
}

TEST_CASE("the key index follows evictions and expiry", "[tags][pattern]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
  memory.clock = clock;
  memory.max_entries = 100;
  memory.shards = 1;
  auto inner = std::make_shared<
      ttlcache::detail::IndexedMemoryBackend<std::string, ttlcache::Tagged<std::string>>>(memory);
  for (int i = 0; i < 1000; ++i) inner->set("k" + std::to_string(i), {"v", {}, 0}, 1h);
  CHECK(inner->indexed_keys() == 100);
  clock->advance(2h);
  inner->memory().purge_expired();
  CHECK(inner->indexed_keys() == 0);
}

TEST_CASE("a backend without tags says so", "[tags]") {
  StringCache cache;
  CHECK_THROWS_AS(cache.set("k", "v", 1h, {"t"}), ttlcache::argument_error);
  CHECK_THROWS_AS(cache.invalidate_tag("t"), ttlcache::argument_error);
  CHECK_THROWS_WITH(cache.bump_version("file"), Catch::Contains("tag-aware"));
  Fixture fx;
  StringCache tagged(fx.backend);
  CHECK_THROWS_AS(tagged.set("k", "v", 1h, {""}), ttlcache::argument_error);
  CHECK_FALSE(tagged.contains("k"));
}

TEST_CASE("invalidate_after and invalidates run the invalidation only after a successful write",
          "[tags][helpers]") {
  Fixture fx;
  StringCache cache(fx.backend);
  cache.set("file:1", "old", 1h, {"files"});
  cache.set("k", "v", 1h);

  CHECK_THROWS_AS(ttlcache::invalidate_after(cache, {{"k"}, {"files"}, {}, {}},
                                             [] { throw std::runtime_error("db down"); }),
                  std::runtime_error);
  CHECK(cache.get("file:1"));
  CHECK(cache.get("k"));

  int saved = 0;
  auto save = ttlcache::invalidates(
      cache, ttlcache::Invalidation<std::string>{{"k"}, {"files"}, {}, {}}, [&](int n) {
        saved += n;
        return saved;
      });
  CHECK(save(3) == 3);
  CHECK(saved == 3);
  CHECK_FALSE(cache.get("file:1"));
  CHECK_FALSE(cache.get("k"));
}

TEST_CASE("InvalidationScope invalidates on commit, not on exception", "[tags][helpers]") {
  Fixture fx;
  StringCache cache(fx.backend);
  cache.set("a", "1", 1h, {"t"});
  try {
    ttlcache::InvalidationScope<std::string, std::string> scope(cache, {{}, {"t"}, {}, {}});
    throw std::runtime_error("write failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(cache.get("a"));
  {
    ttlcache::InvalidationScope<std::string, std::string> scope(cache, {{}, {"t"}, {}, {}});
    // not committed
  }
  CHECK(cache.get("a"));
  {
    ttlcache::InvalidationScope<std::string, std::string> scope(cache, {{}, {}, {"file"}, {}});
    cache.set("b", "2", 1h, Tags{}.entity("file"));
    scope.commit();
  }
  CHECK_FALSE(cache.get("b"));
  CHECK(cache.get("a"));
}

TEST_CASE("write_through writes the source first and leaves the cache alone when it fails",
          "[tags][helpers]") {
  Fixture fx;
  StringCache cache(fx.backend);
  std::string db;
  cache.set("user:1", "old", 1h, {"user:1"});
  cache.set("list", "[old]", 1h, {"users"});

  CHECK_THROWS_AS(
      ttlcache::write_through(cache, std::string("user:1"), std::string("new"), 1h,
                              [](const std::string&) { throw std::runtime_error("x"); }),
      std::runtime_error);
  CHECK(cache.get("user:1") == std::optional<std::string>("old"));
  CHECK(cache.get("list"));

  ttlcache::write_through(cache, std::string("user:1"), std::string("new"), 1h,
                          [&](const std::string& v) { db = v; }, {"user:1"},
                          ttlcache::WriteThroughMode::update, {{}, {"users"}, {}, {}});
  CHECK(db == "new");
  CHECK(cache.get("user:1") == std::optional<std::string>("new"));
  CHECK_FALSE(cache.get("list"));

  ttlcache::write_through(
      cache, std::string("user:1"), std::string("newer"), 1h, [&](const std::string& v) { db = v; },
      {}, ttlcache::WriteThroughMode::invalidate);
  CHECK(db == "newer");
  CHECK_FALSE(cache.get("user:1"));
}
