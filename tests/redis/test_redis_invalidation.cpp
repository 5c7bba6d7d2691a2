// Invalidation on a real redis-server: tags, versions, patterns, tiered cache and pub/sub bus.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "conformance/backend_conformance.hpp"
#include "redis_test_support.hpp"
#include "ttlcache/invalidation.hpp"
#include "ttlcache/redis.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::Tags;
using ttlcache_test::RawClient;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

namespace {

using StringCache = ttlcache::Cache<std::string, std::string>;
using Clock = std::chrono::steady_clock;

std::shared_ptr<ttlcache::redis::RedisStore> make_store(const std::string& ns, int port = 0) {
  auto options = ttlcache_test::options_for(shared_server(), ns);
  if (port != 0) options.port = port;
  return std::make_shared<ttlcache::redis::RedisStore>(options);
}

std::shared_ptr<ttlcache::redis::PubSubBus> make_bus(const std::string& channel, int port = 0,
                                                     std::chrono::milliseconds beat = 1000ms) {
  ttlcache::redis::PubSubOptions options;
  options.redis = ttlcache_test::options_for(shared_server(), "unused");
  if (port != 0) options.redis.port = port;
  options.channel = channel;
  options.heartbeat_interval = beat;
  auto bus = std::make_shared<ttlcache::redis::PubSubBus>(options);
  REQUIRE(bus->wait_until_subscribed(10s));
  return bus;
}

/// Polls pred until it holds or timeout passes; returns whether it held.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

/// One service instance on Redis: own store (pool), own bus, own L1.
struct RedisInstance {
  std::shared_ptr<ttlcache::redis::RedisStore> store;
  std::shared_ptr<ttlcache::redis::PubSubBus> bus;
  ttlcache::TieredTagged<std::string, std::string> parts;
  std::unique_ptr<StringCache> cache;

  RedisInstance(const std::string& ns, const std::string& channel,
                std::chrono::milliseconds l1_max_ttl = 5s, int port = 0,
                std::chrono::milliseconds beat = 1000ms) {
    store = make_store(ns, port);
    bus = make_bus(channel, port, beat);
    ttlcache::TieredOptions options;
    options.l1_max_ttl = l1_max_ttl;
    parts = ttlcache::redis::make_tiered_backend<std::string, std::string>(store, bus, options);
    cache = std::make_unique<StringCache>(parts.backend);
  }
  bool in_l1(const std::string& key) { return parts.tiered->l1().contains(key); }
};

/// INFO commandstats as command -> calls.
std::map<std::string, long long> command_calls(RawClient& raw) {
  std::map<std::string, long long> out;
  std::istringstream in(raw.string_reply({"INFO", "commandstats"}));
  for (std::string line; std::getline(in, line);) {
    const std::string prefix = "cmdstat_";
    const auto colon = line.find(':');
    const auto calls = line.find("calls=");
    if (line.rfind(prefix, 0) != 0 || colon == std::string::npos || calls == std::string::npos) {
      continue;
    }
    out[line.substr(prefix.size(), colon - prefix.size())] = std::stoll(line.substr(calls + 6));
  }
  return out;
}

/// SIGSTOPs a server and SIGCONTs it when the scope ends, even when a REQUIRE fails.
class Frozen {
 public:
  explicit Frozen(int pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
  ~Frozen() { thaw(); }
  Frozen(const Frozen&) = delete;
  Frozen& operator=(const Frozen&) = delete;
  void thaw() {
    if (pid_ != 0) ::kill(pid_, SIGCONT);
    pid_ = 0;
  }

 private:
  int pid_;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

TEST_CASE("the tag-aware Redis backend keeps the Backend contract", "[redis][tags][conformance]") {
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [] {
    return ttlcache::redis::make_tagged_backend<std::string, std::string>(
        make_store(unique_namespace("tagged-conf")));
  };
  fixture.let_time_pass = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  fixture.unit = 250ms;
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("the tiered backend keeps the Backend contract (memory + Redis)",
          "[redis][tiered][conformance]") {
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [hub]() -> std::shared_ptr<ttlcache::Backend<std::string, std::string>> {
    auto l2 = ttlcache::redis::make_backend<std::string, std::string>(
        ttlcache_test::options_for(shared_server(), unique_namespace("tiered-conf")));
    auto l1 = std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>();
    ttlcache::TieredOptions options;
    options.l1_max_ttl = 2s;
    return std::make_shared<ttlcache::TieredBackend<std::string, std::string>>(
        l1, l2, std::make_shared<ttlcache::InProcessBus>(hub), options);
  };
  fixture.let_time_pass = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  fixture.unit = 250ms;
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("the tag-aware tiered backend keeps the Backend contract (memory + Redis, pub/sub)",
          "[redis][tiered][conformance]") {
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = []() -> std::shared_ptr<ttlcache::Backend<std::string, std::string>> {
    auto instance =
        std::make_shared<RedisInstance>(unique_namespace("tt-conf"), unique_namespace("chan"), 2s);
    auto backend = instance->parts.backend;
    return std::shared_ptr<ttlcache::Backend<std::string, std::string>>(backend.get(),
                                                                        [instance](auto*) {});
  };
  fixture.let_time_pass = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  fixture.unit = 250ms;
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("tags and versions across two Cache instances sharing one Redis", "[redis][tags]") {
  const std::string ns = unique_namespace("tags2");
  StringCache a(ttlcache::redis::make_tagged_backend<std::string, std::string>(make_store(ns)));
  StringCache b(ttlcache::redis::make_tagged_backend<std::string, std::string>(make_store(ns)));

  a.set("file:1", "one", 1h, {"user:42", "files"});
  a.set("file:2", "two", 1h, {"user:7", "files"});
  a.set("list:files", "[1,2]", 1h, Tags{}.entity("file"));
  a.set("plain", "p", 1h);
  CHECK(b.get("file:1") == std::optional<std::string>("one"));

  b.invalidate_tag("user:42");  // B invalidates, A sees it: one truth in Redis
  CHECK_FALSE(a.get("file:1"));
  CHECK(a.get("file:2") == std::optional<std::string>("two"));

  const auto v = a.version("file");
  CHECK(b.version("file") == v);
  CHECK(a.get("list:files"));
  CHECK(b.bump_version("file") != v);
  CHECK_FALSE(a.get("list:files"));
  CHECK(a.get("plain"));

  b.invalidate_tags({"files"});
  CHECK_FALSE(a.get("file:2"));
  CHECK(a.get_many({"file:2", "plain"})[1] == std::optional<std::string>("p"));
}

TEST_CASE("tag metadata in Redis: keys with TTLs, outside the data namespace, fail-safe when lost",
          "[redis][tags]") {
  const std::string ns = unique_namespace("meta");
  auto store = make_store(ns);
  ttlcache::TaggedOptions options;
  options.stamp_ttl = 10min;
  StringCache cache(ttlcache::redis::make_tagged_backend<std::string, std::string>(store, options));
  RawClient raw(shared_server().port);

  cache.set("k", "v", 1h, {"t"});
  cache.set("short", "v", 1s, {"s"});
  const std::string tag_key = store->stamp_key("t:t");
  CHECK(raw.string_reply({"TYPE", tag_key}) == "string");
  const long long pttl = raw.integer_reply({"PTTL", tag_key});
  CHECK(pttl > 59 * 60 * 1000);  // kept alive for the entry's hour, not just stamp_ttl
  const long long pttl_s = raw.integer_reply({"PTTL", store->stamp_key("t:s")});
  CHECK(pttl_s > 9 * 60 * 1000);
  CHECK(pttl_s <= 10 * 60 * 1000);
  CHECK(store->size() == 2);  // the stamps are not counted as entries
  cache.invalidate_tag("t");
  CHECK(raw.integer_reply({"PTTL", tag_key}) > 0);  // a bump never makes a TTL-less key

  cache.set("k", "v2", 1h, {"t"});
  CHECK(cache.get("k"));
  raw.integer_reply({"DEL", tag_key});  // as an eviction under maxmemory would
  CHECK_FALSE(cache.get("k"));          // cannot confirm its tags: a miss
  cache.set("j", "w", 1h, {"t"});       // the tag is created again with a new random version
  CHECK(cache.get("j"));
  CHECK_FALSE(cache.get("k"));

  raw.command({"SET", tag_key, "not-a-number", "PX", "60000"});  // foreign bytes
  CHECK_FALSE(cache.get("j"));
}

TEST_CASE("metadata lost in a server restart: every tagged entry is a miss, never stale",
          "[redis][tags][resilience]") {
  ttlcache_test::OwnServer server;
  auto store = make_store(unique_namespace("restart"), server.port());
  StringCache cache(ttlcache::redis::make_tagged_backend<std::string, std::string>(store));
  cache.set("k", "v", 1h, {"t"});
  CHECK(cache.get("k"));
  RawClient raw(server.port());
  // FLUSHALL would drop the entries too; drop only the metadata, as eviction of the
  // metadata keys would, to show that the entry itself is then refused.
  raw.integer_reply({"DEL", store->stamp_key("t:t")});
  CHECK_FALSE(cache.get("k"));
  server.kill_hard();
  server.restart();
  CHECK(eventually([&] {
    try {
      return !cache.get("k").has_value();
    } catch (const ttlcache::backend_error&) {
      return false;
    }
  }));
}

TEST_CASE("invalidate_matching uses the escaped SCAN", "[redis][pattern]") {
  StringCache cache(ttlcache::redis::make_tagged_backend<std::string, std::string>(
      make_store(unique_namespace("match"))));
  cache.set(ttlcache::make_key("files", 42, 1), "a", 1h);
  cache.set(ttlcache::make_key("files", 42, 2), "b", 1h);
  cache.set(ttlcache::make_key("files", 420, 1), "c", 1h);
  cache.set(ttlcache::make_key("files", "*", 1), "star", 1h);
  cache.set("x", "y", 1h, {"t"});
  CHECK(cache.invalidate_matching("files:42:") == 2);
  CHECK(cache.get("files:420:1"));
  CHECK(cache.invalidate_matching("files:*") == 1);  // only the literal "*"
  CHECK(cache.get("files:420:1"));
  CHECK(cache.get("x"));  // the stamps are outside the namespace: untouched
}

TEST_CASE("tiered over Redis with pub/sub: every change on A evicts B's L1",
          "[redis][tiered][bus]") {
  const std::string ns = unique_namespace("tiered");
  const std::string channel = unique_namespace("chan");
  RedisInstance a(ns, channel);
  RedisInstance b(ns, channel);

  a.cache->set("f:1", "v1", 1h, {"user:1"});
  a.cache->set("f:2", "w1", 1h, Tags{}.entity("file"));
  a.cache->set("dir:9:a", "d", 1h);
  // B reads after A's three messages arrived: one arriving after B's fill would evict it.
  REQUIRE(eventually([&] { return b.bus->stats().received >= 3; }));
  CHECK(b.cache->get("f:1") == std::optional<std::string>("v1"));
  CHECK(b.cache->get("f:2"));
  CHECK(b.cache->get("dir:9:a"));
  CHECK(b.in_l1("f:1"));

  a.cache->set("f:1", "v2", 1h, {"user:1"});
  CHECK(eventually([&] { return b.cache->get("f:1") == std::optional<std::string>("v2"); }));
  a.cache->invalidate_tag("user:1");
  CHECK(eventually([&] { return !b.cache->get("f:1"); }));
  b.cache->bump_version("file");
  CHECK(eventually([&] { return !a.cache->get("f:2"); }));
  b.cache->get("dir:9:a");
  CHECK(a.cache->invalidate_matching("dir:9:") == 1);
  CHECK(eventually([&] { return !b.cache->get("dir:9:a"); }));
  a.cache->set("e", "1", 1h);
  CHECK(b.cache->get("e"));
  a.cache->erase("e");
  CHECK(eventually([&] { return !b.cache->get("e"); }));

  std::string db;
  ttlcache::write_through(*a.cache, std::string("w"), std::string("x1"), 1h,
                          [&](const std::string& v) { db = v; });
  CHECK(b.cache->get("w") == std::optional<std::string>("x1"));
  ttlcache::write_through(*a.cache, std::string("w"), std::string("x2"), 1h,
                          [&](const std::string& v) { db = v; });
  CHECK(eventually([&] { return b.cache->get("w") == std::optional<std::string>("x2"); }));

  CHECK(eventually([&] { return a.bus->stats().ignored_own > 0; }));  // saw its own, dropped
  CHECK(a.bus->stats().publish_failures == 0);
  CHECK(b.bus->stats().received > 0);
}

TEST_CASE("invalidates, InvalidationScope and write_through on two instances over Redis",
          "[redis][tiered][bus][helpers]") {
  const std::string ns = unique_namespace("helpers");
  const std::string channel = unique_namespace("chan");
  RedisInstance a(ns, channel);
  RedisInstance b(ns, channel);
  using Inv = ttlcache::Invalidation<std::string>;
  std::string db;

  // B holds key in its L1 (read from L2 after A wrote it). Only once B has received A's
  // message for that write: arriving after B's fill, it would evict it (correctly).
  auto held_by_b = [&](const std::string& key, const std::string& value,
                       const ttlcache::Tags& tags) {
    const auto received = b.bus->stats().received;
    a.cache->set(key, value, 1h, tags);
    REQUIRE(eventually([&] { return b.bus->stats().received > received; }));
    REQUIRE(eventually([&] { return b.cache->get(key) == std::optional<std::string>(value); }));
    REQUIRE(eventually([&] {
      (void)b.cache->get(key);
      return b.in_l1(key);
    }));
  };
  // Nothing A does after this may reach B: A publishes nothing.
  auto published = [&] { return a.bus->stats().published; };
  auto left_alone = [&](const std::string& key, const std::string& value,
                        std::uint64_t published_before) {
    CHECK(published() == published_before);
    CHECK(b.in_l1(key));
    CHECK(b.cache->get(key) == std::optional<std::string>(value));
  };
  auto missed_by_b = [&](const std::string& key) {
    return eventually([&] { return !b.cache->get(key).has_value(); });
  };

  SECTION("invalidates: a successful write invalidates on B, a throwing one does nothing") {
    held_by_b("f:1", "one", {"user:1"});
    auto save = ttlcache::invalidates(*a.cache, Inv{{}, {"user:1"}, {}, {}},
                                      [&](const std::string& v) { db = v; });
    save(std::string("saved"));
    CHECK(db == "saved");
    CHECK(missed_by_b("f:1"));

    held_by_b("f:2", "two", {"user:2"});
    auto fail = ttlcache::invalidates(
        *a.cache, Inv{{"f:2"}, {"user:2"}, {}, {}},
        [](const std::string&) -> int { throw std::runtime_error("db down"); });
    const auto before = published();
    CHECK_THROWS_AS(fail(std::string("x")), std::runtime_error);
    left_alone("f:2", "two", before);
  }
  SECTION("InvalidationScope: commit invalidates, no commit and an exception do not") {
    held_by_b("f:3", "three", {"user:3"});
    {
      ttlcache::InvalidationScope<std::string, std::string> scope(*a.cache,
                                                                  Inv{{"f:3"}, {}, {}, {}});
      db = "written";
      scope.commit();
    }
    CHECK(eventually([&] { return !b.in_l1("f:3"); }));
    CHECK_FALSE(b.cache->get("f:3"));

    held_by_b("f:4", "four", {"user:4"});
    auto before = published();
    {
      ttlcache::InvalidationScope<std::string, std::string> scope(*a.cache,
                                                                  Inv{{"f:4"}, {"user:4"}, {}, {}});
      db = "not committed";
    }
    left_alone("f:4", "four", before);

    before = published();
    try {
      ttlcache::InvalidationScope<std::string, std::string> scope(*a.cache,
                                                                  Inv{{"f:4"}, {"user:4"}, {}, {}});
      scope.commit();
      throw std::runtime_error("the write failed after commit");
    } catch (const std::runtime_error&) {
    }
    left_alone("f:4", "four", before);
  }
  SECTION("InvalidationScope::finish invalidates at once, and the destructor not again") {
    held_by_b("f:5", "five", {"user:5"});
    std::uint64_t after_finish = 0;
    {
      ttlcache::InvalidationScope<std::string, std::string> scope(*a.cache,
                                                                  Inv{{}, {"user:5"}, {}, {}});
      scope.commit();
      scope.finish();
      CHECK(missed_by_b("f:5"));  // before the scope ends
      after_finish = published();
    }
    CHECK(published() == after_finish);
  }
  SECTION("write_through: a failing source leaves B alone, invalidate mode evicts B's L1") {
    held_by_b("w", "x1", {});
    const auto before = published();
    CHECK_THROWS_AS(ttlcache::write_through(
                        *a.cache, std::string("w"), std::string("x2"), 1h,
                        [](const std::string&) { throw std::runtime_error("source refused"); }),
                    std::runtime_error);
    left_alone("w", "x1", before);
    CHECK(a.cache->get("w") == std::optional<std::string>("x1"));

    ttlcache::write_through(
        *a.cache, std::string("w"), std::string("x3"), 1h, [&](const std::string& v) { db = v; },
        {}, ttlcache::WriteThroughMode::invalidate);
    CHECK(db == "x3");
    CHECK(eventually([&] { return !b.in_l1("w"); }));
    CHECK_FALSE(b.cache->get("w"));  // erased, not updated: the next read loads it
    CHECK_FALSE(a.cache->get("w"));
  }
}

TEST_CASE("invalidate_tag on Redis is O(1): no SCAN or DEL, the same commands for 10 or 10,000",
          "[redis][tags][complexity]") {
  ttlcache_test::OwnServer server;  // commandstats are server-wide: no other test's commands
  auto store = make_store(unique_namespace("o1"), server.port());
  StringCache cache(ttlcache::redis::make_tagged_backend<std::string, std::string>(store));
  RawClient raw(server.port());
  for (int i = 0; i < 10'000; ++i) cache.set("hot:" + std::to_string(i), "v", 1h, {"hot"});
  for (int i = 0; i < 10; ++i) cache.set("cold:" + std::to_string(i), "v", 1h, {"cold"});
  REQUIRE(cache.get("hot:9999"));

  // Commands the server ran for one invalidate_tag (those called from scripts included).
  auto commands_for = [&](const std::string& tag) {
    raw.command({"CONFIG", "RESETSTAT"});
    cache.invalidate_tag(tag);
    auto calls = command_calls(raw);
    calls.erase("config|resetstat");
    calls.erase("config");
    calls.erase("info");
    return calls;
  };
  const long long dbsize = raw.integer_reply({"DBSIZE"});
  const auto hot = commands_for("hot");
  CHECK(raw.integer_reply({"DBSIZE"}) == dbsize);
  const auto cold = commands_for("cold");
  CHECK(raw.integer_reply({"DBSIZE"}) == dbsize);

  long long total = 0;
  std::string listing;
  for (const auto& [name, calls] : hot) {
    total += calls;
    listing += " " + name + "=" + std::to_string(calls);
  }
  std::printf("invalidate_tag of 10,000 entries: %lld commands (%s ), DBSIZE %lld\n", total,
              listing.c_str(), dbsize);
  for (const char* forbidden : {"scan", "keys", "del", "unlink", "flushdb", "flushall"}) {
    CHECK(hot.count(forbidden) == 0);
  }
  CHECK(total >= 1);
  CHECK(total <= 3);
  CHECK(hot == cold);  // the entries tagged are not visited
  CHECK_FALSE(cache.get("hot:0"));
  CHECK_FALSE(cache.get("hot:9999"));
  CHECK_FALSE(cache.get("cold:0"));
}

TEST_CASE("an L2 hit fills L1 with the remaining TTL capped by l1_max_ttl (Redis)",
          "[redis][tiered][ttl]") {
  const std::string ns = unique_namespace("fill-ttl");
  const std::string channel = unique_namespace("chan");
  RedisInstance a(ns, channel, 3s);
  RedisInstance b(ns, channel, 3s);
  auto l1_ttl = [&](const std::string& key) { return b.parts.tiered->l1().ttl(key); };

  a.cache->set("long", "L", 1h, {"t"});
  a.cache->set("short", "S", 2s, {"t"});
  std::this_thread::sleep_for(500ms);
  // A's messages for these writes must not arrive after B's fills (they would evict them).
  REQUIRE(eventually([&] { return b.bus->stats().received >= 2; }));
  REQUIRE(b.cache->get("long") == std::optional<std::string>("L"));  // L2 hit
  REQUIRE(b.cache->get("short") == std::optional<std::string>("S"));
  REQUIRE(b.in_l1("long"));
  REQUIRE(b.in_l1("short"));
  CHECK(b.parts.tiered->stats().l1_fills == 2);
  // The hour is capped at l1_max_ttl.
  CHECK(*l1_ttl("long") <= 3s);
  CHECK(*l1_ttl("long") > 2s);
  // 2 s written 0.5 s ago: what is left of it, not l1_max_ttl.
  CHECK(*l1_ttl("short") <= 1500ms);
  CHECK(*l1_ttl("short") > 500ms);

  // Untagged values carry no expiry of their own: the fill asks Redis (PTTL).
  auto hub = std::make_shared<ttlcache::InProcessHub>();
  auto l2 = ttlcache::redis::make_backend<std::string, std::string>(
      ttlcache_test::options_for(shared_server(), unique_namespace("fill-ttl-plain")));
  ttlcache::TieredOptions options;
  options.l1_max_ttl = 3s;
  auto make = [&] {
    return std::make_shared<ttlcache::TieredBackend<std::string, std::string>>(
        std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>(), l2,
        std::make_shared<ttlcache::InProcessBus>(hub), options);
  };
  auto writer = make();
  auto reader = make();
  writer->set("long", "L", 1h);
  writer->set("short", "S", 2s);
  std::this_thread::sleep_for(500ms);
  REQUIRE(reader->get("long"));
  REQUIRE(reader->get("short"));
  REQUIRE(reader->l1().contains("long"));
  CHECK(*reader->l1().ttl("long") <= 3s);
  CHECK(*reader->l1().ttl("long") > 2s);
  CHECK(*reader->l1().ttl("short") <= 1500ms);
  CHECK(*reader->l1().ttl("short") > 500ms);
}

TEST_CASE(
    "a frozen server (SIGSTOP): the heartbeat marks the bus unhealthy, L1 is bypassed, "
    "and after SIGCONT it resubscribes and resets by itself",
    "[redis][tiered][bus][resilience][heartbeat]") {
  ttlcache_test::OwnServer server;
  const auto beat = 300ms;
  RedisInstance b(unique_namespace("frozen"), unique_namespace("chan"), 5s, server.port(), beat);
  b.cache->set("k", "v", 1h, {"t"});
  b.cache->set("plain", "p", 1h);
  REQUIRE(b.in_l1("k"));
  REQUIRE(b.in_l1("plain"));
  REQUIRE(b.bus->healthy());
  const auto subscriptions = b.bus->stats().subscriptions;
  const auto resets = b.parts.tiered->stats().resets;

  Frozen frozen(server.info().pid);  // the socket stays open: only the heartbeat can tell
  const auto stopped = Clock::now();
  // Generous: 2 intervals plus scheduling on a loaded 2-core machine.
  const auto limit = 2 * beat + 2s;
  REQUIRE(eventually([&] { return !b.bus->healthy(); }, limit + 1s));
  const double detected_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - stopped).count();
  std::printf("frozen server noticed after %.0f ms (heartbeat %lld ms)\n", detected_ms,
              static_cast<long long>(beat.count()));
  CHECK(detected_ms >= static_cast<double>(beat.count()));  // a ping had to go unanswered
  CHECK(detected_ms <= std::chrono::duration<double, std::milli>(limit).count());

  // L1 is bypassed: the read goes to L2, which cannot answer, so the L1 copy stands in as a
  // failure fallback (not as an L1 hit).
  const auto before = b.parts.tiered->stats();
  CHECK(b.cache->get("plain") == std::optional<std::string>("p"));
  const auto during = b.parts.tiered->stats();
  CHECK(during.l1_hits == before.l1_hits);
  CHECK(during.l1_misses == before.l1_misses + 1);
  CHECK(during.l1_served_on_failure == before.l1_served_on_failure + 1);
  // A tagged copy needs its versions, which are read from Redis too while the bus is down:
  // they cannot be confirmed, so an error rather than a possibly stale value.
  CHECK_THROWS_AS(b.cache->get("k"), ttlcache::backend_error);
  CHECK(b.parts.tiered->stats().l1_hits == before.l1_hits);
  CHECK_FALSE(b.bus->healthy());

  frozen.thaw();
  CHECK(eventually([&] { return b.bus->healthy(); }, 15s));
  CHECK(b.bus->stats().subscriptions >= subscriptions + 1);
  CHECK(b.parts.tiered->stats().resets >= resets + 1);
  CHECK_FALSE(b.in_l1("k"));  // cleared on resubscribe: messages may have been missed
  CHECK(eventually(
      [&] {
        try {
          return b.cache->get("k") == std::optional<std::string>("v");
        } catch (const ttlcache::backend_error&) {
          return false;  // pooled connections that timed out while frozen are being replaced
        }
      },
      10s));
  CHECK(eventually([&] {
    (void)b.cache->get("k");
    return b.in_l1("k");
  }));
}

TEST_CASE("bus payloads: round trip, and foreign payloads on the channel are ignored",
          "[redis][bus]") {
  ttlcache::InvalidationMessage m;
  m.kind = ttlcache::InvalidationMessage::Kind::stamp;
  m.scope = "ns|with|bars";
  m.subject = std::string("t:\0|x", 5);
  m.version = 18446744073709551615ULL;
  const std::string wire = ttlcache::redis::encode_message("00112233aabbccdd", m);
  CHECK(wire.size() < 80);
  std::string origin;
  ttlcache::InvalidationMessage back;
  REQUIRE(ttlcache::redis::decode_message(wire, origin, back));
  CHECK(origin == "00112233aabbccdd");
  CHECK(back.kind == m.kind);
  CHECK(back.scope == m.scope);
  CHECK(back.subject == m.subject);
  CHECK(back.version == m.version);
  for (const char* bad :
       {"", "hello", "ttlc1|x|z|1|0|", "ttlc1|x|k|1|99|short", "ttlc1|x|k|a|0|"}) {
    CHECK_FALSE(ttlcache::redis::decode_message(bad, origin, back));
  }

  const std::string channel = unique_namespace("chan");
  auto bus = make_bus(channel);
  RawClient raw(shared_server().port);
  raw.integer_reply({"PUBLISH", channel, "some other service's message"});
  CHECK(eventually([&] { return bus->stats().malformed == 1; }));
}

TEST_CASE("a killed pub/sub connection: B's staleness stays within the bound and B recovers",
          "[redis][tiered][bus][resilience]") {
  ttlcache_test::OwnServer server;
  const std::string ns = unique_namespace("kill");
  const std::string channel = unique_namespace("chan");
  const auto bound = 1000ms;
  RedisInstance a(ns, channel, bound, server.port(), 200ms);
  RedisInstance b(ns, channel, bound, server.port(), 200ms);

  // A writes a new version every 2 ms for 3 s; B reads all the time. Staleness of a read =
  // now - the time A's write of the newest value *after* the one B returned had finished.
  struct Write {
    Clock::time_point done;
    int value;
  };
  std::vector<Write> writes;
  std::mutex writes_mutex;
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  double worst_ms = 0;
  std::thread writer([&] {
    for (int i = 1; !stop.load(); ++i) {
      a.cache->set("item", std::to_string(i), 1h, {"grp"});
      {
        std::lock_guard<std::mutex> lock(writes_mutex);
        writes.push_back({Clock::now(), i});
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  std::thread killer([&] {
    for (int k = 0; k < 3; ++k) {
      std::this_thread::sleep_for(700ms);
      ttlcache_test::run_script("redis-cli -h 127.0.0.1 -p " + std::to_string(server.port()) +
                                " CLIENT KILL TYPE pubsub >/dev/null");
      ++kills;
    }
  });
  const auto end = Clock::now() + 3s;
  std::uint64_t reads = 0;
  while (Clock::now() < end) {
    const auto started = Clock::now();
    const auto got = b.cache->get("item");
    ++reads;
    if (!got) continue;
    const int seen = std::stoi(*got);
    // The first write newer than what B returned (values are 1, 2, ... in order, so it is
    // writes[seen]): if it had finished before this read started, B was stale by the gap.
    std::lock_guard<std::mutex> lock(writes_mutex);
    const auto next = static_cast<std::size_t>(seen);
    if (next < writes.size() && writes[next].done < started) {
      worst_ms = std::max(
          worst_ms, std::chrono::duration<double, std::milli>(started - writes[next].done).count());
    }
  }
  stop = true;
  writer.join();
  killer.join();
  const auto bs = b.bus->stats();
  std::printf(
      "pub/sub kill test: %d kills, %llu subscriptions of B, %llu reads, worst staleness "
      "%.2f ms (bound %lld ms), B resets %llu\n",
      kills.load(), static_cast<unsigned long long>(bs.subscriptions),
      static_cast<unsigned long long>(reads), worst_ms, static_cast<long long>(bound.count()),
      static_cast<unsigned long long>(b.parts.tiered->stats().resets));
  CHECK(kills.load() == 3);
  CHECK(bs.subscriptions >= 4);  // reconnected by itself after each kill
  CHECK(worst_ms <= static_cast<double>(bound.count()) + 50.0);

  // Recovered: B is subscribed again and messages flow.
  REQUIRE(b.bus->wait_until_subscribed(5s));
  REQUIRE(a.bus->wait_until_subscribed(5s));
  a.cache->set("item", "after", 1h, {"grp"});
  CHECK(eventually([&] { return b.cache->get("item") == std::optional<std::string>("after"); },
                   500ms));
  // B fills L1 again. Not on the first read: the message for "after" itself may land just after
  // that read's fill and evict it, which is correct; a later read must fill and keep it.
  CHECK(eventually(
      [&] {
        (void)b.cache->get("item");
        return b.in_l1("item");
      },
      500ms));
  a.cache->set("item", "after2", 1h, {"grp"});
  CHECK(eventually([&] { return b.cache->get("item") == std::optional<std::string>("after2"); },
                   500ms));
}

TEST_CASE("a restarted server: the bus reconnects and clears L1",
          "[redis][tiered][bus][resilience]") {
  ttlcache_test::OwnServer server;
  const std::string ns = unique_namespace("restart-bus");
  const std::string channel = unique_namespace("chan");
  RedisInstance b(ns, channel, 5s, server.port(), 200ms);
  b.cache->set("k", "v", 1h);
  CHECK(b.in_l1("k"));
  const auto subs = b.bus->stats().subscriptions;
  server.kill_hard();
  CHECK(eventually([&] { return !b.bus->healthy(); }, 2s));
  server.restart();
  CHECK(eventually([&] { return b.bus->healthy(); }, 10s));
  CHECK(b.bus->stats().subscriptions == subs + 1);
  CHECK_FALSE(b.in_l1("k"));  // cleared on resubscribe
  CHECK(eventually([&] {      // and L2 lost it with the restart
    try {
      return !b.cache->get("k").has_value();
    } catch (const ttlcache::backend_error&) {
      return false;
    }
  }));
}

TEST_CASE("multi-process: p50/p99 delay until B stops returning an invalidated value",
          "[redis][tiered][bus][multiprocess]") {
  const std::string ns = unique_namespace("mp");
  const std::string channel = unique_namespace("chan");
  const int rounds = 1000;
  const std::string command = std::string(TTLCACHE_INVAL_PEER) + " " +
                              std::to_string(shared_server().port) + " " + ns + " " + channel +
                              " 5000";
  FILE* peer = ::popen(command.c_str(), "r");
  REQUIRE(peer != nullptr);
  const int fd = ::fileno(peer);
  std::string buffer;
  // One line from B, or "" after 5 s.
  auto next_line = [&]() -> std::string {
    const auto deadline = Clock::now() + 5s;
    for (;;) {
      const auto nl = buffer.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return "";
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) return "";
      char chunk[4096];
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
  };
  // Waits for B to report value; returns B's steady-clock time of the change (ns), or -1.
  auto wait_for_value = [&](const std::string& value) -> long long {
    for (;;) {
      const std::string line = next_line();
      if (line.empty()) return -1;
      const auto space = line.rfind(' ');
      if (line.substr(0, space) == value) return std::stoll(line.substr(space + 1));
    }
  };

  REQUIRE(next_line() == "ready");
  RedisInstance a(ns, channel);
  std::vector<double> update_us;
  std::vector<double> tag_us;
  auto ns_now = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  };
  a.cache->set("item", "v0", 1h, {"grp"});
  REQUIRE(wait_for_value("v0") > 0);
  for (int i = 1; i <= rounds; ++i) {
    // B holds v(i-1) in its L1 (it read it from L2 and now serves it locally): A updates.
    const std::string value = "v" + std::to_string(i);
    long long t0 = ns_now();
    a.cache->set("item", value, 1h, {"grp"});
    long long t1 = wait_for_value(value);
    REQUIRE(t1 > 0);
    update_us.push_back(static_cast<double>(t1 - t0) / 1000.0);
    // ...and then invalidates its tag: B's copy must stop being served.
    std::this_thread::sleep_for(200us);  // B serves the value from L1 meanwhile
    t0 = ns_now();
    a.cache->invalidate_tag("grp");
    t1 = wait_for_value("<miss>");
    REQUIRE(t1 > 0);
    tag_us.push_back(static_cast<double>(t1 - t0) / 1000.0);
  }
  REQUIRE(tag_us.size() == static_cast<std::size_t>(rounds));
  a.cache->set("item", "quit", 1h);
  REQUIRE(wait_for_value("quit") > 0);
  std::string stats_line;
  for (std::string line = next_line(); !line.empty(); line = next_line()) {
    if (line.rfind("stats", 0) == 0) stats_line = line;
  }
  const int status = ::pclose(peer);
  CHECK(status == 0);
  std::vector<double> all = update_us;
  all.insert(all.end(), tag_us.begin(), tag_us.end());
  std::printf(
      "multi-process propagation (A's call start -> B stops returning the old value), "
      "%zu updates + %zu tag invalidations: updates p50 %.0f us p99 %.0f us max %.0f us; "
      "tags p50 %.0f us p99 %.0f us max %.0f us; all p50 %.0f us p99 %.0f us\n  B: %s\n",
      update_us.size(), tag_us.size(), percentile(update_us, 0.5), percentile(update_us, 0.99),
      percentile(update_us, 1.0), percentile(tag_us, 0.5), percentile(tag_us, 0.99),
      percentile(tag_us, 1.0), percentile(all, 0.5), percentile(all, 0.99), stats_line.c_str());
  // B really served from its L1 between invalidations (else there would be nothing to measure).
  CHECK(stats_line.find("l1_hits=0 ") == std::string::npos);
  // Bounded: well inside the 5 s L1 max TTL, i.e. delivered by the bus, not by expiry.
  CHECK(percentile(all, 1.0) < 1'000'000.0);
}
