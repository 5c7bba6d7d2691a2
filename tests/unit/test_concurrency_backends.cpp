// The [concurrency] cases of the in-process backends and the layers over them: the memory
// backend and TinyLFU, tags, the tiered cache, ResilientBackend and the circuit breaker. Apart
// from the other tests so that the TSan build (scripts/test) compiles only these (their other
// tests: test_memory_backend.cpp, test_eviction_policy.cpp, test_invalidation.cpp,
// test_tiered.cpp, test_resilient_backend.cpp, test_circuit_breaker.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/breaker.hpp"
#include "support/flaky_store.hpp"
#include "support/tag_fixture.hpp"
#include "support/tiered_world.hpp"
#include "ttlcache/circuit_breaker.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/tinylfu_policy.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::BreakerState;
using ttlcache::CircuitBreaker;
using ttlcache::FailurePolicy;
using ttlcache::FakeClock;
using ttlcache::RemovalCause;

namespace {

using Backend = ttlcache::MemoryBackend<std::string, std::string>;
using Options = ttlcache::MemoryOptions<std::string, std::string>;
using Key = std::int64_t;
using StringCache = ttlcache::Cache<std::string, std::string>;
using Resilient = ttlcache::ResilientBackend<std::string, std::string>;
using Recorder = ttlcache_test::BreakerRecorder;
using ttlcache_test::breaker_options;
using ttlcache_test::FlakyStore;
using ttlcache_test::resilient_options;

}  // namespace

// ---- the memory backend (test_memory_backend.cpp) ----

TEST_CASE("mixed operations from many threads keep the bound and whole values",
          "[memory][concurrency]") {
  Options o;
  o.max_entries = 256;
  o.shards = 4;
  std::atomic<int> removed{0};
  o.removal_listener = [&](const std::string&, const std::string&, RemovalCause) { ++removed; };
  Backend b(o);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t x = 777 + t;
      for (int i = 0; i < 20000; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::string key = "k" + std::to_string((x >> 33) % 1000);
        switch ((x >> 16) % 8) {
          case 0:
            b.set(key, key + "|" + std::to_string(t), 1h);
            break;
          case 1:
            b.erase(key);
            break;
          default:
            if (auto v = b.get(key)) {
              if (v->compare(0, key.size() + 1, key + "|") != 0) ++bad;
            }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad.load() == 0);
  CHECK(b.size() <= 256);
  CHECK(removed.load() > 0);
}

TEST_CASE("shared values read while writers replace and evict them stay whole",
          "[memory][concurrency]") {
  // A reader's copy of the pointer is taken while the entry is pinned, so the value it points to
  // lives as long as the reader holds it, whatever writers do to the entry meanwhile.
  using Doc = std::shared_ptr<const std::string>;
  auto cache = ttlcache::CacheBuilder<int, Doc>("shared-race").max_entries(64).build();
  std::atomic<int> torn{0};
  std::atomic<int> hits{0};
  std::atomic<int> readers_done{0};
  std::atomic<int> writes{0};
  for (int k = 0; k < 128; ++k) cache.set(k, std::make_shared<const std::string>(256, 'z'));
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    // Writes until both readers are done (bounded), so every read overlaps writes.
    for (int i = 0; readers_done < 2 && i < 20'000'000; ++i) {
      cache.set(i % 128, std::make_shared<const std::string>(256, static_cast<char>('a' + i % 26)));
      ++writes;
    }
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Doc> held;  // kept past their entries' replacement, read again at the end
      const auto whole = [](const std::string& s) {
        return s.size() == 256 && s.find_first_not_of(s[0]) == std::string::npos;
      };
      // Reads start once the writer is under way (it writes, bounded, until both readers end).
      while (writes < 100) std::this_thread::yield();
      for (int i = 0; i < 100'000; ++i) {
        if (auto v = cache.get((i * 7 + t) % 128)) {
          ++hits;
          if (!*v || !whole(**v)) ++torn;
          if (held.size() < 256) held.push_back(std::move(*v));
        }
        cache.visit((i * 5 + t) % 128, [&](const Doc& d) {
          if (!d || !whole(*d)) ++torn;
        });
      }
      for (const Doc& d : held) {
        if (!whole(*d)) ++torn;
      }
      ++readers_done;
    });
  }
  for (auto& th : threads) th.join();
  CHECK(torn.load() == 0);
  CHECK(hits.load() > 0);
  CHECK(writes.load() > 0);
}

TEST_CASE("a reader whose read log fills does not wait for a reader inside the shard",
          "[memory][concurrency]") {
  // One reader is held inside visit(); another then reads the same shard far past its log's
  // capacity, so it replays its log. The replay excludes writers only: it must finish while
  // the first reader is still inside (waiting for readers to leave, as a writer does, would
  // block it until the release below).
  Options o;
  o.shards = 1;
  Backend b(o);
  for (int i = 0; i < 100; ++i) b.set("k" + std::to_string(i), "v", 1h);
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  std::atomic<bool> done{false};
  const auto wait_for = [](const std::atomic<bool>& flag, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!flag.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    return flag.load();
  };
  std::thread pinned([&] {
    b.visit("k0", [&](const std::string&) {
      inside = true;
      wait_for(release, std::chrono::seconds(60));
    });
  });
  REQUIRE(wait_for(inside, std::chrono::seconds(30)));
  std::thread reader([&] {
    for (int i = 0; i < 1000; ++i) {
      if (!b.get("k" + std::to_string(i % 100))) return;  // (a miss would be a failure too)
    }
    done = true;
  });
  const bool finished = wait_for(done, std::chrono::seconds(30));
  release = true;
  pinned.join();
  reader.join();
  CHECK(finished);
  CHECK(done.load());
}

TEST_CASE("reads replayed beside readers or dropped never lose an entry nor outlive its TTL",
          "[memory][concurrency][expiry]") {
  // More reader threads than reader slots (slots are shared, logs overflow, replays race
  // readers and are skipped when the shard is busy), a writer draining every log, and an
  // injected clock moving on: a read that starts at or after a key's expiry must miss, and one
  // that ends before it must hit (nothing is evicted or erased here).
  auto clock = std::make_shared<FakeClock>();
  Options o;
  o.clock = clock;
  o.shards = 2;
  o.max_entries = 10'000;
  Backend b(o);
  constexpr int keys = 200;
  const std::int64_t start = clock->now().time_since_epoch().count();
  std::vector<std::int64_t> expires(keys);
  for (int i = 0; i < keys; ++i) {
    b.set("k" + std::to_string(i), "v" + std::to_string(i), std::chrono::milliseconds(i + 1));
    expires[i] = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::milliseconds(i + 1))
                             .count();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> served_late{0};
  std::atomic<int> lost{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t x = 99 + static_cast<std::uint64_t>(t);
      for (int n = 0; n < 2'000'000 && !stop.load(std::memory_order_relaxed); ++n) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const int k = static_cast<int>((x >> 33) % keys);
        const std::int64_t before = clock->now().time_since_epoch().count();
        const auto got = b.get("k" + std::to_string(k));
        const std::int64_t after = clock->now().time_since_epoch().count();
        if (got && before >= expires[k]) ++served_late;
        if (!got && after < expires[k]) ++lost;
        if (got && *got != "v" + std::to_string(k)) ++wrong;
      }
    });
  }
  threads.emplace_back([&] {  // a writer on other keys: drains every log, removes expired
    // Each of its 50 keys is written at least once, however late this thread gets the CPU on a
    // loaded machine: the last check reads one of them.
    for (int n = 0; n < 200'000 && (n < 50 || !stop.load(std::memory_order_relaxed)); ++n) {
      b.set("w" + std::to_string(n % 50), "w", 1h);
    }
  });
  for (int ms = 0; ms < 220; ++ms) {
    for (int spin = 0; spin < 50; ++spin) std::this_thread::yield();  // let the readers read
    clock->advance(std::chrono::milliseconds(1));
  }
  stop = true;
  for (auto& th : threads) th.join();
  CHECK(served_late.load() == 0);
  CHECK(lost.load() == 0);
  CHECK(wrong.load() == 0);
  for (int i = 0; i < keys; ++i) CHECK_FALSE(b.get("k" + std::to_string(i)));
  CHECK(b.get("w1") == std::optional<std::string>("w"));
}

TEST_CASE("lock-free misses never hide a present key while writers insert and erase around it",
          "[memory][concurrency]") {
  // One bounded shard past half full, so its table has its final size and misses are answered
  // by the lock-free probe (MemoryShard::certainly_absent). A writer inserts and erases keys
  // between the resident ones, which Robin Hood insertion and backward-shift deletion move
  // slot by slot; readers must still find every resident key, and never find an absent one.
  using U64Backend = ttlcache::MemoryBackend<std::uint64_t, std::string>;
  ttlcache::MemoryOptions<std::uint64_t, std::string> o;
  o.shards = 1;
  o.max_entries = 256;
  U64Backend b(o);
  // Past 96 entries (3/4 of a 128-slot table), so it has grown to its final 343 slots; resident +
  // churn = max_entries, so nothing is evicted, and the table is 3/4 full at most: long clusters,
  // where an insertion moves many entries.
  constexpr std::uint64_t resident = 200;
  constexpr std::uint64_t churn = 56;
  for (std::uint64_t k = 0; k < resident; ++k) b.set(k, "r" + std::to_string(k), 1h);
  std::atomic<bool> done{false};
  std::atomic<int> hidden{0};
  std::atomic<int> phantom{0};
  std::atomic<int> wrong{0};
  std::atomic<long> absent_reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::uint64_t x = 7 + static_cast<std::uint64_t>(t);
      for (int n = 0; n < 5'000'000 && !done.load(std::memory_order_relaxed); ++n) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t k = (x >> 33) % resident;
        const auto got = b.get(k);
        if (!got) {
          ++hidden;
        } else if (*got != "r" + std::to_string(k)) {
          ++wrong;
        }
        if (!b.contains(k)) ++hidden;
        if (b.get(1'000'000 + k)) ++phantom;  // never written
        const std::uint64_t c = 10'000 + (x >> 20) % churn;
        const auto maybe = b.get(c);  // either way, but never another key's value
        if (maybe && *maybe != "c" + std::to_string(c)) ++wrong;
        absent_reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::thread writer([&] {
    for (int round = 0; round < 6'000; ++round) {
      for (std::uint64_t c = 10'000; c < 10'000 + churn; ++c) b.set(c, "c" + std::to_string(c), 1h);
      for (std::uint64_t c = 10'000; c < 10'000 + churn; ++c) b.erase(c);
    }
    done = true;
  });
  writer.join();
  for (auto& th : readers) th.join();
  INFO("reads of absent keys: " << absent_reads.load());
  CHECK(hidden.load() == 0);
  CHECK(phantom.load() == 0);
  CHECK(wrong.load() == 0);
  CHECK(b.size() == resident);
}

TEST_CASE("a table published while readers probe never hides a key set before the probe",
          "[memory][concurrency]") {
  // A bounded shard filled from empty while readers probe it: its table grows several times
  // (probes take the lock then) and, once it has its final size, is published for lock-free
  // probes (the array, then its size, inside the writers' seqlock bracket), which then run
  // beside every later insert. A key whose set() returned before a probe began must be found
  // all along; a never-set key never. (Publishing the array with a wrong size hides keys here.)
  using U64Backend = ttlcache::MemoryBackend<std::uint64_t, std::string>;
  constexpr std::uint64_t keys = 400;
  int hidden = 0;
  int phantom = 0;
  long probes = 0;
  for (int round = 0; round < 50; ++round) {
    ttlcache::MemoryOptions<std::uint64_t, std::string> o;
    o.shards = 1;
    o.max_entries = keys;
    U64Backend b(o);
    std::atomic<std::uint64_t> inserted{0};  // keys 0..inserted-1 are set
    std::atomic<int> round_hidden{0};
    std::atomic<int> round_phantom{0};
    std::atomic<long> round_probes{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&, t] {
        std::uint64_t x = 11 + static_cast<std::uint64_t>(t) + static_cast<std::uint64_t>(round);
        std::uint64_t seen = 0;  // the count the probes below were made under
        int made = 0;            // probes made under it: at most 64, then wait for the next set
        for (;;) {
          const std::uint64_t n = inserted.load(std::memory_order_acquire);
          if (n != seen) {
            seen = n;
            made = 0;
          }
          if (n == 0 || made == 64) {
            if (n == keys) break;
            std::this_thread::yield();
            continue;
          }
          ++made;
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          const std::uint64_t k = (x >> 33) % n;
          if (!b.contains(k)) round_hidden.fetch_add(1, std::memory_order_relaxed);
          if (b.contains(1'000'000 + k)) round_phantom.fetch_add(1, std::memory_order_relaxed);
          round_probes.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    // Each set waits for two more probes, so the readers' probes overlap every growth rather
    // than all running after the last set (bounded: the readers never block).
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    bool stalled = false;
    for (std::uint64_t k = 0; k < keys; ++k) {
      b.set(k, "v", 1h);
      const long before = round_probes.load(std::memory_order_relaxed);
      inserted.store(k + 1, std::memory_order_release);
      while (!stalled && round_probes.load(std::memory_order_relaxed) < before + 2) {
        if (std::chrono::steady_clock::now() > deadline) stalled = true;
        std::this_thread::yield();
      }
    }
    for (auto& th : readers) th.join();
    REQUIRE_FALSE(stalled);  // readers made no progress for a minute
    hidden += round_hidden.load();
    phantom += round_phantom.load();
    probes += round_probes.load();
  }
  INFO("probes: " << probes);
  CHECK(hidden == 0);
  CHECK(phantom == 0);
}

// ---- TinyLFU (test_eviction_policy.cpp) ----

TEST_CASE("TinyLFU under concurrent readers and writers", "[eviction][concurrency]") {
  ttlcache::MemoryOptions<Key, Key> o;
  o.max_entries = 512;
  o.shards = 4;
  std::atomic<std::size_t> removals{0};
  o.removal_listener = [&](const Key&, const Key&, ttlcache::RemovalCause) { ++removals; };
  ttlcache::MemoryBackend<Key, Key, ttlcache::TinyLfuPolicy> cache(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 20000; ++i) {
        const Key k = static_cast<Key>(rng() % 2000);
        if (auto v = cache.get(k)) {
          if (*v != k) std::abort();  // a torn or misplaced value
        } else if (i % 7 == 0) {
          cache.erase(k);
        } else {
          cache.set(k, k, 1h);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(cache.size() <= 512);
  CHECK(removals > 0);
}

// ---- tags (test_invalidation.cpp) ----

TEST_CASE("tags under concurrent writes, reads and invalidations", "[tags][concurrency]") {
  ttlcache_test::TagFixture fx;
  StringCache cache(fx.backend);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  // Each value is the generation it was loaded at; a reader must never see a value older than
  // a generation that was fully invalidated before the read began.
  std::atomic<int> generation{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 2000; ++i) {
        // The loader reads the data after get_or_load took the tag's version, as a real loader
        // reads the database.
        cache.get_or_load("k" + std::to_string((i + w) % 16),
                          [&] { return std::to_string(generation.load()); }, 1h, {"g"});
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 300; ++i) {
      generation.fetch_add(1);
      cache.invalidate_tag("g");
      std::this_thread::yield();
    }
    stop = true;
  });
  threads.emplace_back([&] {
    while (!stop) {
      const int floor = generation.load() - 1;  // invalidated before this read started
      for (int k = 0; k < 16; ++k) {
        if (auto v = cache.get("k" + std::to_string(k))) {
          if (std::stoi(*v) < floor) ++bad;
        }
      }
    }
  });
  for (auto& t : threads) t.join();
  CHECK(bad.load() == 0);
}

// ---- the tiered cache (test_tiered.cpp) ----

TEST_CASE("tiered: no stale value settles in L1 under concurrent writes and reads",
          "[tiered][concurrency]") {
  ttlcache_test::TieredWorld world;
  ttlcache_test::TieredInstance a(world);
  ttlcache_test::TieredInstance b(world);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 3000; ++i) {
        a.cache->set("k" + std::to_string(i % 8), std::to_string(w * 100000 + i), 1h, {"t"});
        if (i % 500 == 0) a.cache->invalidate_tag("t");
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        for (int k = 0; k < 8; ++k) b.cache->get("k" + std::to_string(k));
      }
    });
  }
  threads[0].join();
  threads[1].join();
  // Final, quiescent writes: afterwards B must agree with L2 on every key.
  for (int k = 0; k < 8; ++k) a.cache->set("k" + std::to_string(k), "final", 1h, {"t"});
  stop = true;
  threads[2].join();
  threads[3].join();
  for (int k = 0; k < 8; ++k) {
    CHECK(b.cache->get("k" + std::to_string(k)) == std::optional<std::string>("final"));
  }
}

// ---- ResilientBackend (test_resilient_backend.cpp) ----

TEST_CASE("many threads through a flapping backend: a read never returns a replaced value",
          "[resilient][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  auto store = std::make_shared<FlakyStore>(clock);
  auto options = resilient_options(FailurePolicy::degrade, clock, 3);
  options.breaker.open_for = 10ms;
  auto backend = std::make_shared<Resilient>(store, options);

  constexpr int threads_n = 6;
  constexpr int keys_per_thread = 8;
  std::atomic<bool> stop{false};
  std::atomic<long> stale{0}, reads{0}, hits{0};
  std::vector<std::thread> threads;
  threads.reserve(threads_n);
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> truth(keys_per_thread);  // this thread owns its keys
      unsigned n = 0;
      while (!stop.load()) {
        const int k = static_cast<int>(++n % keys_per_thread);
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string(k);
        if (n % 3 == 0) {
          truth[static_cast<std::size_t>(k)] = "v" + std::to_string(n);
          backend->set(key, truth[static_cast<std::size_t>(k)], 1h);
        } else if (n % 7 == 0) {
          truth[static_cast<std::size_t>(k)].clear();
          backend->erase(key);
        } else {
          const auto value = backend->get(key);
          reads.fetch_add(1);
          if (value) {
            hits.fetch_add(1);
            if (*value != truth[static_cast<std::size_t>(k)]) stale.fetch_add(1);
          }
        }
      }
    });
  }
  for (int flap = 0; flap < 40; ++flap) {
    store->down = (flap % 2 == 0);
    for (int i = 0; i < 10; ++i) {
      clock->advance(5ms);
      std::this_thread::sleep_for(1ms);
    }
  }
  store->down = false;
  clock->advance(1s);
  std::this_thread::sleep_for(20ms);
  stop = true;
  for (auto& th : threads) th.join();
  clock->advance(1s);
  CHECK(backend->get("after") == std::nullopt);  // the probe (and last repair) if still needed

  const auto s = backend->stats();
  INFO("reads " << reads.load() << ", hits " << hits.load() << ", repairs " << s.repairs);
  CHECK(stale.load() == 0);
  CHECK(s.failures > 0);
  CHECK(s.repairs > 0);
  CHECK(s.pending_keys == 0);
  CHECK(s.breaker == BreakerState::closed);
}

// ---- the circuit breaker (test_circuit_breaker.cpp) ----

TEST_CASE("many threads through the breaker: one probe at a time, consistent transitions",
          "[breaker][concurrency]") {
  auto clock = std::make_shared<FakeClock>();
  Recorder events;
  CircuitBreaker breaker(breaker_options(5, 100ms), clock, events.listener());
  std::atomic<bool> failing{false};
  std::atomic<bool> stop{false};
  std::atomic<int> probes_out{0};
  std::atomic<int> max_probes_out{0};
  std::atomic<long> calls{0}, rejected{0};

  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto permit = breaker.acquire();
        if (!permit) {
          rejected.fetch_add(1);
          std::this_thread::yield();
          continue;
        }
        calls.fetch_add(1);
        if (permit.probe()) {
          const int out = probes_out.fetch_add(1) + 1;
          int seen = max_probes_out.load();
          while (out > seen && !max_probes_out.compare_exchange_weak(seen, out)) {
          }
          std::this_thread::yield();  // hold the probe a moment, so overlaps would show
          probes_out.fetch_sub(1);
        }
        failing.load() ? permit.failed() : permit.succeeded();
      }
    });
  }
  // Phases: healthy, failing (opens), cool-downs with failed probes, healthy again (closes).
  const auto wait_for = [&](auto condition) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!condition() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return condition();
  };
  std::this_thread::sleep_for(20ms);
  for (int round = 0; round < 3; ++round) {
    failing = true;
    CHECK(wait_for([&] { return breaker.state() == BreakerState::open; }));
    for (int i = 0; i < 5; ++i) {
      clock->advance(100ms);  // a probe goes out and fails
      std::this_thread::sleep_for(2ms);
    }
    failing = false;
    clock->advance(100ms);
    CHECK(wait_for([&] {
      clock->advance(100ms);
      return breaker.state() == BreakerState::closed;
    }));
  }
  stop = true;
  for (auto& t : threads) t.join();

  CHECK(max_probes_out.load() == 1);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.counters().opened >= 3);
  CHECK(rejected.load() > 0);
  // Every transition is reported once. (Their order across threads is not checked: a thread
  // may be preempted between making a transition and reporting it.)
  std::lock_guard<std::mutex> lock(events.mutex);
  const auto count = [&](const char* change) {
    return static_cast<std::uint64_t>(
        std::count(events.changes.begin(), events.changes.end(), std::string(change)));
  };
  const auto c = breaker.counters();
  CHECK(count("closed->open") + count("half_open->open") == c.opened);
  CHECK(count("open->half_open") == c.probes);
  CHECK(count("half_open->closed") >= 3);
  CHECK(count("closed->open") == count("half_open->closed"));  // every opening was recovered
  INFO("calls " << calls.load());
}
