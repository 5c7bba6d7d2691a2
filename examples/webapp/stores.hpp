// The web-app scenario's cache backends: in-process, Redis, or both tiers, each tag-aware and
// keeping entry times (for refresh-ahead) on the scenario's virtual clock.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <ttlcache/ttlcache.hpp>
#ifdef TTLCACHE_WEBAPP_REDIS
#include <ttlcache/redis.hpp>
#endif

#include "scenario.hpp"

/// Pages travel to Redis as bytes: version, build time, then the body as is (JSON would
/// escape and parse kilobytes per read for nothing).
template <>
struct ttlcache::ValueCodec<webapp::Page> {
  static std::string encode(const webapp::Page& p) {
    std::string out;
    out.reserve(16 + p.body.size());
    put(out, p.version);
    put(out, static_cast<std::uint64_t>(p.built_at));
    return out + p.body;
  }
  static std::optional<webapp::Page> decode(std::string_view bytes) noexcept {
    if (bytes.size() < 16) return std::nullopt;
    try {
      webapp::Page p;
      p.version = get(bytes, 0);
      p.built_at = static_cast<std::int64_t>(get(bytes, 8));
      p.body.assign(bytes.substr(16));
      return p;
    } catch (...) {  // out of memory: a miss
      return std::nullopt;
    }
  }

 private:
  static void put(std::string& out, std::uint64_t v) {  // little-endian on every host
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static std::uint64_t get(std::string_view in, std::size_t at) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
    }
    return v;
  }
};

namespace webapp {

/// A backend for Cache<std::string, Page>, what it costs in memory, and how to clean up.
struct Store {
  std::string name;
  std::shared_ptr<ttlcache::Backend<std::string, Page>> backend;
  std::function<double()> memory_mb;  ///< the cache's memory now (Redis: used_memory)
  std::string memory_source;
  std::function<void()> cleanup;  ///< removes what the run left in a shared server
};

/// The layering, whatever the storage: FailSafeBackend (entry times, so that refresh-ahead can
/// tell how far into its TTL an entry is, and expired copies for stale-while-revalidate, kept
/// for `keep_stale`) over a tag-aware backend (tags, entity versions).
/// Times come from `clock`: on Redis too, an entry's freshness follows the virtual day (the
/// envelope carries it); Redis's own expiry (TTL, in real time) only reclaims the key later.
inline std::shared_ptr<ttlcache::FailSafeBackend<std::string, Page>> with_entry_times(
    std::shared_ptr<ttlcache::Backend<std::string, ttlcache::Timed<Page>>> tagged,
    const std::shared_ptr<ttlcache::FakeClock>& clock, std::chrono::milliseconds keep_stale) {
  ttlcache::FailSafeOptions fs;
  fs.max_stale = keep_stale;
  fs.clock = clock;
  return std::make_shared<ttlcache::FailSafeBackend<std::string, Page>>(std::move(tagged), fs);
}

template <class T>
std::size_t page_weight(const std::string& key, const T& entry) {
  return key.size() + entry.value.value.body.size();
}

inline Store memory_store(const std::shared_ptr<ttlcache::FakeClock>& clock,
                          std::chrono::milliseconds keep_stale) {
  ttlcache::MemoryOptions<std::string, ttlcache::Tagged<ttlcache::Timed<Page>>> memory;
  memory.max_entries = 100'000;
  memory.clock = clock;
  memory.weigher = page_weight<ttlcache::Tagged<ttlcache::Timed<Page>>>;
  auto backend = with_entry_times(
      ttlcache::make_tagged_memory_backend<std::string, ttlcache::Timed<Page>>(memory), clock,
      keep_stale);
  Store s;
  s.name = "in-process";
  s.backend = backend;
  // Key and value bytes plus the backend's per-entry overhead (~100 bytes, see
  // docs/performance.md).
  s.memory_mb = [backend] {
    ttlcache::BackendStats b;
    backend->collect_stats(b);
    return (static_cast<double>(b.weight.value_or(0)) +
            100.0 * static_cast<double>(b.entries.value_or(0))) /
           1e6;
  };
  s.memory_source = "keys + values + ~100 B per entry";
  s.cleanup = [] {};
  return s;
}

#ifdef TTLCACHE_WEBAPP_REDIS
/// kind: "redis" (every read goes to Redis) or "tiered" (an in-process L1 in front of Redis,
/// kept coherent over pub/sub). Keys live under a namespace of their own, removed at the end.
inline Store redis_store(const std::string& kind, const std::string& url,
                         const std::shared_ptr<ttlcache::FakeClock>& clock,
                         std::chrono::milliseconds keep_stale) {
  namespace redis = ttlcache::redis;
  auto options = redis::RedisOptions::from_url(url);
  // One namespace per kind of run: a rerun reuses it (clear() below) rather than leaving
  // another set of tag versions behind (they live outside the namespace, until they expire).
  options.key_namespace = "webapp-" + kind;
  options.client_name = "webapp";
  auto store = std::make_shared<redis::RedisStore>(options);
  store->clear();
  ttlcache::TaggedOptions tagged;
  tagged.clock = clock;

  Store s;
  s.name = kind == "tiered" ? "tiered (in-process L1 + Redis)" : "Redis";
  if (kind == "tiered") {
    redis::PubSubOptions bus_options;
    bus_options.redis = options;
    bus_options.channel = options.key_namespace + ":invalidation";
    auto bus = std::make_shared<redis::PubSubBus>(bus_options);
    bus->wait_until_subscribed(std::chrono::seconds(5));
    ttlcache::MemoryOptions<std::string, ttlcache::Tagged<ttlcache::Timed<Page>>> l1;
    l1.max_entries = 20'000;
    l1.clock = clock;
    l1.weigher = page_weight<ttlcache::Tagged<ttlcache::Timed<Page>>>;
    ttlcache::TieredOptions tiers;
    // L1 entries and tag versions are re-checked against Redis after this long (virtual
    // time): the staleness bound should an invalidation message be lost.
    tiers.l1_max_ttl = std::chrono::seconds(30);
    auto t = redis::make_tiered_backend<std::string, ttlcache::Timed<Page>>(store, bus, tiers, l1,
                                                                            tagged);
    auto backend = with_entry_times(t.backend, clock, keep_stale);  // holds tiers and bus
    s.backend = backend;
    s.cleanup = [store] { store->clear(); };
    // Redis's used_memory plus the L1, counted as for the in-process backend.
    s.memory_mb = [store, backend] {
      ttlcache::BackendStats tier1;
      backend->collect_stats(tier1);
      return (static_cast<double>(store->used_memory()) +
              static_cast<double>(tier1.weight.value_or(0)) +
              100.0 * static_cast<double>(tier1.entries.value_or(0))) /
             1e6;
    };
    s.memory_source = "Redis used_memory (whole server) + in-process L1";
    return s;
  }
  s.backend = with_entry_times(
      redis::make_tagged_backend<std::string, ttlcache::Timed<Page>>(store, tagged), clock,
      keep_stale);
  s.cleanup = [store] { store->clear(); };
  s.memory_mb = [store] { return static_cast<double>(store->used_memory()) / 1e6; };
  s.memory_source = "Redis used_memory (whole server)";
  return s;
}
#endif

}  // namespace webapp
