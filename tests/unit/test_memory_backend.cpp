// Tests for the in-process backend: conformance, eviction order and bounds, expiry, listeners.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "conformance/backend_conformance.hpp"
#include "support/memory_byte_store.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/memory_backend.hpp"

using namespace std::chrono_literals;
using ttlcache::FakeClock;
using ttlcache::MemoryBackend;
using ttlcache::MemoryOptions;
using ttlcache::RemovalCause;

namespace {

using Backend = MemoryBackend<std::string, std::string>;
// The default policy is TinyLFU; tests of exact LRU order name LruPolicy.
using LruBackend = MemoryBackend<std::string, std::string, ttlcache::LruPolicy>;
using Options = MemoryOptions<std::string, std::string>;

// Records every removal the listener reports.
struct Removals {
  std::mutex mutex;
  std::vector<std::tuple<std::string, std::string, RemovalCause>> seen;

  ttlcache::RemovalListener<std::string, std::string> listener() {
    return [this](const std::string& k, const std::string& v, RemovalCause c) {
      std::lock_guard<std::mutex> lock(mutex);
      seen.emplace_back(k, v, c);
    };
  }
  std::size_t count(RemovalCause cause) {
    std::lock_guard<std::mutex> lock(mutex);
    std::size_t n = 0;
    for (const auto& r : seen) n += std::get<2>(r) == cause;
    return n;
  }
  bool has(const std::string& key, RemovalCause cause) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& r : seen) {
      if (std::get<0>(r) == key && std::get<2>(r) == cause) return true;
    }
    return false;
  }
};

Options with_clock(const std::shared_ptr<FakeClock>& clock) {
  Options o;
  o.clock = clock;
  return o;
}

}  // namespace

TEST_CASE("memory backend: conformance", "[memory][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::testing::ConformanceFixture fx;
  fx.make_backend = [clock] { return std::make_shared<Backend>(with_clock(clock)); };
  fx.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fx);
}

TEST_CASE("codec backend over a byte store: conformance", "[codec][conformance]") {
  auto clock = std::make_shared<FakeClock>();
  ttlcache::testing::ConformanceFixture fx;
  fx.make_backend = [clock] {
    auto store = std::make_shared<ttlcache::testing::MemoryByteStore>(clock);
    return std::make_shared<ttlcache::CodecBackend<std::string, std::string>>(store);
  };
  fx.let_time_pass = [clock](std::chrono::milliseconds d) { clock->advance(d); };
  ttlcache::testing::run_backend_conformance(fx);
}

TEST_CASE("LRU evicts the least recently used entry", "[memory][eviction]") {
  Removals removals;
  Options o;
  o.max_entries = 3;
  o.shards = 1;
  o.removal_listener = removals.listener();
  LruBackend b(o);
  b.set("a", "1", 1h);
  b.set("b", "2", 1h);
  b.set("c", "3", 1h);
  CHECK(b.get("a"));  // a is now the most recent; b the least
  b.set("d", "4", 1h);
  CHECK(b.size() == 3);
  CHECK_FALSE(b.get("b"));
  CHECK(b.get("a"));
  CHECK(b.get("c"));
  CHECK(b.get("d"));
  CHECK(removals.has("b", RemovalCause::evicted));
  CHECK(removals.count(RemovalCause::evicted) == 1);
}

TEST_CASE("LRU order stays exact when reads overflow the per-thread read log",
          "[memory][eviction]") {
  Options o;
  o.max_entries = 3;
  o.shards = 1;
  LruBackend b(o);
  b.set("a", "1", 1h);
  b.set("b", "2", 1h);
  b.set("c", "3", 1h);
  // Far more reads than one log holds: the overflowing reads are applied immediately.
  for (int i = 0; i < 50; ++i) CHECK(b.get("a"));
  for (int i = 0; i < 37; ++i) CHECK(b.get("c"));
  CHECK(b.get("b"));  // order now, oldest first: a, c, b
  b.set("d", "4", 1h);
  CHECK_FALSE(b.get("a"));
  b.set("e", "5", 1h);
  CHECK_FALSE(b.get("c"));
  CHECK(b.get("b"));
}

TEST_CASE("contains and ttl do not refresh recency", "[memory][eviction]") {
  Options o;
  o.max_entries = 2;
  o.shards = 1;
  Backend b(o);
  b.set("old", "1", 1h);
  b.set("new", "2", 1h);
  CHECK(b.contains("old"));
  CHECK(b.ttl("old"));
  b.set("newest", "3", 1h);
  CHECK_FALSE(b.contains("old"));
}

TEST_CASE("the entry bound is exact over many shards", "[memory][eviction]") {
  Options o;
  o.max_entries = 1000;
  o.shards = 8;
  Backend b(o);
  CHECK(b.shard_count() == 8);
  for (int i = 0; i < 20000; ++i) b.set("k" + std::to_string(i), "v", 1h);
  CHECK(b.size() <= 1000);
  CHECK(b.size() >= 900);  // every shard fills up to its share
}

TEST_CASE("small caches get fewer shards, and impossible shard counts are refused",
          "[memory][eviction]") {
  Options small;
  small.max_entries = 3;
  Backend b(small);
  CHECK(b.shard_count() == 1);
  for (int i = 0; i < 10; ++i) b.set(std::to_string(i), "v", 1h);
  CHECK(b.size() == 3);

  Options bad;
  bad.max_entries = 4;
  bad.shards = 8;
  CHECK_THROWS_AS(Backend(bad), ttlcache::argument_error);
}

TEST_CASE("the weight bound evicts by weight and refuses oversized entries", "[memory][weight]") {
  Removals removals;
  Options o;
  o.shards = 1;
  o.max_entries = 0;
  o.max_weight = 100;
  o.weigher = [](const std::string&, const std::string& v) { return v.size(); };
  o.removal_listener = removals.listener();
  Backend b(o);
  for (int i = 0; i < 5; ++i) b.set("k" + std::to_string(i), std::string(30, 'x'), 1h);
  CHECK(b.size() == 3);
  CHECK(b.weight() == 90);
  CHECK(removals.count(RemovalCause::evicted) == 2);
  // Replacing a value updates the weight.
  b.set("k4", std::string(10, 'y'), 1h);
  CHECK(b.weight() == 70);
  // Too heavy for the whole cache: refused, nothing changed.
  CHECK_THROWS_AS(b.set("huge", std::string(150, 'z'), 1h), ttlcache::limit_error);
  CHECK(b.size() == 3);
  CHECK_FALSE(b.contains("huge"));

  Options no_weigher;
  no_weigher.max_weight = 10;
  CHECK_THROWS_AS(Backend(no_weigher), ttlcache::argument_error);
}

TEST_CASE("removal listener is told each cause", "[memory][listener]") {
  auto clock = std::make_shared<FakeClock>();
  Removals removals;
  Options o = with_clock(clock);
  o.shards = 1;
  o.max_entries = 10;
  o.removal_listener = removals.listener();
  Backend b(o);

  b.set("r", "old", 1h);
  b.set("r", "new", 1h);
  CHECK(removals.has("r", RemovalCause::replaced));
  {
    std::lock_guard<std::mutex> lock(removals.mutex);
    CHECK(std::get<1>(removals.seen.back()) == "old");  // the listener sees the old value
  }

  b.set("e", "v", 1h);
  CHECK(b.erase("e"));
  CHECK(removals.has("e", RemovalCause::erased));

  b.set("x", "v", 1s);
  clock->advance(2s);
  b.purge_expired();
  CHECK(removals.has("x", RemovalCause::expired));

  b.set("c1", "v", 1h);
  b.clear();
  CHECK(removals.has("c1", RemovalCause::erased));
  CHECK(removals.has("r", RemovalCause::erased));
}

TEST_CASE("overwriting an expired entry reports it as expired", "[memory][listener]") {
  auto clock = std::make_shared<FakeClock>();
  Removals removals;
  Options o = with_clock(clock);
  o.removal_listener = removals.listener();
  Backend b(o);
  b.set("k", "v", 1s);
  clock->advance(2s);
  b.set("k", "v2", 1h);
  CHECK(removals.has("k", RemovalCause::expired));
  CHECK_FALSE(removals.has("k", RemovalCause::replaced));
}

TEST_CASE("a listener may call back into the backend, and its exceptions are contained",
          "[memory][listener]") {
  Options o;
  o.shards = 1;
  o.max_entries = 1;
  std::shared_ptr<Backend> b;
  std::atomic<int> calls{0};
  o.removal_listener = [&](const std::string&, const std::string&, RemovalCause) {
    ++calls;
    (void)b->get("anything");  // would deadlock if called under the shard lock
    throw std::runtime_error("listener failure");
  };
  b = std::make_shared<Backend>(o);
  b->set("a", "1", 1h);
  CHECK_NOTHROW(b->set("b", "2", 1h));
  CHECK(calls.load() == 1);
  CHECK(b->get("b") == std::optional<std::string>("2"));
}

TEST_CASE("an expired entry that is read is reclaimed by the next write", "[memory][expiry]") {
  auto clock = std::make_shared<FakeClock>();
  Removals removals;
  Options o = with_clock(clock);
  o.shards = 1;
  o.removal_listener = removals.listener();
  Backend b(o);
  b.set("k", "v", 1s);
  clock->advance(2s);
  CHECK_FALSE(b.get("k"));
  CHECK(b.size() == 1);  // not reclaimed by a reader: readers never write the table
  b.set("other", "v", 1h);
  CHECK(removals.has("k", RemovalCause::expired));
  CHECK(b.size() == 1);
}

TEST_CASE("expired entries nobody reads are swept by later writes", "[memory][expiry]") {
  auto clock = std::make_shared<FakeClock>();
  Options o = with_clock(clock);
  o.shards = 1;
  Backend b(o);
  for (int i = 0; i < 100; ++i) b.set("old" + std::to_string(i), "v", 1s);
  clock->advance(2s);
  for (int i = 0; i < 200; ++i) b.set("new" + std::to_string(i), "v", 1h);
  CHECK(b.size() == 200);
}

TEST_CASE("the optional cleaner thread purges expired entries", "[memory][expiry]") {
  auto clock = std::make_shared<FakeClock>();
  Removals removals;
  Options o = with_clock(clock);
  o.cleanup_interval = 5ms;
  o.removal_listener = removals.listener();
  Backend b(o);
  for (int i = 0; i < 50; ++i) b.set(std::to_string(i), "v", 1s);
  clock->advance(2s);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (b.size() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  CHECK(b.size() == 0);
  CHECK(removals.count(RemovalCause::expired) == 50);
}

TEST_CASE("ttl() reports the remaining lifetime, rounded up", "[memory][expiry]") {
  auto clock = std::make_shared<FakeClock>();
  Backend b(with_clock(clock));
  b.set("k", "v", 10s);
  clock->advance(2500ms);
  CHECK(b.ttl("k") == std::optional<std::chrono::milliseconds>(7500ms));
  clock->advance(std::chrono::microseconds(7499'600));
  CHECK(b.ttl("k") == std::optional<std::chrono::milliseconds>(1ms));
}

TEST_CASE("integer keys with a weak std::hash spread over shards", "[memory]") {
  MemoryOptions<int, int> o;
  o.shards = 4;
  o.max_entries = 4000;
  MemoryBackend<int, int> b(o);
  for (int i = 0; i < 4000; ++i) b.set(i * 1024, i, 1h);  // same low bits everywhere
  CHECK(b.size() >= 3900);
  CHECK(b.get(1024 * 7) == std::optional<int>(7));
}

TEST_CASE("the table survives heavy insert/erase churn", "[memory]") {
  Options o;
  o.shards = 1;
  o.max_entries = 0;
  Backend b(o);
  std::map<std::string, std::string> model;
  std::uint64_t x = 12345;
  for (int i = 0; i < 50000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::string key = "k" + std::to_string((x >> 33) % 3000);
    if ((x >> 20) % 3 == 0) {
      CHECK(b.erase(key) == (model.erase(key) == 1));
    } else {
      b.set(key, key + "v", 1h);
      model[key] = key + "v";
    }
  }
  CHECK(b.size() == model.size());
  for (const auto& [k, v] : model) {
    if (b.get(k) != std::optional<std::string>(v)) FAIL("lost " << k);
  }
}

TEST_CASE("a miss stops early in Robin Hood order, yet every present key is found", "[memory]") {
  // One small shard (wrapping probe runs, backward shifts after erases): after every step,
  // each of the 300 keys must be found exactly when the model holds it. A wrong early stop in
  // find() shows up as a present key reported missing.
  Options o;
  o.shards = 1;
  o.max_entries = 0;
  Backend b(o);
  std::map<std::string, std::string> model;
  std::uint64_t x = 4242;
  std::size_t wrong = 0;
  for (int i = 0; i < 3000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::string key = "k" + std::to_string((x >> 33) % 300);
    if ((x >> 20) % 3 == 0) {
      b.erase(key);
      model.erase(key);
    } else {
      b.set(key, key + "v" + std::to_string(i), 1h);
      model[key] = key + "v" + std::to_string(i);
    }
    if (i % 10 != 0) continue;
    for (int k = 0; k < 300; ++k) {
      const std::string probe = "k" + std::to_string(k);
      const auto it = model.find(probe);
      const auto got = b.get(probe);
      if (it == model.end() ? got.has_value() : got != std::optional<std::string>(it->second)) {
        ++wrong;
      }
    }
  }
  CHECK(wrong == 0);
  CHECK(b.size() == model.size());
}

TEST_CASE("a bounded shard's table, sized to its bound, survives churn at the bound", "[memory]") {
  // 1,000 entries: the table stops growing at 1,335 slots (not a power of two), and every
  // probe run wraps and shifts back correctly while entries come and go at full load.
  for (const std::size_t bound : {std::size_t{1000}, std::size_t{777}}) {
    Options o;
    o.shards = 1;
    o.max_entries = bound;
    LruBackend b(o);
    std::uint64_t x = 99;
    for (int i = 0; i < 30000; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      const std::string key = "k" + std::to_string((x >> 33) % (3 * bound));
      if ((x >> 20) % 5 == 0) {
        b.erase(key);
      } else {
        b.set(key, key + std::to_string(i), 1h);
      }
    }
    CHECK(b.size() <= bound);
    CHECK(b.size() >= bound / 2);
    // Every key the backend reports present must read back its own value (no cross-wiring).
    std::size_t found = 0;
    for (std::size_t k = 0; k < 3 * bound; ++k) {
      const std::string key = "k" + std::to_string(k);
      const auto v = b.get(key);
      if (v) {
        ++found;
        if (v->rfind(key, 0) != 0) FAIL("key " << key << " read " << *v);
      }
    }
    CHECK(found == b.size());
  }
}

TEST_CASE("visit runs the function on the stored value without copying it", "[memory][visit]") {
  auto clock = std::make_shared<FakeClock>();
  Backend b(with_clock(clock));
  b.set("k", "value", 10s);
  const std::string* seen = nullptr;
  CHECK(b.visit("k", [&](const std::string& v) { seen = &v; }));
  REQUIRE(seen != nullptr);
  CHECK(*seen == "value");
  // The same object twice: visit hands out the stored value itself, not a copy.
  const std::string* again = nullptr;
  b.visit("k", [&](const std::string& v) { again = &v; });
  CHECK(again == seen);

  bool called = false;
  CHECK_FALSE(b.visit("absent", [&](const std::string&) { called = true; }));
  clock->advance(10s);
  CHECK_FALSE(b.visit("k", [&](const std::string&) { called = true; }));
  CHECK_FALSE(called);
}

TEST_CASE("visit releases the entry when the function throws", "[memory][visit]") {
  Options o;
  o.shards = 1;
  Backend b(o);
  b.set("k", "v", 1h);
  CHECK_THROWS_AS(b.visit("k", [](const std::string&) { throw std::runtime_error("boom"); }),
                  std::runtime_error);
  // A writer of the same shard would wait forever if the shared side were still held.
  b.set("k", "w", 1h);
  CHECK(b.get("k") == std::optional<std::string>("w"));
}

TEST_CASE("visit counts as a read for eviction", "[memory][visit][eviction]") {
  Options o;
  o.shards = 1;
  o.max_entries = 3;
  LruBackend b(o);
  b.set("a", "1", 1h);
  b.set("b", "2", 1h);
  b.set("c", "3", 1h);
  CHECK(b.visit("a", [](const std::string&) {}));
  b.set("d", "4", 1h);  // evicts the least recently used: b, since a was just visited
  CHECK(b.contains("a"));
  CHECK_FALSE(b.contains("b"));
}

TEST_CASE("with an injected clock, reads expire entries exactly at their TTL", "[memory][expiry]") {
  auto clock = std::make_shared<FakeClock>();
  Backend b(with_clock(clock));
  b.set("k", "v", 3s);
  clock->advance(3s - 1ns);
  CHECK(b.get("k") == std::optional<std::string>("v"));
  CHECK(b.visit("k", [](const std::string&) {}));
  clock->advance(1ns);
  CHECK_FALSE(b.get("k"));
  CHECK_FALSE(b.visit("k", [](const std::string&) {}));
  // Far from expiry too (the coarse clock is never used with an injected clock).
  b.set("long", "v", 1h);
  clock->advance(1h);
  CHECK_FALSE(b.get("long"));
}

TEST_CASE("with the real clock, an entry is never served after its TTL", "[memory][expiry]") {
  // Reads use the coarse clock only while an entry has more than coarse_clock_guard left, so
  // short TTLs are checked precisely: a hit must start before set-return + TTL. A read that
  // misses ends the round; every round must end within 5 s.
  Options o;
  o.shards = 1;
  Backend b(o);
  static_assert(Backend::coarse_clock_guard <= 100ms, "documented guard");
  // Short TTLs, checked precisely throughout; and one of 1 s, read on the coarse clock for its
  // first 900 ms, which must also serve the entry while it is fresh (a backend that never hits
  // would pass the first check alone; 1 s leaves room for a thread stalled on a loaded machine).
  const std::pair<std::chrono::milliseconds, int> cases[] = {{1ms, 5}, {3ms, 5}, {1000ms, 1}};
  for (const auto& [ttl, rounds] : cases) {
    for (int round = 0; round < rounds; ++round) {
      b.set("k", "v", ttl);
      const auto set_returned = std::chrono::steady_clock::now();
      std::size_t hits = 0;
      for (;;) {
        const auto before = std::chrono::steady_clock::now();
        const bool hit = b.get("k").has_value();
        if (!hit) break;
        ++hits;
        if (before - set_returned >= ttl) {
          FAIL("served " << std::chrono::duration<double, std::milli>(before - set_returned).count()
                         << " ms after set with a TTL of " << ttl.count() << " ms");
        }
        REQUIRE(before - set_returned < 5s);
      }
      if (ttl == 1000ms) CHECK(hits > 0);
    }
  }
}

TEST_CASE("probe runs that wrap past the table's end are walked correctly", "[memory]") {
  // The walk skips the exact distance test for entries with a smaller hash (a home is monotonic
  // in the hash), which is only right for runs that do not wrap. Hashes are forged here: a
  // crowd whose homes are the table's last slots wraps into its first slots, where keys with
  // the smallest hashes live. Every present key must be found, with and without the lock, and
  // every absent one reported absent, whatever side of the wrap its home is on.
  using Shard = ttlcache::detail::MemoryShard<std::uint64_t, std::string, std::hash<std::uint64_t>,
                                              std::equal_to<std::uint64_t>, ttlcache::LruPolicy>;
  const std::equal_to<std::uint64_t> eq;
  ttlcache::detail::RemovalBatch<std::uint64_t, std::string> removed(false);
  Shard shard(ttlcache::detail::ShardLimits{1'000, 0}, 1);
  // Key k has the forged hash hash_of[k]. 600 spread keys bring the table to its final size;
  // then 40 keys at the very top of the hash range and 40 at the very bottom.
  std::vector<std::uint32_t> hash_of;
  std::uint64_t x = 7;
  for (int i = 0; i < 600; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    hash_of.push_back(0x10000000U + static_cast<std::uint32_t>(x >> 36));  // middle
  }
  for (std::uint32_t i = 0; i < 40; ++i) hash_of.push_back(0xffffffffU - i * 7);  // top
  for (std::uint32_t i = 0; i < 40; ++i) hash_of.push_back(1U + i * 5);           // bottom
  std::vector<bool> present(hash_of.size(), false);
  const auto put = [&](std::uint64_t k) {
    shard.upsert(k, hash_of[k], "v" + std::to_string(k), 0, 1'000'000, 1, eq, removed);
    present[k] = true;
  };
  const auto check_all = [&] {
    for (std::uint64_t k = 0; k < hash_of.size(); ++k) {
      const bool found = shard.find(k, hash_of[k], eq) != Shard::npos;
      if (found != present[k]) FAIL("key " << k << " found " << found);
      if (present[k] && shard.certainly_absent(hash_of[k])) FAIL("key " << k << " hidden");
    }
    // Absent hashes next to every crowd, including the very first and last homes.
    for (const std::uint32_t h : {0U, 2U, 3U, 100U, 0xfffffffeU, 0xffffff00U, 0xfffffff0U}) {
      bool taken = false;
      for (std::uint64_t k = 0; k < hash_of.size(); ++k) taken |= present[k] && hash_of[k] == h;
      if (taken) continue;
      if (shard.find(1'000'000 + h, h, eq) != Shard::npos) FAIL("absent hash " << h << " found");
    }
  };
  for (std::uint64_t k = 0; k < 600; ++k) put(k);
  REQUIRE(shard.probe_unlocked(1U).absent);  // final table: the lock-free probe answers
  for (std::uint64_t k = 600; k < hash_of.size(); ++k) put(k);
  check_all();
  // The top crowd's run does wrap: some of its keys sit in the table's first slots.
  std::size_t wrapped = 0;
  for (std::uint64_t k = 600; k < 640; ++k) wrapped += shard.probe_unlocked(hash_of[k]).pos < 100;
  CHECK(wrapped > 10);
  // Erase half of each crowd (backward shifts across the wrap), then check again.
  for (std::uint64_t k = 600; k < hash_of.size(); k += 2) {
    shard.remove(shard.find(k, hash_of[k], eq), RemovalCause::erased, removed);
    present[k] = false;
  }
  check_all();
}

TEST_CASE("keys sharing a home are kept in hash order, and misses among them are answered",
          "[memory]") {
  // place() keeps each home's entries in hash order, and walk() stops a miss at the first entry
  // of its home with a larger hash. Forged hashes: a crowd of keys a few hashes apart (one or
  // two homes), inserted largest hash first among spread keys. The crowd must sit in hash
  // order, every present key be found with and without the lock, and the hashes between them
  // be reported absent, through inserts, erases and the table's growth.
  using Shard = ttlcache::detail::MemoryShard<std::uint64_t, std::string, std::hash<std::uint64_t>,
                                              std::equal_to<std::uint64_t>, ttlcache::LruPolicy>;
  const std::equal_to<std::uint64_t> eq;
  ttlcache::detail::RemovalBatch<std::uint64_t, std::string> removed(false);
  Shard shard(ttlcache::detail::ShardLimits{1'000, 0}, 1);
  constexpr std::uint32_t base = 0x40000000U;
  constexpr std::uint32_t step = 1'000;  // a home spans ~3.2 M hashes in the final table
  // Keys 0..29: the crowd, key k with hash base + (2k + 1) * step (even multiples stay free);
  // keys 30 and up: spread hashes.
  std::vector<std::uint32_t> hash_of;
  for (std::uint32_t k = 0; k < 30; ++k) hash_of.push_back(base + (2 * k + 1) * step);
  std::uint64_t x = 11;
  for (int i = 0; i < 600; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    hash_of.push_back(static_cast<std::uint32_t>(x >> 32));
  }
  std::vector<bool> present(hash_of.size(), false);
  const auto put = [&](std::uint64_t k) {
    shard.upsert(k, hash_of[k], "v" + std::to_string(k), 0, 1'000'000, 1, eq, removed);
    present[k] = true;
  };
  const auto check_crowd = [&](bool final_table) {
    std::uint32_t last_pos = 0;
    std::uint32_t last_hash = 0;
    for (std::uint64_t k = 0; k < 30; ++k) {
      const bool found = shard.find(k, hash_of[k], eq) != Shard::npos;
      if (found != present[k]) FAIL("crowd key " << k << " found " << found);
      if (present[k] && shard.certainly_absent(hash_of[k])) FAIL("crowd key " << k << " hidden");
      if (present[k] && final_table) {
        const auto seen = shard.probe_unlocked(hash_of[k]);
        REQUIRE(seen.slot != 0);
        // Hash order: a larger hash never sits before a smaller one of the crowd.
        if (last_hash != 0 && seen.pos < last_pos) {
          FAIL("hash " << hash_of[k] << " at slot " << seen.pos << ", before hash " << last_hash
                       << " at slot " << last_pos);
        }
        last_pos = seen.pos;
        last_hash = hash_of[k];
      }
      const std::uint32_t between = base + 2 * static_cast<std::uint32_t>(k) * step;
      if (shard.find(1'000'000 + k, between, eq) != Shard::npos) FAIL("free hash " << between);
      if (final_table && !shard.certainly_absent(between))
        FAIL("free hash " << between << " not absent");
    }
  };
  // While the table grows: spread keys with the crowd, largest hash first, between them.
  for (std::uint64_t k = 30; k < 330; ++k) {
    put(k);
    if (k % 10 == 0) put(29 - (k - 30) / 10);
  }
  check_crowd(false);
  for (std::uint64_t k = 330; k < hash_of.size(); ++k) put(k);
  REQUIRE(shard.probe_unlocked(1U).absent);  // final table: the lock-free probe answers
  check_crowd(true);
  // Erase every third of the crowd (backward shifts), put some back, check again.
  for (std::uint64_t k = 0; k < 30; k += 3) {
    shard.remove(shard.find(k, hash_of[k], eq), RemovalCause::erased, removed);
    present[k] = false;
  }
  check_crowd(true);
  for (const std::uint64_t k : {27U, 21U, 15U, 9U, 3U}) put(k);
  check_crowd(true);
}

TEST_CASE("a bounded shard answers misses without its lock once its table has its final size",
          "[memory]") {
  // MemoryShard::certainly_absent(): what MemoryBackend's get, visit, contains and ttl ask
  // before taking the shard's shared side.
  using Shard = ttlcache::detail::MemoryShard<std::uint64_t, std::string, std::hash<std::uint64_t>,
                                              std::equal_to<std::uint64_t>, ttlcache::LruPolicy>;
  const std::equal_to<std::uint64_t> eq;
  const auto hash = [](std::uint64_t k) {
    return static_cast<std::uint32_t>(ttlcache::detail::mix_hash(k));
  };
  ttlcache::detail::RemovalBatch<std::uint64_t, std::string> removed(false);
  const auto fill = [&](Shard& shard, std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t k = from; k < to; ++k) {
      shard.upsert(k, hash(k), "v", 0, 1'000'000, 1, eq, removed);
      shard.enforce_limits(0, removed);
    }
  };
  // Keys 1,000,000 and up are never inserted; none of them shares a hash with a resident key.
  const auto absent_answered = [&](Shard& shard) {
    int answered = 0;
    for (std::uint64_t k = 1'000'000; k < 1'001'000; ++k)
      answered += shard.certainly_absent(hash(k));
    return answered;
  };

  Shard bounded(ttlcache::detail::ShardLimits{1'000, 0}, 1);
  fill(bounded, 0, 380);  // its 512-slot table may still grow: readers must lock
  CHECK(absent_answered(bounded) == 0);
  // The next growth (past 384 entries) would double to 1,024 slots, over half of the 1,335
  // that 1,000 entries need: it goes straight to 1,335, final. (Were it 1,024, a shard that
  // settles anywhere under 768 entries would lock on every miss for good.)
  fill(bounded, 380, 400);
  CHECK(absent_answered(bounded) == 1'000);
  fill(bounded, 400, 1'000);
  CHECK(absent_answered(bounded) == 1'000);
  for (std::uint64_t k = 0; k < 1'000; ++k) REQUIRE_FALSE(bounded.certainly_absent(hash(k)));

  fill(bounded, 5'000, 5'500);  // evicts 500 of the first keys, the table stays
  int evicted = 0;
  for (std::uint64_t k = 0; k < 1'000; ++k) {
    const bool present = bounded.find(k, hash(k), eq) != Shard::npos;
    evicted += present ? 0 : 1;
    REQUIRE(bounded.certainly_absent(hash(k)) == !present);
  }
  CHECK(evicted == 500);
  for (std::uint64_t k = 5'000; k < 5'500; ++k) REQUIRE_FALSE(bounded.certainly_absent(hash(k)));
  CHECK(absent_answered(bounded) == 1'000);

  // A hit starts from the slot the probe saw, checked under the lock: a sighting of another
  // entry (a hash collision, or a slot changed since) falls back to a full find.
  const auto seen = bounded.probe_unlocked(hash(5'001));
  REQUIRE(seen.slot != 0);
  CHECK(bounded.find_seen(5'001, hash(5'001), eq, seen) == bounded.find(5'001, hash(5'001), eq));
  CHECK(bounded.find_seen(5'002, hash(5'002), eq, seen) == bounded.find(5'002, hash(5'002), eq));
  const std::uint32_t index = bounded.find(5'001, hash(5'001), eq);
  bounded.remove(index, RemovalCause::erased, removed);
  CHECK(bounded.find_seen(5'001, hash(5'001), eq, seen) == Shard::npos);
  CHECK(bounded.certainly_absent(hash(5'001)));

  Shard unbounded(ttlcache::detail::ShardLimits{0, 0}, 1);  // its table may always grow
  fill(unbounded, 0, 1'000);
  CHECK(absent_answered(unbounded) == 0);
}
